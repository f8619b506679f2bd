"""Simulate → reconstruct → measure: the image quality a plan would give.

Used by ``hipct compare --simulate`` and the excision notebook. One plan is simulated once
(noise-free intensities cached), then recorded at the requested exposure(s); each recording
is reconstructed in memory by the public reconstruction API (dark/flat, Paganin with the
plan's energy, distance, pixel and δ/β, half-acquisition merge, FBP; :func:`reconstruct_arrays`),
three times:
all projections, even ones and odd ones. Metrics (see :mod:`hipct.reconstruction.quality`):

* ``cnr``: grey vs white matter, on regions eroded by 3 pixels, over the reconstructed rows:
  the contrast of the noise-free reconstruction over the standard deviation of the noise
  (noisy − noise-free reconstruction) in the same regions, so neither term is biased by the
  other; ``cnr_direct`` is the same ratio taken on the noisy image alone;
* ``cnr_per_sqrt_dose``: CNR / √(dose of the simulated scan), the dose efficiency, which does
  not depend on the projection count or exposure when quantum noise dominates;
* by default the simulated scan receives the plan's dose (its fewer projections each get
  proportionally more sub-frames), so the CNR is the one the planned scan would give;
* ``frc_resolution_um``: even/odd Fourier ring correlation, half-bit threshold (1/7 also
  reported), on the square inscribed in the reconstructed disc;
* ``tissue_range_fraction``: median raw signal behind the sample as a fraction of the
  detector's range (the planner's quantity, measured);
* ``correlation``: Pearson correlation of the full reconstruction with the phantom's δ map;
* histograms of the tissue's reconstructed values and the noise power spectrum of
  (even − odd) / 2.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from hipct.errors import HipctWarning
from hipct.reconstruction.quality import (HALF_BIT, ONE_SEVENTH, cnr, detector_range_fraction,
                                          frc, noise_power_spectrum, region_masks)
from hipct.simulation.brain_phantom import LABELS
from hipct.simulation.simulate import SimConfig, Simulation

__all__ = ["reconstruct_arrays", "StudyResult", "study_config", "measure", "study_plan"]


def reconstruct_arrays(sim: Simulation, proj, flats, darks, frames=slice(None),
                       delta_beta: float | None = None, phase: bool = True,
                       roi=None) -> np.ndarray:
    """Reconstruct simulated frames in memory; ``(rows, ny, nx)`` in 1/cm.

    The arrays go through the public :class:`~hipct.reconstruction.reconstructor.Reconstructor`
    (dark/flat, Paganin, merge, FBP), the steps ``hipct reconstruct --plan`` runs on a file,
    with the plan's physics. ``frames`` selects projections (e.g. ``slice(0, None, 2)`` for
    the even half-dataset); ``roi = (x0, x1, y0, y1)`` a region of the slice.
    """
    from hipct.reconstruction.pipeline import ReconParams
    from hipct.reconstruction.reconstructor import Geometry, Reconstructor

    planned = sim.planned
    theta = sim.theta[frames]
    n_f1 = sim.cfg.n_flats // 2
    flat_frames = np.concatenate([np.arange(n_f1), sim.n_proj + np.arange(flats.shape[0] - n_f1)])
    flat_angles = np.concatenate([np.full(n_f1, sim.theta[0]),
                                  np.full(flats.shape[0] - n_f1, sim.theta[-1])])
    pr = planned.phase_retrieval              # the Paganin filter `reconstruct --plan` applies
    db = (pr.delta_beta if pr else 0.0) if delta_beta is None else delta_beta
    params = ReconParams(inputs=[], output="",
                         energy_kev=pr.energy_kev if pr else planned.open_beam_mean_energy_kev,
                         distance_m=planned.effective_propagation_distance_m,
                         pixel_size_m=sim.voxel_m, delta_beta=db if phase and db else 0.0)
    geometry = Geometry((theta,), proj.shape[2], (sim.cor,), width=sim.recon_width,
                        roi=None if roi is None else tuple(roi))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HipctWarning)
        with Reconstructor(params, geometry) as rec:
            return rec(proj[frames], flats, darks, flat_angles=flat_angles,
                       flat_frames=flat_frames, saturation=sim.detector.saturation_adu)


@dataclass
class StudyResult:
    """Measured quality of one simulated plan (see the module docstring)."""

    name: str
    values: dict
    full: np.ndarray                 # (rows, n, n) reconstruction, 1/cm
    truth_delta: np.ndarray          # (rows, n, n)
    labels: np.ndarray               # (rows, n, n)
    frc_curve: tuple = ()            # (freq cycles/px, frc, half-bit threshold)
    nps: tuple = ()                  # (freq 1/um, nps)
    histogram: tuple = ()            # (tissue values) for plotting
    raw_example: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


def _disc(n: int, frac: float = 0.95) -> np.ndarray:
    c = (n - 1) / 2.0
    yy, xx = np.mgrid[:n, :n] - c
    return np.hypot(xx, yy) <= frac * c


def study_config(plan_result, roi: int = 128, rows: int = 4, **kw) -> SimConfig:
    """Simulation size for a study: a full (180°) scan whose detector extends ``2.5 L`` beyond
    a central ``roi``-pixel region on each side (L the Paganin length), so phase retrieval sees
    real data, not padding, around the measured region; projections for the region's width
    doubled (structures outside it stay sampled well enough not to streak into it). The
    phantom is extruded along z for the same reason (see :func:`.brain_phantom.brain_phantom`)."""
    planned = plan_result.planned_scan()
    pr = planned.phase_retrieval
    L = (pr.paganin_length_m if pr else 0.0) / planned.voxel_size_m
    margin = max(16, int(np.ceil(2.5 * L)))
    from hipct.planner.geometry import recommended_projections
    n_proj = 2 * recommended_projections(roi, 1.0)
    return SimConfig(width=roi + 2 * margin, rows=rows, projections=n_proj, geometry="full",
                     detail_radius_px=0.75 * roi, extruded=True, **kw)


def measure(sim: Simulation, roi: int | None = None, seed: int | None = None,
            halves: bool = True, edge_rows: int = 1) -> StudyResult:
    """Record, reconstruct and measure one simulated scan on the central ``roi`` pixels."""
    n = sim.recon_width
    roi = min(roi or n, n)
    o = (n - roi) // 2
    box = (o, o + roi, o, o + roi)
    proj, flats, darks, _ = sim.arrays(seed=seed)
    full = reconstruct_arrays(sim, proj, flats, darks, roi=box)
    rows = list(range(edge_rows, sim.cfg.rows - edge_rows)) if sim.cfg.rows > 2 * edge_rows \
        else list(range(sim.cfg.rows))
    labels = np.stack([sim.truth(r, "labels", box) for r in rows])
    truth = np.stack([sim.truth(r, "delta", box) for r in rows])
    vol = full[rows]
    disc = _disc(roi) if roi == n else np.ones((roi, roi), bool)
    gm, wm = [np.stack([region_masks(lab, [LABELS[k]], 3, disc)[0] for lab in labels])
              for k in ("grey", "white")]
    values = {"simulated_projections": sim.n_proj,
              "simulated_detector": [sim.cfg.rows, sim.cfg.width], "measured_region_px": roi,
              "dose_Gy_simulated": sim.dose_gy, "exposure_scale": sim.cfg.exposure_scale}
    if gm.sum() > 10 and wm.sum() > 10:
        p0, f0, d0, _ = sim.arrays(noise=False)
        clean = reconstruct_arrays(sim, p0, f0, d0, roi=box)[rows]
        noise = vol - clean
        both = gm | wm
        sigma = float(noise[both].std(ddof=1))
        contrast = float(clean[gm].mean() - clean[wm].mean())
        values["contrast_grey_white_per_cm"] = contrast
        values["noise_std_per_cm"] = sigma
        values["cnr"] = abs(contrast) / sigma
        values["cnr_direct"] = cnr(vol, gm, wm)
        values["cnr_per_sqrt_dose"] = values["cnr"] / float(np.sqrt(sim.dose_gy))
    m = np.broadcast_to(disc, vol.shape)
    values["correlation"] = float(np.corrcoef(vol[m], truth[m])[0, 1])
    dark = float(darks.mean()) if darks.size else sim.detector.dark_adu
    values["tissue_range_fraction"] = detector_range_fraction(proj, dark,
                                                              sim.detector.saturation_adu)
    tissue = np.isin(labels, [LABELS[k] for k in ("grey", "white", "bundle", "cell")]) & m
    res = StudyResult(sim.plan.name, values, full, truth, labels,
                      histogram=(vol[tissue],), raw_example=proj[0])
    if halves:
        even = reconstruct_arrays(sim, proj, flats, darks, slice(0, None, 2), roi=box)[rows]
        odd = reconstruct_arrays(sim, proj, flats, darks, slice(1, None, 2), roi=box)[rows]
        if roi == n:      # the whole disc: use the square inscribed in it
            side = int(n / np.sqrt(2)) // 2 * 2
            c0 = (n - side) // 2
            even, odd = even[:, c0:c0 + side, c0:c0 + side], odd[:, c0:c0 + side, c0:c0 + side]
        fr = frc(even, odd, HALF_BIT)
        fr7 = frc(even, odd, ONE_SEVENTH)
        voxel_um = sim.voxel_m * 1e6
        finite = lambda x: x if np.isfinite(x) else None   # noqa: E731  (JSON: null)
        values["frc_resolution_um"] = finite(fr.resolution(voxel_um))
        values["frc_resolution_1_7_um"] = finite(fr7.resolution(voxel_um))
        values["frc_crossed"] = fr.crossed
        values["frc_threshold"] = HALF_BIT
        res.frc_curve = (fr.freq, fr.frc, fr.threshold)
        res.nps = noise_power_spectrum((even - odd) / 2.0, voxel_um)
    return res


def study_plan(plan, config: SimConfig | None = None, dose_fractions=(1.0,), seed: int = 0,
               halves: bool = True, roi: int = 128):
    """Simulate ``plan`` once and measure it at each fraction of the plan's dose.

    Without ``config`` the size comes from :func:`study_config` (``roi`` pixels measured).
    Dose fraction 1 gives the simulated scan the plan's dose: its projections accumulate
    ``N_plan / N_simulated`` times the plan's sub-frames. Returns a list of StudyResult.
    """
    if config is None:
        from hipct.planner.evaluate import evaluate
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", HipctWarning)
            config = study_config(evaluate(plan, warn=False), roi=roi)
    base = Simulation(plan, config, cache=True)
    out = []
    for i, frac in enumerate(dose_fractions):
        if not frac > 0:
            raise ValueError(f"dose fraction must be > 0, got {frac}")
        scale = base.cfg.exposure_scale * frac * base.plan_dose_gy / base.dose_gy
        sim = base.with_exposure(scale, accumulate=True)
        r = measure(sim, roi=roi, seed=seed + i, halves=halves)
        r.values["plan_dose_Gy"] = base.plan_dose_gy
        r.values["dose_fraction"] = frac
        r.extra["simulation"] = sim
        out.append(r)
    return out
