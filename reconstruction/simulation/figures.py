"""Figures of a plan comparison: spectra, detector fill, histograms, slices, FRC, dose efficiency.

Every function takes evaluated plans (:class:`~hipct.planner.evaluate.PlanResult`) and/or
measured studies (:class:`~.study.StudyResult`), writes one PNG atomically and returns its
path; nothing here computes physics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hipct.planner.plots import save_figure

__all__ = ["plot_comparison"]


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _spectra(results, out: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, r in enumerate(results):
        key = "absorbed in screen x E_dep/E (behind sample)"
        s = r.spectra.get(key) or r.spectra["behind sample"]
        y = s.per_kev()
        ax.plot(r.energy_kev, y / y.max(), color=f"C{i}",
                label=f"{r.plan.name}: {r.values['mean_detected_energy_sample_keV']:.0f} keV")
        ax.axvline(r.values["mean_detected_energy_sample_keV"], color=f"C{i}", ls="--", lw=0.8)
    ax.set_xlabel("photon energy (keV)")
    ax.set_ylabel("detected signal behind the sample (normalised)")
    ax.set_xlim(0, 200)
    ax.set_title("Detected spectra (dashed: deposited-energy weighted mean)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, out / "compare_spectra.png")


def _fill(results, out: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = [r.plan.name for r in results]
    x = np.arange(len(results))
    flat = [r.values["detector"]["fill_fraction"] for r in results]
    behind = [r.values["detector"]["sample_fill_fraction"] for r in results]
    ax.bar(x - 0.2, flat, 0.4, label="flat field (open beam)")
    ax.bar(x + 0.2, behind, 0.4, label="behind the sample (tissue)")
    ax.axhline(1.0, color="k", lw=0.8, ls="--", label="full well")
    for xi, b in zip(x, behind):
        ax.text(xi + 0.2, b, f"{b:.1%}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("fraction of the full well per sub-frame")
    ax.set_title("Detector dynamic range used")
    ax.legend(fontsize=8)
    return save_figure(fig, out / "compare_detector_fill.png")


def _histograms(studies, out: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    top = 0.0
    for i, s in enumerate(studies):
        sim = s.extra["simulation"]
        det = sim.detector
        raw = s.raw_example.ravel()
        frac = (raw - det.dark_adu) / (det.saturation_adu - det.dark_adu)
        top = max(top, float(frac.max()))
        axes[0].hist(frac, bins=80, histtype="stepfilled", alpha=0.5, color=f"C{i}",
                     density=True, label=f"{s.name}: median {np.median(frac):.1%} of range")
        vals = s.histogram[0] - np.median(s.histogram[0])
        lo, hi = np.quantile(vals, [0.001, 0.999])
        axes[1].hist(vals, bins=120, range=(lo, hi), histtype="step", lw=1.5, color=f"C{i}",
                     density=True, label=f"{s.name}: CNR {s.values.get('cnr', float('nan')):.2f}")
    axes[0].set_xlim(0, min(1.0, 1.3 * top))
    axes[0].set_xlabel("raw projection value / detector range (dark to saturation)")
    axes[0].set_ylabel("density")
    axes[0].set_title("Detector range used by the tissue (one projection)")
    axes[1].set_xlabel("reconstructed value − tissue median (1/cm, attenuation-equivalent)")
    axes[1].set_title("Reconstructed tissue histogram (local-tomography offset removed)")
    for a in axes:
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    return save_figure(fig, out / "compare_histograms.png")


def _slices(studies, out: Path) -> Path:
    plt = _plt()
    n = len(studies)
    fig, axes = plt.subplots(1, n + 1, figsize=(4 * (n + 1), 4.4))
    row = studies[0].full.shape[0] // 2
    truth = studies[0].truth_delta[min(row, studies[0].truth_delta.shape[0] - 1)]
    for ax, s in zip(axes, studies):
        img = s.full[row]
        lo, hi = np.percentile(img, [1, 99])
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
        v = s.values
        ax.set_title(f"{s.name}\nCNR {v.get('cnr', float('nan')):.2f}, "
                     f"FRC {v.get('frc_resolution_um') or float('nan'):.2g} um", fontsize=9)
        ax.axis("off")
    axes[-1].imshow(truth, cmap="gray")
    axes[-1].set_title("phantom (delta)", fontsize=9)
    axes[-1].axis("off")
    vox = studies[0].extra["simulation"].voxel_m * 1e6
    axes[-1].plot([5, 5 + 20 / vox], [truth.shape[0] - 6] * 2, "w-", lw=3)
    axes[-1].text(5, truth.shape[0] - 9, "20 um", color="w", fontsize=8)
    return save_figure(fig, out / "compare_slices.png")


def _frc(studies, out: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for i, s in enumerate(studies):
        if not s.frc_curve:
            continue
        f, c, t = s.frc_curve
        vox = s.extra["simulation"].voxel_m * 1e6
        axes[0].plot(f / vox, c, color=f"C{i}", label=s.name)
        axes[0].plot(f / vox, t, color=f"C{i}", ls=":", lw=0.8)
        fn, p = s.nps
        axes[1].loglog(fn[1:], p[1:], color=f"C{i}", label=s.name)
    axes[0].axhline(1 / 7, color="k", lw=0.6, ls="--", label="1/7")
    axes[0].set_xlabel("spatial frequency (1/um)")
    axes[0].set_ylabel("FRC (even vs odd projections)")
    axes[0].set_title("Fourier ring correlation (dotted: half-bit)")
    axes[1].set_xlabel("spatial frequency (1/um)")
    axes[1].set_ylabel("NPS ((1/cm)² um²)")
    axes[1].set_title("Noise power spectrum of the reconstruction")
    for a in axes:
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    return save_figure(fig, out / "compare_frc_nps.png")


def _efficiency(records, out: Path) -> Path:
    plt = _plt()
    keys = [("dose_Gy", "dose (Gy)"), ("scan_time_h", "scan time (h)"),
            ("cnr", "CNR grey/white"), ("cnr_per_sqrt_dose", "CNR per sqrt(Gy)")]
    keys = [(k, l) for k, l in keys if all(r.get(k) is not None for r in records)]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.8))
    axes = np.atleast_1d(axes)
    names = [r["name"] for r in records]
    for ax, (k, label) in zip(axes, keys):
        vals = [r[k] for r in records]
        ax.bar(range(len(vals)), vals, color=[f"C{i}" for i in range(len(vals))])
        ax.set_xticks(range(len(vals)), [n[:18] for n in names], rotation=20, fontsize=7)
        ax.set_title(label, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out / "compare_summary.png")


def plot_comparison(results, records, studies, out_dir) -> list:
    """Write the comparison figures into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    paths = [_spectra(results, out)]
    if all(r.values.get("detector") for r in results):
        paths.append(_fill(results, out))
    if studies:
        paths += [_histograms(studies, out), _slices(studies, out), _frc(studies, out)]
    paths.append(_efficiency(records, out))
    plt.close("all")
    return paths
