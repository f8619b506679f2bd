"""Accuracy of the automatic centre of rotation: prints the table quoted in the README.

Cases (all with a known axis):

* 180°: the analytic Shepp–Logan sinogram (Kak & Slaney line integrals) with Gaussian noise
  of 1 % of its maximum, axis off the detector's middle;
* half acquisition: noisy scans from hipct's own simulator driven by the shipped 0.857 um VOI
  plans (``examples/voi_0p857um_excised.yaml``: BM05, 0.2 m propagation;
  ``examples/voi_0p857um_intact.yaml``: BM18, 0.35 m), phase contrast with the plan's
  spectrum (4 energy bins), detector blur and counts (Poisson and read noise), one sample per
  pixel, 900 projections over 360°,
  8 rows, widths 192-512 with the axis width/16 columns from the edge, the plan's exposure
  per projection and 1/4 of it, two noise seeds, the axis on either side (a scan mirrored
  left-right), searched without the side the files record;
* quarter acquisition: two 360° rotations of the analytic phantom with 1 % noise, one axis off
  the detector;
* the real tooth scan (``shared/data/tooth.h5``, 180°): against the minimum-entropy search.

Usage: ``python benchmarks/centre_accuracy.py`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import yaml

from hipct.planner.plan import parse_plan
from hipct.reconstruction import centre, fbp, phantom
from hipct.simulation.simulate import SimConfig, Simulation

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TOOTH = Path(__file__).resolve().parents[2] / "shared" / "data" / "tooth.h5"


def _row(name, errors, estimates, extra=""):
    e = np.abs(np.asarray(errors))
    sure = [x.sure for x in estimates]
    bad_sure = sum(1 for err, s in zip(e, sure) if s and err > 0.5)
    print(f"| {name} | {len(e)} | {np.median(e):.2f} | {e.max():.2f} | "
          f"{sum(sure)}/{len(sure)} | {bad_sure} | {extra} |")


def _overlap_snr(sino, cor: float) -> float:
    """Diagnostic with the known axis: how far the overlap's evidence for it stands above noise.

    The normalised correlation of opposite projections (angle-smoothed, each strip's mean and
    linear trend removed) at the true axis, minus its mean over positions 4 px or more away,
    in units of their standard deviation (positions whose overlap is at most four times the
    true one's).
    """
    from scipy import ndimage

    w = sino.shape[-1]
    k = sino.shape[1] // 2
    s = ndimage.gaussian_filter1d(sino, 2.0, axis=1, mode="wrap")
    a, b = s[:, :k].reshape(-1, w), s[:, k:2 * k].reshape(-1, w)
    n_true = 2 * min(cor, w - 1 - cor) + 1
    x, c = [], []
    for s2 in range(2 * (w - 1) + 1):
        j0, j1 = max(0, s2 - (w - 1)), min(w - 1, s2)
        n = j1 - j0 + 1
        if n < 16 or n > 4 * n_true:
            continue
        t = np.arange(n) - (n - 1) / 2
        t /= np.sqrt(np.sum(t * t))
        sa = a[:, j0:j1 + 1] - a[:, j0:j1 + 1].mean(1, keepdims=True)
        sb = b[:, s2 - j1:s2 - j0 + 1][:, ::-1]
        sb = sb - sb.mean(1, keepdims=True)
        sa = sa - (sa @ t)[:, None] * t
        sb = sb - (sb @ t)[:, None] * t
        x.append(s2 / 2)
        c.append(np.sum(sa * sb) / np.sqrt(np.sum(sa * sa) * np.sum(sb * sb)))
    x, c = np.array(x), np.array(c)
    far = np.abs(x - cor) >= 4
    at = c[int(np.argmin(np.abs(x - cor)))]
    return float((at - c[far].mean()) / c[far].std())


def main() -> int:
    rng = np.random.default_rng(0)
    print("| case | scans | median abs error (px) | max abs error (px) | reported sure | "
          "sure but > 0.5 px off | notes |")
    print("|---|---|---|---|---|---|---|")
    # 180°
    w = 384
    ell = [phantom.Ellipse(v, a, b, x + 11, y - 7, p) for v, a, b, x, y, p in
           phantom.shepp_logan(150)]
    theta = np.arange(600) * np.pi / 600
    errs, ests = [], []
    for cor in (170.25, 180.75, 195.3, 205.5, 212.1):
        s = phantom.sinogram(ell, theta, np.arange(w) - cor)
        s = s + rng.normal(0, 0.01 * s.max(), s.shape)
        est = centre.estimate_cor(s, theta)
        errs.append(est.cor - cor)
        ests.append(est)
    _row("180°, analytic, 1 % noise", errs, ests, "sinogram double wedge")
    # half acquisition: hipct's simulator driven by the shipped 0.857 um VOI plans
    errs, ests, sides = {1.0: [], 0.25: []}, {1.0: [], 0.25: []}, {1.0: 0, 0.25: 0}
    clean_errs, clean_ests = [], []
    snr = {1.0: [], 0.25: []}
    t0 = time.perf_counter()
    for name in ("voi_0p857um_excised.yaml", "voi_0p857um_intact.yaml"):
        plan = parse_plan(yaml.safe_load((EXAMPLES / name).read_text()))
        for width in (192, 256, 384, 512):
            base = Simulation(plan, SimConfig(width=width, rows=8, projections=900,
                                              geometry="half", phantom_seed=width, n_flats=10,
                                              n_darks=4, oversample=1,
                                              energy_bins=4), cache=True)
            p, f, d, th = base.arrays(noise=False)
            sino = -np.log((p - d.mean(0)) / (f.mean(0) - d.mean(0))).transpose(1, 0, 2)
            for s, truth in ((sino, base.cor), (sino[..., ::-1], width - 1 - base.cor)):
                clean_ests.append(centre.estimate_cor(s, th))
                clean_errs.append(clean_ests[-1].cor - truth)
            for dose in (1.0, 0.25):
                sim = base if dose == 1.0 else base.with_exposure(dose)
                for seed in (1, 2):
                    p, f, d, th = sim.arrays(noise=True, seed=seed)
                    t = np.clip((p - d.mean(0)) / (f.mean(0) - d.mean(0)), 1e-3, None)
                    sino = -np.log(t).transpose(1, 0, 2)
                    snr[dose].append(_overlap_snr(sino, sim.cor))
                    for s, truth, side in ((sino, sim.cor, "right"),
                                           (sino[..., ::-1], width - 1 - sim.cor, "left")):
                        est = centre.estimate_cor(s, th)
                        errs[dose].append(est.cor - truth)
                        ests[dose].append(est)
                        sides[dose] += est.side == side
    _row("half acquisition, simulated VOI plans, noise-free", clean_errs, clean_ests,
         "same scans")
    for dose, label in ((1.0, "the plan's exposure"), (0.25, "1/4 of it")):
        e = ests[dose]
        _row(f"half acquisition, simulated VOI plans, 192-512 px, {label}", errs[dose], e,
             f"right side {sides[dose]}/{len(e)}; mirror margin "
             f"{min(x.mirror_margin for x in e):.2f}-{max(x.mirror_margin for x in e):.2f}; "
             f"overlap SNR {min(snr[dose]):.1f}-{max(snr[dose]):.1f} "
             f"(median {np.median(snr[dose]):.1f})")
    print(f"(half acquisition: {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    # quarter acquisition
    theta = np.arange(900) * 2 * np.pi / 900
    big = phantom.shepp_logan(260)
    errs, ests = [], []
    for cors in ((280.3, 100.7), (190.2, -80.6), (170.4, 330.2), (30.5, -150.3)):
        sinos = [phantom.sinogram(big, theta, np.arange(200) - c) for c in cors]
        sinos = [s + rng.normal(0, 0.01 * s.max(), s.shape) for s in sinos]
        for est, c in zip(centre.find_cor_quarter(sinos, [theta, theta]), cors):
            errs.append(est.cor - c)
            ests.append(est)
    _row("quarter acquisition, analytic, 1 % noise (both axes)", errs, ests,
         "one axis off the detector")
    # an outer rotation overlapping the inner one by 8.5 columns (< the 16 searched) is unsure
    sinos = [phantom.sinogram(big, theta, np.arange(200) - c) for c in (170.4, 360.9)]
    est = centre.find_cor_quarter(sinos, [theta, theta])[1]
    _row("quarter acquisition, overlap 8.5 px (too small)", [est.cor - 360.9], [est],
         "the minimum is at the end of the searched range")
    # tooth
    if TOOTH.exists():
        import h5py
        with h5py.File(TOOTH) as f:
            d = f["exchange/data"][:].astype(np.float32)
            flat = f["exchange/data_white"][:].mean(axis=0)
            dark = f["exchange/data_dark"][:].mean(axis=0)
            theta = np.radians(f["exchange/theta"][:])
        sino = -np.log(np.clip((d - dark) / (flat - dark), 1e-3, None)).transpose(1, 0, 2)
        est = centre.estimate_cor(sino, theta)
        cands = np.arange(288, 304.01, 0.5)
        ent = []
        for c in cands:
            rec = fbp.fbp(sino[0], theta, -c, n=501)
            h, _ = np.histogram(rec, bins=256, range=(-0.005, 0.015))
            q = h[h > 0] / h.sum()
            ent.append(-(q * np.log(q)).sum())
        ref = cands[int(np.argmin(ent))]
        _row("tooth (real, 180°) vs minimum entropy", [est.cor - ref], [est],
             f"auto {est.cor:.2f}, entropy {ref:.1f}, confidence {est.confidence:.2f}")
    else:
        print(f"| tooth | not run: {TOOTH} missing | | | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
