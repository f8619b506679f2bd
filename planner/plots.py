"""Figures for a plan: spectra along the beam, transmission, detector fill and dose summary."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hipct.files import apply_umask

__all__ = ["plot_plan", "plot_sweep", "save_figure"]


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` as PNG atomically (beside the target, then renamed: never half-written)
    and close it; returns ``path``."""
    import matplotlib.pyplot as plt
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        apply_umask(tmp)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def plot_plan(result, out_dir) -> list[Path]:
    """Write ``<name>_spectra.png``, ``<name>_transmission.png`` and ``<name>_summary.png``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = result.plan.name.replace(" ", "_").replace("/", "_")
    e = result.energy_kev
    paths = []

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, s in result.spectra.items():
        y = s.per_kev()
        if e.size == 1:
            ax.bar(e, y, width=1.0, label=label, alpha=0.6)
        else:
            ax.semilogy(e, y, label=label)
    v = result.values
    if v.get("mean_detected_energy_keV"):
        ax.axvline(v["mean_detected_energy_keV"], ls="--", c="k", lw=0.8,
                   label=f"mean detected {v['mean_detected_energy_keV']:.1f} keV")
    ax.set_xlabel("photon energy (keV)")
    ax.set_ylabel("photons / s / mm² / keV at the sample")
    ax.set_title(f"{result.plan.name}: spectrum along the beam")
    if e.size > 1:
        peak = max(s.per_kev().max() for s in result.spectra.values())
        ax.set_ylim(peak * 1e-4, peak * 3)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    paths.append(out / f"{name}_spectra.png")
    save_figure(fig, paths[-1])

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, t in result.transmission_curves.items():
        ax.plot(e, t, label=label, marker="o" if e.size == 1 else None)
    ax.set_xlabel("photon energy (keV)")
    ax.set_ylabel("transmission / absorbed fraction")
    ax.set_ylim(0, 1.02)
    ax.set_title("Filters, sample and scintillator")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    paths.append(out / f"{name}_transmission.png")
    save_figure(fig, paths[-1])

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    d = v.get("detector")
    ax = axes[0]
    if d:
        vals = [d["fill_fraction"], d["sample_fill_fraction"]]
        bars = ax.bar(["flat field", "behind sample"], vals,
                      color=["tab:red" if x > 1 else "tab:blue" for x in vals])
        ax.axhline(1.0, c="k", lw=1, label="full well")
        ax.axhline(result.plan.target_fill, c="gray", ls="--", lw=1, label="target fill")
        ax.bar_label(bars, labels=[f"{x:.0%}" for x in vals])
        ax.set_ylabel("fraction of full well per sub-frame")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no detector in plan", ha="center", va="center")
    ax.set_title("Detector dynamic range")
    ax = axes[1]
    ax.axis("off")
    rows = [("mean detected energy", f"{v['mean_detected_energy_keV']:.1f} keV"
             if v.get("mean_detected_energy_keV") else "—"),
            ("dose rate (depth avg.)", f"{v['dose_rate_Gy_per_s']:.3g} Gy/s"),
            ("total dose", f"{v['dose_Gy']:.3g} Gy"),
            ("scan time", f"{v['scan_time_h']:.2f} h"),
            ("voxel size", f"{v['voxel_size_um']:.4g} µm" if v.get("voxel_size_um") else "—"),
            ("sample transmission", f"{v['sample_transmission']:.2%}")]
    ax.table(cellText=[[a, b] for a, b in rows], loc="center", cellLoc="left").scale(1, 1.6)
    ax.set_title("Summary")
    paths.append(out / f"{name}_summary.png")
    save_figure(fig, paths[-1])
    return paths


def plot_sweep(result, goal: str, out_dir) -> list[Path]:
    """``<name>_sweep.png``: CNR against dose for every variant (feasible ones coloured by
    filter set, the best marked) and, for the best filter set, CNR over distance × time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec, cols = result.spec, result.columns
    F, D, T = len(spec.filters), spec.distances_m.size, spec.subframe_times_s.size
    ranked = result.ranked(goal)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5))
    dose, cnr = cols["dose_Gy"], cols["cnr"]
    ax.scatter(dose[~result.feasible], cnr[~result.feasible], s=3, c="0.8",
               label="excluded (saturated, starved or over budget)")
    labels = cols["filters"]
    shown = list(dict.fromkeys(labels[ranked][:8]))          # the best few filter sets
    for k, lab in enumerate(shown):
        sel = result.feasible & (labels == lab)
        ax.scatter(dose[sel], cnr[sel], s=6, color=plt.cm.tab10(k % 10), label=lab)
    if ranked.size:
        b = ranked[0]
        ax.scatter([dose[b]], [cnr[b]], marker="*", s=250, c="k", zorder=5,
                   label=f"best by {goal}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("dose to tissue (Gy)")
    ax.set_ylabel("tomographic CNR per voxel (tissue vs medium)")
    ax.set_title(f"{result.spec.size} variants, {int(result.feasible.sum())} feasible")
    ax.legend(fontsize=7, loc="lower right")
    if ranked.size:
        f = ranked[0] // (D * T)
        grid = cnr.reshape(F, D, T)[f]
        ok = result.feasible.reshape(F, D, T)[f]
        masked = np.ma.masked_where(~ok, grid)
        im = bx.pcolormesh(spec.subframe_times_s * 1e3, spec.distances_m, masked,
                           shading="nearest", cmap="viridis")
        bx.contour(spec.subframe_times_s * 1e3, spec.distances_m, ok.astype(float), [0.5],
                   colors="w", linewidths=1)
        fig.colorbar(im, ax=bx, label="CNR (excluded: blank)")
        j, t = divmod(ranked[0] % (D * T), T)
        bx.plot(spec.subframe_times_s[t] * 1e3, spec.distances_m[j], "k*", ms=15)
        if T > 1 and spec.subframe_times_s[-1] / spec.subframe_times_s[0] > 20:
            bx.set_xscale("log")
        if D > 1 and spec.distances_m[0] > 0 and spec.distances_m[-1] / spec.distances_m[0] > 20:
            bx.set_yscale("log")
        bx.set_xlabel("sub-frame time (ms)")
        bx.set_ylabel("propagation distance z2 (m)")
        bx.set_title(f"filters: {spec.filters[f][0]}")
    fig.suptitle(f"{result_name(result)}: plan sweep")
    path = out / f"{result_name(result)}_sweep.png"
    save_figure(fig, path)
    return [path]


def result_name(result) -> str:
    return getattr(result, "plan_name", "plan").replace(" ", "_").replace("/", "_")
