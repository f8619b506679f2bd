"""Figures of a plan comparison: spectra, detector fill, histograms, slices, FRC, dose efficiency.

Every builder takes evaluated plans (:class:`~hipct.planner.evaluate.PlanResult`) and/or
measured studies (:class:`~hipct.study.excision.StudyResult`) and returns a matplotlib Figure;
:func:`plot_comparison` writes them as PNG atomically. Plans keep one colour in every figure,
quantities are on common scales (absolute spectra, one window for all slices, one histogram
axis); the look comes from :mod:`hipct.figure_style`. Nothing here computes physics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hipct.figure_style import (colourbar, common_window, figure_title, label, new_figure,
                                plan_colour, save_figure, scale_bar)

__all__ = ["comparison_figures", "plot_comparison"]

_BEHIND = "absorbed in screen x E_dep/E (behind sample)"


def _spectra(results):
    fig, ax = new_figure(width_in=7.5, height_in=4.4)
    top = 0.0
    for i, r in enumerate(results):
        s = r.spectra.get(_BEHIND) or r.spectra["behind sample"]
        e_mean = r.planned_scan().behind_sample_mean_energy_kev
        ax.plot(r.energy_kev, s.per_kev(), color=plan_colour(i),
                label=f"{r.plan.name} (mean {e_mean:.0f} keV)")
        ax.axvline(e_mean, color=plan_colour(i), ls="--", lw=0.8)
        y = np.cumsum(s.photons_per_s_mm2)
        if y[-1] > 0:
            top = max(top, float(r.energy_kev[min(int(np.searchsorted(y, 0.999 * y[-1])),
                                                  r.energy_kev.size - 1)]))
    ax.set_xlim(0, 1.1 * top if top else None)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(label("photon energy", "keV"))
    ax.set_ylabel(label("absorbed in scintillator × E_dep/E", "photons/s/mm²/keV"))
    ax.set_title("Signal deposited behind the sample, absolute (dashed: weighted mean)")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    figure_title(fig, "detected spectra", [r.plan.name for r in results])
    return fig


def _fill(results):
    fig, ax = new_figure(width_in=7.5, height_in=4.4)
    names = [r.plan.name for r in results]
    x = np.arange(len(results))
    scans = [r.planned_scan() for r in results]
    flat = [100 * s.flat_fill_fraction for s in scans]
    behind = [100 * s.sample_fill_fraction for s in scans]
    b1 = ax.bar(x - 0.2, flat, 0.4, label="flat field (open beam)", color="0.65")
    b2 = ax.bar(x + 0.2, behind, 0.4, label="behind the sample (tissue)",
                color=[plan_colour(i) for i in x])
    ax.axhline(100, color="k", lw=0.8, ls="--", label="full well")
    ax.bar_label(b1, labels=[f"{v:.3g} %" for v in flat], padding=2, fontsize=7.5)
    ax.bar_label(b2, labels=[f"{v:.3g} %" for v in behind], padding=2, fontsize=7.5)
    ax.set_ylim(0, 1.3 * max(100, *flat, *behind))
    ax.set_xticks(x, names)
    ax.set_ylabel(label("signal per sub-frame", "% of full well"))
    ax.set_title("Detector dynamic range used")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure_title(fig, "detector fill", names)
    return fig


def _raw_fraction(study) -> np.ndarray:
    det = study.extra["simulation"].detector
    raw = study.raw_example.ravel()
    return 100 * (raw - det.dark_adu) / (det.saturation_adu - det.dark_adu)


def _histograms(studies):
    fig, axes = new_figure(1, 2, width_in=11.5, height_in=4.4)
    fracs = [_raw_fraction(s) for s in studies]
    tissue = [s.histogram[0] - np.median(s.histogram[0]) for s in studies]
    lo, hi = common_window(tissue, (0.1, 99.9))
    top = max(float(f.max()) for f in fracs)
    for i, (s, frac, vals) in enumerate(zip(studies, fracs, tissue)):
        axes[0].hist(frac, bins=np.linspace(0, min(100.0, 1.3 * top), 81),
                     histtype="stepfilled", alpha=0.5, color=plan_colour(i), density=True,
                     label=f"{s.name}: median {np.median(frac):.3g} %")
        axes[1].hist(vals, bins=120, range=(lo, hi), histtype="step", lw=1.5,
                     color=plan_colour(i), density=True,
                     label=f"{s.name}: CNR {s.values.get('cnr', float('nan')):.2f}")
    axes[0].set_xlabel(label("raw signal, dark to saturation", "% of detector range"))
    axes[0].set_ylabel(label("probability density", "1/%"))
    axes[0].set_title("Detector range used by the tissue (one projection)")
    axes[1].set_xlabel(label("reconstructed value − tissue median", "1/cm"))
    axes[1].set_ylabel(label("probability density", "cm"))
    axes[1].set_title("Reconstructed tissue values, offset removed")
    for a in axes:
        a.legend(loc="upper right")
        a.grid(alpha=0.3)
    figure_title(fig, "histograms", [s.name for s in studies])
    return fig


def _slices(studies):
    n = len(studies)
    fig, axes = new_figure(1, n + 1, width_in=3.6 * (n + 1), height_in=3.9)
    row = studies[0].full.shape[0] // 2
    imgs = [s.full[min(row, s.full.shape[0] - 1)] for s in studies]
    imgs = [img - np.median(img) for img in imgs]
    lo, hi = common_window(imgs)
    for ax, s, img in zip(axes, studies, imgs):
        im = ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
        v = s.values
        frc_um = v.get("frc_resolution_um")
        ax.set_title(f"{s.name}\nCNR {v.get('cnr', float('nan')):.2f}, FRC "
                     + (f"{frc_um:.2g} µm" if frc_um else "—"))
        ax.axis("off")
        colourbar(im, ax, "value − median", "1/cm", shrink=0.85)
        scale_bar(ax, s.extra["simulation"].voxel_m * 1e6, img.shape[1])
    truth = studies[0].truth_delta[min(row, studies[0].truth_delta.shape[0] - 1)]
    im = axes[-1].imshow(truth * 1e8, cmap="gray")
    axes[-1].set_title("phantom\n(refractive index decrement δ)")
    axes[-1].axis("off")
    colourbar(im, axes[-1], "δ × 10⁸", "1", shrink=0.85)
    scale_bar(axes[-1], studies[0].extra["simulation"].voxel_m * 1e6, truth.shape[1])
    figure_title(fig, f"middle slice, one window {lo:.3g} to {hi:.3g} 1/cm",
                 [s.name for s in studies])
    return fig


def _frc(studies):
    from matplotlib.ticker import LogLocator, NullFormatter
    fig, axes = new_figure(1, 2, width_in=11.5, height_in=4.4)
    curves = [(i, s) for i, s in enumerate(studies) if s.frc_curve]
    thresholds = [(s.frc_curve[0] / (s.extra["simulation"].voxel_m * 1e6), s.frc_curve[2])
                  for _, s in curves]
    shared = all(f.shape == thresholds[0][0].shape and np.allclose(f, thresholds[0][0])
                 and np.allclose(t, thresholds[0][1]) for f, t in thresholds)
    for (i, s), (fu, t) in zip(curves, thresholds):
        axes[0].plot(fu, s.frc_curve[1], color=plan_colour(i), label=s.name)
        if not shared:
            axes[0].plot(fu, t, color=plan_colour(i), ls=":", lw=1.0,
                         label=f"half-bit threshold, {s.name}")
        fn, p = s.nps
        axes[1].loglog(fn[1:], p[1:], color=plan_colour(i), label=s.name)
    if curves and shared:
        axes[0].plot(*thresholds[0], color="k", ls=":", lw=1.0,
                     label="half-bit threshold (the same for every plan)")
    axes[0].axhline(1 / 7, color="k", lw=0.8, ls="--", label="1/7 threshold")
    axes[0].set_xlabel(label("spatial frequency", "1/µm"))
    axes[0].set_ylabel(label("FRC, even vs odd projections", "1"))
    axes[0].set_title("Fourier ring correlation")
    axes[1].set_xlabel(label("spatial frequency", "1/µm"))
    axes[1].set_ylabel(label("noise power spectrum", "µm²/cm²"))
    axes[1].set_title("Noise power spectrum of the reconstruction")
    for axis in (axes[1].xaxis, axes[1].yaxis):
        axis.set_major_locator(LogLocator(base=10, numticks=6))
        axis.set_minor_formatter(NullFormatter())
    for a in axes:
        a.legend(loc="best")
        a.grid(alpha=0.3)
    figure_title(fig, "resolution and noise", [s.name for s in studies])
    return fig


def _efficiency(records):
    from matplotlib.ticker import MaxNLocator
    keys = [("dose_Gy", "dose", "Gy", ".3g"), ("scan_time_h", "scan time", "h", ".2g"),
            ("cnr", "CNR grey/white", "1", ".3g"),
            ("cnr_per_sqrt_dose", "CNR per √dose", "1/√Gy", ".3g")]
    keys = [k for k in keys if all(r.get(k[0]) is not None for r in records)]
    names = [r["name"] for r in records]
    longest = max(len(n) for n in names)
    fig, axes = new_figure(1, len(keys), width_in=2.3 * len(keys) + 0.07 * longest,
                           height_in=1.4 + 0.45 * len(records), sharey=True)
    axes = np.atleast_1d(axes)
    y = np.arange(len(records))
    for ax, (k, quantity, unit, fmt) in zip(axes, keys):
        vals = [float(r[k]) for r in records]
        bars = ax.barh(y, vals, color=[plan_colour(i) for i in y], height=0.6)
        ax.bar_label(bars, labels=[f"{v:{fmt}}" for v in vals], padding=2, fontsize=7.5)
        ax.set_xlim(0, 1.45 * max(max(vals), 1e-300))
        ax.set_xlabel(label(quantity, unit))
        ax.xaxis.set_major_locator(MaxNLocator(3))
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    figure_title(fig, "dose, time and image quality", names)
    return fig


def comparison_figures(results, records, studies) -> dict:
    """The comparison's figures, name → matplotlib Figure: ``spectra``, ``detector_fill``
    (when every plan has a detector), ``histograms``, ``slices``, ``frc_nps`` (with
    studies) and ``summary``."""
    figs = {"spectra": _spectra(results)}
    if all(r.values.get("detector") for r in results):
        figs["detector_fill"] = _fill(results)
    if studies:
        figs.update(histograms=_histograms(studies), slices=_slices(studies),
                    frc_nps=_frc(studies))
    figs["summary"] = _efficiency(records)
    return figs


def plot_comparison(results, records, studies, out_dir) -> list:
    """Write the comparison figures into ``out_dir`` as ``compare_<name>.png``; returns their
    paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [save_figure(fig, out / f"compare_{name}.png")
            for name, fig in comparison_figures(results, records, studies).items()]
