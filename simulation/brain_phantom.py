"""A digital brain phantom in a jar, built from a plan's sample layers.

Outer structure, in physical units from the plan (``sample.layers``): concentric cylinders
about the rotation axis (jar wall, medium, organ) whose chords along the central ray equal the
plan's container, medium and tissue path lengths, so the simulated transmission on the axis is
the planner's. When the organ is wider than the simulated field of view the scan is local
tomography, as a zoom inside an intact organ is.

Detail region, drawn at the scan's voxel size so the same phantom serves any zoom level (the
features are 3-12 voxels across): a white-matter column inside grey matter, myelinated axon
bundles (thin prolate ellipsoids, mostly oblique) inside the white matter, vessels (filled
with the medium, as in a fixed and dehydrated organ) and cell bodies inside the grey matter.
Every feature lies inside the region it is nested in (rejection sampling), so the additive
line-integral rule of :mod:`.ellipsoids` is exact.

Material assumptions (not published; documented defaults): white matter is the tissue at
−1.5 % density; bundles are 70 % tissue + 30 % ICRP adipose by mass at 0.99 g/cm³ (lipid-rich
myelin, so their δ/β differs from the tissue's); cell bodies are the tissue at +3 % density.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hipct.physics.materials import Material, resolve_material

from .ellipsoids import Ellipsoid, inside, rotation

__all__ = ["Phantom", "brain_phantom", "LABELS"]

#: label value of each region in ground-truth label maps
LABELS = {"air": 0, "container": 1, "medium": 2, "grey": 3, "white": 4, "bundle": 5,
          "vessel": 6, "cell": 7}


@dataclass
class Phantom:
    """Features (outermost first) and the material of every region key."""

    features: list
    materials: dict
    tissue_radius_m: float
    detail_radius_m: float
    notes: list = field(default_factory=list)

    def slice_map(self, values: dict, z_m: float, n: int, pixel_m: float,
                  supersample: int = 2, roi=None) -> np.ndarray:
        """Pixel-averaged map of a per-material property on the ``n × n`` slice at height ``z``.

        The grid is that of :func:`hipct.reconstruction.fbp.slice_grid` (centred on the axis,
        x along columns, y along rows); ``roi = (x0, x1, y0, y1)`` restricts it. ``values``
        maps region keys to the property.
        """
        s = supersample
        offs = (np.arange(s) + 0.5) / s - 0.5
        xs, ys = _axes(n, roi)
        cx = ((xs[:, None] + offs[None, :])).ravel() * pixel_m
        cy = ((ys[:, None] + offs[None, :])).ravel() * pixel_m
        yy, xx = np.meshgrid(cy, cx, indexing="ij")
        pts = np.stack([xx, yy, np.full_like(xx, z_m)], axis=-1)
        out = np.full(xx.shape, float(values.get("air", 0.0)))
        for f in self.features:
            m = inside(f, pts)
            out[m] += values[f.material] - values[f.parent]
        return out.reshape(ys.size, s, xs.size, s).mean(axis=(1, 3))

    def label_map(self, z_m: float, n: int, pixel_m: float, roi=None) -> np.ndarray:
        """Region label (see :data:`LABELS`) at each pixel centre of the slice at height ``z``."""
        xs, ys = _axes(n, roi)
        yy, xx = np.meshgrid(ys * pixel_m, xs * pixel_m, indexing="ij")
        pts = np.stack([xx, yy, np.full_like(xx, z_m)], axis=-1)
        out = np.zeros(xx.shape, np.uint8)
        for f in self.features:      # outermost first, so inner features overwrite
            out[inside(f, pts)] = LABELS[f.material]
        return out


def _axes(n: int, roi):
    c = (n - 1) / 2.0
    coords = np.arange(n) - c
    if roi is None:
        return coords, coords
    x0, x1, y0, y1 = roi
    return coords[x0:x1], coords[y0:y1]


def _mix(parts, density):
    acc = {}
    for w, m in parts:
        for z, x in zip(m.z, m.mass_fractions):
            acc[z] = acc.get(z, 0.0) + w * x
    zs = tuple(sorted(acc))
    return Material("myelinated bundle", zs, tuple(acc[z] for z in zs), density)


def _segment_points(centre, direction, half_length, k=9):
    t = np.linspace(-half_length, half_length, k)
    return np.asarray(centre)[None, :] + t[:, None] * direction[None, :]


def _segment_distance(p1, d1, h1, p2, d2, h2, k=15):
    a = _segment_points(p1, d1, h1, k)
    b = _segment_points(p2, d2, h2, k)
    return float(np.min(np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)))


def brain_phantom(sample, voxel_m: float, fov_radius_m: float, height_m: float,
                  seed: int = 0, extruded: bool = False) -> Phantom:
    """Build the phantom for a plan's sample.

    Parameters
    ----------
    sample : hipct.planner.plan.SamplePlan
        Layers (container, medium, tissue) along the central ray.
    voxel_m : float
        Scan voxel size; sets the size of the detail features.
    fov_radius_m : float
        Radius of the simulated field of view (the detail region covers it).
    height_m : float
        Height of the simulated rows.
    seed : int
        Seed of the feature placement.
    extruded : bool
        Every feature a vertical column of elliptic cross-section (the slice's pattern
        repeated along z): exact for simulations of a few rows whose phase retrieval needs
        the object to continue beyond them (Paganin lengths of hundreds of pixels).

    Returns
    -------
    Phantom
    """
    rng = np.random.default_rng(seed)
    layers = sample.layers
    tissue_idx = set(sample.tissue)
    if not tissue_idx:
        raise ValueError("sample.layers: no tissue layer to simulate")
    tissue_mat = layers[min(tissue_idx)].material
    medium_mat = sample.medium or resolve_material("water")
    t_tissue = sum(layers[i].thickness_m for i in tissue_idx)
    t_medium = sum(l.thickness_m for i, l in enumerate(layers)
                   if i not in tissue_idx and l.material == medium_mat)
    container = [l for i, l in enumerate(layers)
                 if i not in tissue_idx and l.material != medium_mat]
    t_cont = sum(l.thickness_m for l in container)
    notes = []
    if len({l.material for l in container}) > 1:
        notes.append("several container materials: the jar wall uses the first")
    cont_mat = container[0].material if container else medium_mat
    mats = {
        "air": resolve_material("air"),
        "container": cont_mat,
        "medium": medium_mat,
        "grey": tissue_mat,
        "white": tissue_mat.with_density(tissue_mat.density_g_cm3 * 0.985),
        "bundle": _mix([(0.7, tissue_mat), (0.3, resolve_material("Adipose Tissue (ICRP)"))],
                       0.99),
        "vessel": medium_mat,
        "cell": tissue_mat.with_density(tissue_mat.density_g_cm3 * 1.03),
    }
    eye = np.eye(3)
    inf = np.inf
    r_jar = (t_tissue + t_medium + t_cont) / 2.0
    r_org = t_tissue / 2.0
    feats = []
    if t_cont > 0:
        feats.append(Ellipsoid((0.0, 0.0, 0.0), (r_jar, r_jar, inf), eye, "container", "air"))
        feats.append(Ellipsoid((0.0, 0.0, 0.0), (r_jar - t_cont / 2, r_jar - t_cont / 2, inf),
                               eye, "medium", "container"))
    elif t_medium > 0:
        feats.append(Ellipsoid((0.0, 0.0, 0.0), (r_jar, r_jar, inf), eye, "medium", "air"))
    outer = "medium" if (t_cont > 0 or t_medium > 0) else "air"
    feats.append(Ellipsoid((0.0, 0.0, 0.0), (r_org, r_org, inf), eye, "grey", outer))

    r_d = min(0.95 * r_org, 1.15 * fov_radius_m)
    # white matter: an elliptic column whose boundary crosses the field of view
    wm_c = np.array([0.35 * r_d, 0.1 * r_d, 0.0])
    wm = Ellipsoid(tuple(wm_c), (0.5 * r_d, 0.6 * r_d, inf), rotation(0.0, np.radians(20)),
                   "white", "grey")
    feats.append(wm)
    tissue_col = Ellipsoid((0.0, 0.0, 0.0), (r_d, r_d, inf), eye, "grey", outer)
    z_half = 0.5 * height_m + 4 * voxel_m
    placed = []   # (centre, direction, half_length, radius)

    def free(c, dvec, h, r):
        return all(_segment_distance(c, dvec, h, c2, d2, h2) > r + r2 + voxel_m
                   for c2, d2, h2, r2 in placed)

    def place(n_target, key, parent_ok, r_range, h_range, orient, tries=60):
        count = 0
        for _ in range(n_target * tries):
            if count >= n_target:
                break
            r = rng.uniform(*r_range) * voxel_m
            h = rng.uniform(*h_range) * r_d if h_range else 0.0
            pol, az = orient()
            if extruded:
                # the long axis lies in the slice, along the azimuth; z is unbounded
                pol = np.pi / 2
            rot = rotation(pol, az)
            dvec = rot[:, 2]
            c = np.array([*(rng.uniform(-1, 1, 2) * r_d),
                          0.0 if extruded else rng.uniform(-z_half, z_half)])
            pts = _segment_points(c, dvec, h)
            # the tube's surface: offsets of +-r across the axis
            side = np.concatenate([pts + r * rot[:, 0], pts - r * rot[:, 0],
                                   pts + r * rot[:, 1], pts - r * rot[:, 1]])
            if not parent_ok(side, r) or not free(c, dvec, h, r):
                continue
            semi = (r, r, h + r) if h_range else (r, r, r)
            if extruded:
                semi, rot = (h + r, r, inf), rotation(0.0, az)
            feats.append(Ellipsoid(tuple(c), semi, rot, key, "white" if key == "bundle"
                                   else "grey"))
            placed.append((c, dvec, h + r, r))
            count += 1
        return count

    def in_wm(p, r):
        shrink = _shrunk(wm, r + voxel_m)
        return bool(np.all(inside(shrink, p)))

    def in_gm(p, r):
        grown = _grown(wm, r + voxel_m)
        return bool(np.all(inside(_shrunk(tissue_col, voxel_m), p))
                    and not np.any(inside(grown, p)))

    fov_area = np.pi * r_d ** 2
    wm_area = np.pi * wm.semi_axes[0] * wm.semi_axes[1]
    n_bundles = int(np.clip(0.25 * wm_area / (np.pi * (3 * voxel_m) ** 2) / 8, 4, 40))
    prefer = rng.uniform(0, np.pi)
    got_b = place(n_bundles, "bundle", in_wm, (1.5, 4.0), (0.15, 0.45),
                  lambda: (rng.uniform(np.radians(40), np.radians(90)),
                           prefer + rng.normal(0, np.radians(20))))
    n_vessels = int(np.clip(fov_area / (np.pi * (6 * voxel_m) ** 2) / 60, 3, 16))
    got_v = place(n_vessels, "vessel", in_gm, (2.0, 6.0), (0.2, 0.7),
                  lambda: (np.arccos(rng.uniform(-1, 1)), rng.uniform(0, 2 * np.pi)))
    n_cells = int(np.clip(fov_area / (np.pi * (12 * voxel_m) ** 2), 10, 80))
    got_c = place(n_cells, "cell", in_gm, (1.5, 3.0), None, lambda: (0.0, 0.0))
    if got_b < n_bundles or got_v < n_vessels or got_c < n_cells:
        notes.append(f"placed {got_b}/{n_bundles} bundles, {got_v}/{n_vessels} vessels, "
                     f"{got_c}/{n_cells} cells (no room for more)")
    return Phantom(feats, mats, r_org, r_d, notes)


def _shrunk(f: Ellipsoid, by: float) -> Ellipsoid:
    return Ellipsoid(f.centre, tuple(max(s - by, 1e-12) if np.isfinite(s) else s
                                     for s in f.semi_axes), f.rot, f.material, f.parent)


def _grown(f: Ellipsoid, by: float) -> Ellipsoid:
    return Ellipsoid(f.centre, tuple(s + by for s in f.semi_axes), f.rot, f.material, f.parent)
