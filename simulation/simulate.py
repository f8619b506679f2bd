"""Simulate a scan from a plan: raw projections, flats and darks as the beamline records them.

Data flow (one projection at a time, so memory stays at a few frames whatever the scan size)::

    plan ─► evaluate (spectrum, detector counts, blur) ─► energy bins
    phantom (brain_phantom) ─► chords at angle θ on a padded, oversampled grid
      ─► Propagator (spectral exit waves, Fresnel, blur) ─► pixel integration
      ─► DetectorModel (Poisson, light gain, read noise, offset, clipping) ─► NXtomo

Geometry: ``full`` acquisition is a 180° scan with the axis at the detector centre; ``half``
(and ``quarter``, simulated as its first half-acquisition rotation) is a 360° scan with the
axis ``overlap`` pixels from the right edge. The simulated detector is a window of
``width × rows`` binned pixels at the plan's voxel size; the projection count defaults to the
planner's rule for that window. The dose of the simulated scan is the plan's dose scaled by
the projection count and the exposure.
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from hipct.errors import HipctWarning, PlanError
from hipct.planner import geometry as geo
from hipct.planner.evaluate import evaluate
from hipct.planner.plan import Plan

from .brain_phantom import LABELS, brain_phantom
from .detector import DetectorModel
from .ellipsoids import ChordProjector
from .optics import FWHM_TO_SIGMA, Propagator, energy_bins, material_optics

__all__ = ["SimConfig", "Simulation", "simulate_to_nxtomo"]


@dataclass
class SimConfig:
    """Size and knobs of a simulation (defaults: seconds on a laptop)."""

    width: int = 128              # detector columns (binned pixels at the plan's voxel)
    rows: int = 8                 # detector rows
    projections: int | None = None
    oversample: int = 2           # sub-samples per pixel for chords and propagation
    energy_bins: int = 8
    exposure_scale: float = 1.0   # scales the sub-frame time: counts and dose
    extra_blur_um: float = 0.0    # added Gaussian detector blur (FWHM, sample plane)
    noise: bool = True
    seed: int = 0
    phantom_seed: int = 0
    n_flats: int = 20
    n_darks: int = 10
    overlap: int | None = None    # half acquisition: axis distance from the edge (pixels)
    geometry: str | None = None   # 'full' or 'half'; default: the plan's
    detail_radius_px: float | None = None  # phantom detail region; default: the field of view
    extruded: bool = False        # features as vertical columns (see brain_phantom)

    def check(self) -> None:
        """Raise :class:`PlanError` naming the first out-of-range field."""
        for name, lo in (("width", 16), ("rows", 1), ("oversample", 1), ("energy_bins", 1),
                         ("n_flats", 1), ("n_darks", 0)):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < lo:
                raise PlanError(f"simulate.{name}: must be an integer >= {lo}, got {v!r}")
        if self.projections is not None and self.projections < 8:
            raise PlanError(f"simulate.projections: must be >= 8, got {self.projections}")
        if not self.exposure_scale > 0:
            raise PlanError(f"simulate.exposure_scale: must be > 0, got {self.exposure_scale}")
        if not self.extra_blur_um >= 0:
            raise PlanError(f"simulate.extra_blur: must be >= 0 um, got {self.extra_blur_um}")


class Simulation:
    """Everything needed to generate the frames of one simulated scan.

    Parameters
    ----------
    plan : Plan
        A validated plan with a detector, a voxel size and a tissue layer.
    config : SimConfig
    cache : bool
        Keep each angle's noise-free intensity, so further noise realisations or exposures
        of the same scan (:meth:`with_exposure`) skip the optics.
    """

    def __init__(self, plan: Plan, config: SimConfig | None = None, cache: bool = False):
        self.plan = plan
        self._cache = {} if cache else None
        self.cfg = cfg = config or SimConfig()
        cfg.check()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", HipctWarning)
            self.result = res = evaluate(plan, warn=False)
        self.planned = planned = res.planned_scan()
        v = res.values
        if plan.detector is None or v.get("detector") is None:
            raise PlanError("detector: simulate needs a detector (camera, optic, scintillator)")
        if not plan.sample.tissue:
            raise PlanError("sample.layers: simulate needs a tissue layer")
        self.voxel_m = planned.voxel_size_m
        self.z_eff_m = planned.effective_propagation_distance_m
        geometry = cfg.geometry or plan.acquisition.geometry
        if geometry not in ("full", "half", "quarter"):
            raise PlanError(f"simulate.geometry: {geometry!r} is not allowed; use full or half")
        self.notes = []
        if geometry == "quarter":
            self.notes.append("quarter acquisition is simulated as its first (half-acquisition) "
                              "rotation")
        self.half = geometry in ("half", "quarter")
        w = cfg.width
        if self.half:
            ovl = cfg.overlap if cfg.overlap is not None else max(4, w // 16)
            if not 0 <= ovl < w // 2:
                raise PlanError(f"simulate.overlap: must be in 0..{w // 2 - 1}, got {ovl}")
            self.cor = float(w - 1 - ovl)
        else:
            self.cor = (w - 1) / 2.0
        span = 2 * np.pi if self.half else np.pi
        # the slice grid hipct reconstruct uses for this detector (acquisition.covered_radius)
        from hipct.reconstruction.acquisition import SubScan, covered_radius
        probe = np.arange(64) * span / 64
        self.recon_width = int(round(2 * covered_radius([SubScan(probe, w, self.cor)]))) + 1
        fov_m = self.recon_width * self.voxel_m
        n_proj = cfg.projections or geo.recommended_projections(fov_m, self.voxel_m)
        self.theta = np.arange(n_proj) * span / n_proj
        self.fov_radius_m = fov_m / 2

        # --- spectrum: open-beam detected signal per energy ---------------------------------
        d = plan.detector
        from hipct.planner.detector import deposited_energy_kev
        e_dep = deposited_energy_kev(d.screen_material, d.screen.thickness_m, res.energy_kev)
        signal = res.spectra["filtered"].photons_per_s_mm2 * e_dep
        self.energy_kev, self.weights = energy_bins(res.energy_kev, signal, cfg.energy_bins)

        # --- phantom and its optical constants ----------------------------------------------
        detail_m = (cfg.detail_radius_px * self.voxel_m / 1.15 if cfg.detail_radius_px
                    else self.fov_radius_m)
        self.phantom = brain_phantom(plan.sample, self.voxel_m, detail_m,
                                     cfg.rows * self.voxel_m, seed=cfg.phantom_seed,
                                     extruded=cfg.extruded)
        self.notes += self.phantom.notes
        delta, beta = material_optics(self.phantom.materials, self.energy_kev)
        self.delta, self.beta = delta, beta
        groups = sorted({(f.material, f.parent) for f in self.phantom.features})
        self.projector = ChordProjector(self.phantom.features,
                                        [groups.index((f.material, f.parent))
                                         for f in self.phantom.features])
        dd = np.array([[delta[m][i] - delta[p][i] for m, p in groups]
                       for i in range(self.energy_kev.size)])
        db = np.array([[beta[m][i] - beta[p][i] for m, p in groups]
                       for i in range(self.energy_kev.size)])

        # --- blur and sampling --------------------------------------------------------------
        blur = v.get("blur_um") or {}
        self.blur_fwhm_um = math.sqrt(blur.get("scintillator", 0.0) ** 2
                                      + blur.get("source_penumbra", 0.0) ** 2
                                      + cfg.extra_blur_um ** 2)
        s = cfg.oversample
        self.px_m = self.voxel_m / s
        sigma_m = self.blur_fwhm_um * 1e-6 * FWHM_TO_SIGMA
        lam = geo.wavelength_m(float(self.energy_kev.min()))
        fresnel_m = math.sqrt(lam * self.z_eff_m) if self.z_eff_m > 0 else 0.0
        pad = int(math.ceil(max(3 * fresnel_m, 4 * sigma_m, 2 * self.voxel_m) / self.px_m)) + 4
        from scipy.fft import next_fast_len
        # an extruded phantom is the same on every row: one fine row is propagated exactly
        fine_rows = 1 if cfg.extruded else cfg.rows * s
        ny = 1 if cfg.extruded else next_fast_len(fine_rows + 2 * pad)
        nx = next_fast_len(w * s + 2 * pad)
        # the transfer function is sampled well when N >= λ z / p² (Voelz & Roggemann 2009)
        need = lam * self.z_eff_m / self.px_m ** 2
        while nx < need or (ny > 1 and ny < need):
            ny, nx = (ny if ny == 1 else next_fast_len(2 * ny)), next_fast_len(2 * nx)
        self.pad = ((ny - fine_rows) // 2, (nx - w * s) // 2)
        off = (np.arange(w * s) + 0.5) / s - 0.5        # sub-sample centres in pixel units
        u_det = (off - self.cor) * self.voxel_m
        z_det = np.zeros(1) if cfg.extruded else \
            ((np.arange(fine_rows) + 0.5) / s - 0.5 - (cfg.rows - 1) / 2) * self.voxel_m
        py, px = self.pad
        def extend(x, before, total):      # uniform grid continued beyond the detector
            after = total - before - x.size
            return np.concatenate([x[0] - self.px_m * np.arange(before, 0, -1), x,
                                   x[-1] + self.px_m * np.arange(1, after + 1)])
        self.u_grid = extend(u_det, px, nx)
        self.z_grid = extend(z_det, py, ny)
        self.propagator = Propagator(self.energy_kev, self.weights, dd, db, self.z_eff_m,
                                     self.px_m, (ny, nx), sigma_m)

        # --- detector counts ------------------------------------------------------------------
        det = v["detector"]
        cam = d.camera
        n_reads = plan.acquisition.subframes
        scale = cfg.exposure_scale
        self.detector = DetectorModel(
            xrays_flat=_flat_xrays(det, n_reads) * scale,
            electrons_per_xray=det["electrons_per_xray"], read_noise_e=cam.read_noise_e,
            n_reads=n_reads, full_well_e=det["full_well_electrons"],
            gain_e_per_adu=det["gain_electrons_per_adu"], bit_depth=cam.bit_depth)
        self.dose_gy = v["dose_Gy"] * scale * n_proj / v["n_projections"]
        self.paganin_length_px = (v.get("paganin_length_um") or 0.0) * 1e-6 / self.voxel_m
        if self.paganin_length_px > w / 4:
            self.notes.append(
                f"the Paganin length ({self.paganin_length_px:.0f} px) exceeds a quarter of the "
                f"{w}-px detector: phase retrieval of this window will show edge artefacts "
                f"that a full detector does not (use a width of at least "
                f"{int(4 * self.paganin_length_px) + 128})")
        self.plan_dose_gy = v["dose_Gy"]

    # ------------------------------------------------------------------------------------------
    @property
    def n_proj(self) -> int:
        return int(self.theta.size)

    def _fine(self, theta: float | None) -> np.ndarray:
        """Unblurred intensity on the padded fine grid (``None``: open beam)."""
        if theta is None:
            return np.ones(self.propagator.shape)
        if self._cache is not None and theta in self._cache:
            return self._cache[theta]
        out = self.propagator.intensity(self.projector(theta, self.u_grid, self.z_grid))
        if self._cache is not None:
            self._cache[theta] = out.astype(np.float32)
        return out

    def _window(self, fine: np.ndarray) -> np.ndarray:
        """The detector's rows of a fine-grid image (an extruded row repeated), all columns."""
        s, (py, _) = self.cfg.oversample, self.pad
        r = self.cfg.rows * s
        if fine.shape[0] == 1:
            return np.broadcast_to(fine, (r, fine.shape[1]))
        return fine[py:py + r]

    def _to_pixels(self, fine: np.ndarray) -> np.ndarray:
        """Sum the fine samples of each detector pixel (``fine``: detector rows, all columns)."""
        s, (_, px) = self.cfg.oversample, self.pad
        w, r = self.cfg.width, self.cfg.rows
        return fine[:, px:px + w * s].reshape(r, s, w, s).sum(axis=(1, 3))

    def intensity(self, theta: float) -> np.ndarray:
        """Noise-free normalised intensity (rows, width) at angle ``theta`` (blurred)."""
        s = self.cfg.oversample
        return self._to_pixels(self._window(self.propagator.blur(self._fine(theta)))) / (s * s)

    def frame(self, theta: float | None, rng: np.random.Generator | None) -> np.ndarray:
        """One recorded frame in ADU: projection at ``theta``, or a flat for ``None``.

        X-ray quanta are drawn on the fine grid, blurred by the light spread, integrated over
        the pixel, then converted by the camera (:class:`~.detector.DetectorModel`).
        """
        s = self.cfg.oversample
        fine = self._fine(theta) * (self.detector.xrays_flat / (s * s))
        if fine.shape[0] == 1:          # extruded: every row gets its own quanta
            fine = np.array(self._window(fine))
        xrays = rng.poisson(fine).astype(np.float64) if rng is not None else fine
        xrays = self.propagator.blur(xrays)
        return self.detector.convert(self._to_pixels(self._window(xrays)), rng)

    def frames(self, progress: bool = False, seed: int | None = None, noise: bool | None = None):
        """Yield ``(index, key, angle, frame)`` in acquisition order: darks, flats, projections,
        flats (the flats split before and after, as at ESRF)."""
        from tqdm.auto import tqdm

        seed = self.cfg.seed if seed is None else seed
        noise = self.cfg.noise if noise is None else noise
        rng = np.random.default_rng(seed) if noise else None
        shape = (self.cfg.rows, self.cfg.width)
        keys, angles = self.sequence()
        bar = tqdm(total=keys.size, unit="frame", desc="simulate", disable=not progress,
                   file=sys.stderr)
        for i, (k, a) in enumerate(zip(keys, angles)):
            if k == 2:
                frame = self.detector.dark(shape, rng)
            else:
                frame = self.frame(None if k == 1 else float(a), rng)
            bar.update(1)
            yield i, int(k), float(a), frame
        bar.close()

    def sequence(self):
        """``(image_key, angle)`` of every frame in acquisition order."""
        nf = self.cfg.n_flats
        f1 = nf // 2
        keys = np.concatenate([np.full(self.cfg.n_darks, 2), np.full(f1, 1),
                               np.zeros(self.n_proj, int), np.full(nf - f1, 1)])
        angles = np.concatenate([np.zeros(self.cfg.n_darks), np.zeros(f1), self.theta,
                                 np.full(nf - f1, self.theta[-1])])
        return keys, angles

    def arrays(self, progress: bool = False, seed: int | None = None, noise: bool | None = None):
        """The whole scan in memory: ``(projections, flats, darks, theta)`` as float32."""
        proj, flats, darks = [], [], []
        for _, k, _, frame in self.frames(progress, seed, noise):
            (darks, flats, proj)[(2, 1, 0).index(k)].append(frame)
        f32 = lambda x: np.asarray(x, dtype=np.float32)   # noqa: E731
        return f32(proj), f32(flats), f32(darks), self.theta.copy()

    def with_exposure(self, scale: float, accumulate: bool = False) -> "Simulation":
        """A copy of this simulation at another exposure (sharing the intensity cache).

        ``accumulate``: the extra exposure is taken as more sub-frames summed per projection
        (no saturation, read noise per sub-frame) rather than longer sub-frames.
        """
        import copy
        from dataclasses import replace
        other = copy.copy(self)
        other.cfg = replace(self.cfg, exposure_scale=scale)
        other.cfg.check()
        ratio = scale / self.cfg.exposure_scale
        reads = self.detector.n_reads * ratio if accumulate else self.detector.n_reads
        other.detector = replace(self.detector, xrays_flat=self.detector.xrays_flat * ratio,
                                 n_reads=reads)
        other.dose_gy = self.dose_gy * ratio
        return other

    # ------------------------------------------------------------------------------------------
    def row_height_m(self, row: int) -> float:
        """Height ``z`` of detector row ``row`` (the slice it reconstructs)."""
        return (row - (self.cfg.rows - 1) / 2) * self.voxel_m

    def truth(self, row: int, quantity: str = "delta", roi=None) -> np.ndarray:
        """Ground-truth slice at detector row ``row`` on the reconstruction grid.

        ``quantity``: ``delta`` (signal-weighted over the energy bins), ``mu`` (1/cm, the
        same weighting) or ``labels`` (:data:`~.brain_phantom.LABELS`); ``roi`` as in
        :func:`hipct.reconstruction.fbp.fbp`.
        """
        n = self.recon_width
        z = self.row_height_m(row)
        if quantity == "labels":
            return self.phantom.label_map(z, n, self.voxel_m, roi)
        w = self.weights
        if quantity == "delta":
            vals = {k: float(np.dot(w, d)) for k, d in self.delta.items()}
        elif quantity == "mu":
            lam = geo.wavelength_m(self.energy_kev)
            vals = {k: float(np.dot(w, 4 * np.pi * b / lam)) / 100.0 for k, b in self.beta.items()}
        else:
            raise ValueError(f"quantity must be delta, mu or labels, not {quantity!r}")
        return self.phantom.slice_map(vals, z, n, self.voxel_m, roi=roi)

    def provenance(self) -> dict:
        """What the raw file records about its making (stored in ``/entry/hipct``)."""
        return {
            "simulated": True, "config": asdict(self.cfg), "plan": self.plan.raw,
            "rotation_axis_column": self.cor, "half_acquisition": self.half,
            "energy_bins_keV": self.energy_kev.tolist(), "bin_weights": self.weights.tolist(),
            "blur_fwhm_um": self.blur_fwhm_um, "dose_Gy": self.dose_gy,
            "xrays_per_pixel_flat": self.detector.xrays_flat,
            "materials": {k: {"name": m.name, "density_g_cm3": m.density_g_cm3}
                          for k, m in self.phantom.materials.items()},
            "labels": LABELS, "notes": self.notes,
        }


def _flat_xrays(det: dict, n_reads: int) -> float:
    """Absorbed X-ray photons per pixel per projection in the open beam (all sub-frames)."""
    e_per_x = det["electrons_per_xray"]
    return det["flat_electrons"] * n_reads / e_per_x if e_per_x > 0 else 0.0


def simulate_to_nxtomo(sim: Simulation, path, progress: bool = True) -> dict:
    """Stream a simulation into an NXtomo file (atomic); returns a summary dict."""
    from hipct.reconstruction.io.nxtomo import NXtomoWriter

    keys, angles = sim.sequence()
    planned = sim.planned
    # the energy a reader's phase retrieval should use: the plan's (behind the sample)
    pr = planned.phase_retrieval
    energy_kev = pr.energy_kev if pr else planned.behind_sample_mean_energy_kev
    dtype = sim.detector.dtype if sim.cfg.noise else np.float32
    with NXtomoWriter(path, keys, angles, (sim.cfg.rows, sim.cfg.width), dtype,
                      pixel_size_m=sim.voxel_m, distance_m=sim.plan.propagation_distance_m,
                      source_distance_m=sim.plan.source_to_sample_m,
                      energy_kev=energy_kev,
                      current=np.full(keys.size, sim.plan.ring_current_a * 1e3),
                      saturation=sim.detector.saturation_adu,
                      axis_column=sim.cor, half_acquisition=sim.half,
                      provenance=sim.provenance()) as w:
        for i, _, _, frame in sim.frames(progress):
            w.write(i, frame[None].astype(dtype))
    return {"output": str(path), "frames": int(keys.size), "projections": sim.n_proj,
            "detector": [sim.cfg.rows, sim.cfg.width], "voxel_size_um": sim.voxel_m * 1e6,
            "rotation_axis_column": sim.cor, "half_acquisition": sim.half,
            "energy_bins_keV": [round(e, 2) for e in sim.energy_kev.tolist()],
            "xrays_per_pixel_flat": sim.detector.xrays_flat, "dose_Gy": sim.dose_gy,
            "notes": sim.notes}
