"""Figures for a plan: spectra along the beam, transmission, detector fill and dose summary."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["plot_plan"]


def _save(fig, path: Path):
    # Atomic: write beside the target then rename, so a figure is never half-written.
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
    _save(fig, paths[-1])
    plt.close(fig)

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
    _save(fig, paths[-1])
    plt.close(fig)

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
    _save(fig, paths[-1])
    plt.close(fig)
    return paths
