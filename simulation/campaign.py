"""What a campaign records: one phantom in sample coordinates scanned at stage positions.

A phantom is a list of ellipsoids and vertical cylinders with lengths in millimetres and an
attenuation coefficient each (YAML, see :func:`phantom_from_dict`); it is scanned in
absorption contrast (monochromatic Beer–Lambert, ``I = I0 exp(−Σ_k μ_k ℓ_k)`` with exact
chord lengths ``ℓ_k`` from :mod:`.ellipsoids`), so the same object can be recorded as an
overview (large voxels, quarter acquisition, a z-series of stages) and as a zoom (small
voxels, half acquisition) at its own position.

Sample frame (metres inside, millimetres in the YAML): ``x, y`` horizontal, ``z`` the
height, up. A scan at stage position ``(z_t, y_t, x_t)`` has its rotation axis through the
sample point ``(x_t, y_t)`` and its detector's middle row at height ``z_t`` (nabu's
convention: a larger ``z_translation`` images a higher part of the sample); detector row 0
is the top. Each μ adds to the features it lies in (the Shepp–Logan nesting rule).

Geometries (``n_cols`` detector columns, ``overlap`` columns):

* ``full``: 180°, axis at the detector centre;
* ``half``: 360°, axis ``overlap`` columns from the right edge;
* ``quarter``: two 360° rotations as the beamline records them, the half acquisition above
  and a second rotation whose axis lies beyond the right edge, at ``2 (n_cols − 1) −
  2 overlap``, so the two fields meet with ``overlap`` columns in common.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hipct.errors import PlanError

from .ellipsoids import ChordProjector, Ellipsoid

__all__ = ["PhantomFeature", "CampaignPhantom", "phantom_from_dict", "load_phantom",
           "acquisition_columns", "simulate_scan", "simulate_campaign"]

_SHAPES = ("ellipsoid", "cylinder")


@dataclass(frozen=True)
class PhantomFeature:
    """An axis-aligned ellipsoid or a vertical (infinite) cylinder in the sample frame."""

    shape: str
    centre_m: tuple          # (z, y, x)
    semi_axes_m: tuple       # (z, y, x); a cylinder has z = inf
    mu_per_m: float


@dataclass(frozen=True)
class CampaignPhantom:
    """A phantom of :class:`PhantomFeature` (see the module docstring for the frame)."""

    features: tuple

    def line_integrals(self, theta, u_m, height_m, axis_xy_m=(0.0, 0.0)) -> np.ndarray:
        """``∫ μ dl`` on the detector grid, ``(theta.size, height_m.size, u_m.size)``.

        ``u_m`` is the detector coordinate from the rotation axis, ``height_m`` the sample
        height of each row (any order), the axis through the sample point ``axis_xy_m``.
        """
        x_t, y_t = axis_xy_m
        ells = [Ellipsoid(centre=(f.centre_m[2] - x_t, f.centre_m[1] - y_t, f.centre_m[0]),
                          semi_axes=(f.semi_axes_m[2], f.semi_axes_m[1], f.semi_axes_m[0]),
                          rot=np.eye(3), material="", parent="") for f in self.features]
        mu = np.array([f.mu_per_m for f in self.features])
        proj = ChordProjector(ells)
        h = np.asarray(height_m, dtype=np.float64)
        order = np.argsort(h)
        h_sorted = h[order]
        # the projector needs a uniform ascending grid
        if h.size > 1 and not np.allclose(np.diff(h_sorted), h_sorted[1] - h_sorted[0]):
            raise ValueError("height_m must be a uniform grid")
        out = np.zeros((np.size(theta), h.size, np.size(u_m)))
        for i, th in enumerate(np.atleast_1d(theta)):
            chords = proj(float(th), u_m, h_sorted)
            out[i][order] = np.tensordot(mu, chords, axes=1)
        return out


def phantom_from_dict(spec) -> CampaignPhantom:
    """A phantom from its YAML form (lengths in mm, μ in 1/cm)::

        features:
          - {shape: cylinder, centre_mm: [0, 0, 0], radius_mm: 4, mu_per_cm: 0.5}
          - {shape: ellipsoid, centre_mm: [1.0, 0.5, -1.2],      # z, y, x
             semi_axes_mm: [1.5, 0.8, 1.0], mu_per_cm: 0.3}

    A cylinder is vertical and infinitely tall (``centre_mm`` gives its axis; z is unused).
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("features"), list) \
            or not spec["features"]:
        raise PlanError("phantom: needs 'features:' with a list of ellipsoids/cylinders")
    unknown = set(spec) - {"features"}
    if unknown:
        raise PlanError(f"phantom: unknown key(s) {sorted(unknown)}; allowed: ['features']")
    feats = []
    for i, f in enumerate(spec["features"]):
        where = f"phantom.features[{i}]"
        if not isinstance(f, dict) or f.get("shape") not in _SHAPES:
            raise PlanError(f"{where}.shape: must be one of {', '.join(_SHAPES)}")
        allowed = {"shape", "centre_mm", "mu_per_cm",
                   "semi_axes_mm" if f["shape"] == "ellipsoid" else "radius_mm"}
        unknown = set(f) - allowed
        if unknown or not allowed <= set(f):
            raise PlanError(f"{where}: a {f['shape']} takes exactly {sorted(allowed)}, "
                            f"got {sorted(f)}")
        try:
            centre = tuple(float(v) * 1e-3 for v in f["centre_mm"])
            mu = float(f["mu_per_cm"]) * 100.0
            if f["shape"] == "ellipsoid":
                axes = tuple(float(v) * 1e-3 for v in f["semi_axes_mm"])
            else:
                r = float(f["radius_mm"]) * 1e-3
                axes = (np.inf, r, r)
        except (TypeError, ValueError):
            raise PlanError(f"{where}: centre_mm/semi_axes_mm need three numbers (z, y, x), "
                            "radius_mm and mu_per_cm one number") from None
        if len(centre) != 3 or len(axes) != 3 or not all(a > 0 for a in axes) \
                or not np.isfinite(mu):
            raise PlanError(f"{where}: centre_mm and semi_axes_mm need three values (z, y, x), "
                            "lengths > 0, mu_per_cm finite")
        feats.append(PhantomFeature(f["shape"], centre, axes, mu))
    return CampaignPhantom(tuple(feats))


def load_phantom(path) -> CampaignPhantom:
    """Read a phantom YAML (see :func:`phantom_from_dict`)."""
    from hipct.fields import read_yaml
    return phantom_from_dict(read_yaml(Path(path), "phantom"))


def acquisition_columns(geometry: str, n_cols: int, overlap: int,
                        axis_offset_px: float = 0.0) -> list:
    """Axis columns (0-based, absolute) of each rotation of ``geometry``, and its angles.

    Returns a list of ``(cor, full_turn)``: one entry for ``full`` and ``half``, two for
    ``quarter`` (see the module docstring); ``axis_offset_px`` moves every axis by a
    (sub-)pixel amount, as a real alignment leaves it.
    """
    out = _columns(geometry, n_cols, overlap)
    return [(c + float(axis_offset_px), full) for c, full in out]


def _columns(geometry, n_cols, overlap):
    if geometry == "full":
        return [((n_cols - 1) / 2.0, False)]
    if not 1 <= overlap < n_cols // 2:
        raise PlanError(f"overlap: must be between 1 and {n_cols // 2 - 1} columns, got {overlap}")
    inner = n_cols - 1 - overlap
    if geometry == "half":
        return [(float(inner), True)]
    if geometry == "quarter":
        return [(float(inner), True), (float(2 * (n_cols - 1) - 2 * overlap), True)]
    raise PlanError(f"geometry: must be full, half or quarter, got {geometry!r}")


def simulate_scan(phantom: CampaignPhantom, path, *, pixel_size_m: float, n_rows: int,
                  n_cols: int, theta, cor: float, position_m=(0.0, 0.0, 0.0),
                  flat_counts: float = 1e4, dark_counts: float = 100.0, noise: bool = False,
                  seed: int = 0, oversample: int = 2, n_flats: int = 4, n_darks: int = 2):
    """Simulate one rotation and write it as NXtomo (with flats, darks and stage position).

    Each pixel averages the transmission of ``oversample²`` sub-pixels (Beer–Lambert per
    sub-pixel, then the mean: the detector integrates intensity). ``noise`` adds Poisson
    noise to the counts (uint16 then; float32 otherwise).
    """
    from hipct.reconstruction.io.nxtomo import write_nxtomo

    s = int(oversample)
    z_t, y_t, x_t = (float(v) for v in position_m)
    sub = (np.arange(s) + 0.5) / s - 0.5
    cols = (np.arange(n_cols)[:, None] + sub[None, :]).ravel()
    rows = (np.arange(n_rows)[:, None] + sub[None, :]).ravel()
    u_m = (cols - cor) * pixel_size_m
    h_m = z_t - (rows - (n_rows - 1) / 2.0) * pixel_size_m
    theta = np.asarray(theta, dtype=np.float64)
    line = phantom.line_integrals(theta, u_m, h_m, (x_t, y_t))
    trans = np.exp(-line).reshape(theta.size, n_rows, s, n_cols, s).mean(axis=(2, 4))
    counts = dark_counts + flat_counts * trans
    flats = np.full((n_flats, n_rows, n_cols), dark_counts + flat_counts)
    darks = np.full((n_darks, n_rows, n_cols), dark_counts)
    if noise:
        rng = np.random.default_rng(seed)
        counts, flats, darks = (np.clip(rng.poisson(a), 0, 65535).astype(np.uint16)
                                for a in (counts, flats, darks))
    else:
        counts, flats, darks = (a.astype(np.float32) for a in (counts, flats, darks))
    write_nxtomo(path, counts, theta, flats=flats, darks=darks, pixel_size_m=pixel_size_m,
                 position_m=(z_t, y_t, x_t))


def simulate_campaign(phantom: CampaignPhantom, out_dir, *, pixel_size_m: float,
                      n_rows: int, n_cols: int, n_proj: int, geometry: str = "full",
                      z_positions_m=(0.0,), axis_xy_m=(0.0, 0.0), overlap: int = 8,
                      axis_offset_px: float = 0.0, prefix: str = "stage", **kw) -> list:
    """Simulate every stage (and every rotation of a quarter acquisition) of a scan.

    Parameters
    ----------
    phantom : CampaignPhantom
    out_dir : path-like
        Folder for the NXtomo files ``{prefix}_{k:02d}.nx`` (quarter: ``…_a.nx``, ``…_b.nx``).
    pixel_size_m, n_rows, n_cols, n_proj :
        Detector pixel at the sample, rows, columns, projections per rotation.
    geometry : {'full', 'half', 'quarter'}
    z_positions_m : sequence of float
        Stage heights (``sample/z_translation``); the step between them sets the overlap.
    axis_xy_m : (float, float)
        Sample point ``(x, y)`` on the rotation axis (``sample/x_translation``, ``y_…``).
    overlap : int
        Columns shared by the fields of a half/quarter acquisition.
    axis_offset_px : float
        Sub-pixel shift of every axis column (see :func:`acquisition_columns`).
    **kw
        Passed to :func:`simulate_scan` (counts, noise, oversampling).

    Returns
    -------
    list of dict
        One record per written file: ``path``, ``stage``, ``z_m``, ``cor`` (axis column).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rotations = acquisition_columns(geometry, n_cols, overlap, axis_offset_px)
    records = []
    x_t, y_t = axis_xy_m
    seed = kw.pop("seed", 0)
    for k, z in enumerate(z_positions_m):
        for j, (cor, full_turn) in enumerate(rotations):
            span = 2 * np.pi if full_turn else np.pi
            theta = np.arange(n_proj) * span / n_proj
            tag = "" if len(rotations) == 1 else "_" + "ab"[j]
            path = out_dir / f"{prefix}_{k:02d}{tag}.nx"
            simulate_scan(phantom, path, pixel_size_m=pixel_size_m, n_rows=n_rows,
                          n_cols=n_cols, theta=theta, cor=cor, position_m=(z, y_t, x_t),
                          seed=seed + len(records), **kw)     # independent noise per file
            records.append({"path": str(path), "stage": k, "z_m": float(z), "cor": cor})
    return records
