"""Figures for a plan: spectra along the beam, transmission, detector fill and summary, and
the sweep's trade-off between tomographic CNR and dose.

The ``*_figures`` / ``sweep_figure`` functions build matplotlib figures (for notebooks and
tests); :func:`plot_plan` and :func:`plot_sweep` write them as PNG. The look (sizes, fonts,
labels with units, titles naming the plan) comes from :mod:`hipct.figure_style`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from hipct.figure_style import (colourbar, figure_title, label, new_figure, plan_colour,
                                save_figure, style)

__all__ = ["plan_figures", "plot_plan", "sweep_figure", "plot_sweep", "save_figure", "pareto_front",
           "energy_range_kev"]

_DETECTED = ("absorbed in screen x E_dep/E (open beam)",
             "absorbed in screen x E_dep/E (behind sample)")


def energy_range_kev(result, share: float = 0.999) -> tuple[float, float]:
    """Energy axis limits covering the beam after the filters: from the grid's start to the
    energy below which ``share`` of its photons lie (with 10 % margin)."""
    e = result.energy_kev
    if e.size == 1:
        return float(e[0]) * 0.9, float(e[0]) * 1.1
    y = np.cumsum(result.spectra["filtered"].photons_per_s_mm2)
    top = e[min(int(np.searchsorted(y, share * y[-1])), e.size - 1)] if y[-1] > 0 else e[-1]
    return float(e[0]), float(min(e[-1], top * 1.1))


def _safe(name: str) -> str:
    return name.replace(" ", "_").replace("/", "_")


def _spectra_figure(result):
    e, v, name = result.energy_kev, result.values, result.plan.name
    unit = "photons/s/mm²/keV"
    incident = [("source", "source (at the sample position)"), ("filtered", "after the filters"),
                ("behind sample", "behind the sample")]
    detected = [(_DETECTED[0], "open beam"), (_DETECTED[1], "behind the sample")]
    panels = [(incident, "photon flux density", "Photons reaching the sample and passing it")]
    if any(key in result.spectra for key, _ in detected):
        panels.append((detected, "absorbed in scintillator × E_dep/E",
                       "Signal deposited in the scintillator"))
    fig, axes = new_figure(1, len(panels), width_in=5.25 * len(panels) + 1.0, height_in=4.2)
    axes = np.atleast_1d(axes)
    for axis, (curves, quantity, title) in zip(axes, panels):
        curves = [(key, text) for key, text in curves if key in result.spectra]
        if e.size == 1:         # one line: photons per second and area at each stage
            axis.bar([text for _, text in curves],
                     [float(result.spectra[key].photons_per_s_mm2[0]) for key, _ in curves],
                     color=[f"C{k}" for k in range(len(curves))], width=0.6)
            axis.tick_params(axis="x", labelsize=7)
            axis.set_ylabel(label(quantity, "photons/s/mm²"))
            axis.set_title(f"{title} ({e[0]:.4g} keV)")
            axis.grid(alpha=0.3, axis="y")
            continue
        for k, (key, text) in enumerate(curves):
            axis.semilogy(e, result.spectra[key].per_kev(), label=text, color=f"C{k}")
        peak = max(result.spectra[key].per_kev().max() for key, _ in curves)
        axis.set_ylim(peak * 1e-4, peak * 10)             # room for the legend
        axis.set_xlim(*energy_range_kev(result))
        axis.set_xlabel(label("photon energy", "keV"))
        axis.set_ylabel(label(quantity, unit))
        axis.set_title(title)
        axis.legend(loc="best")
        axis.grid(alpha=0.3)
    for key, ls, text in (("mean_detected_energy_keV", "--", "open beam"),
                          ("mean_detected_energy_sample_keV", ":", "behind sample")):
        if v.get(key) and len(panels) > 1 and e.size > 1:
            axes[-1].axvline(v[key], ls=ls, c="k", lw=0.9,
                             label=f"mean detected, {text}: {v[key]:.1f} keV")
    if e.size > 1 and len(panels) > 1:
        axes[-1].legend(loc="best")
    figure_title(fig, "spectrum along the beam", name)
    return fig


def _transmission_figure(result):
    e = result.energy_kev
    fig, ax = new_figure(width_in=7.0, height_in=4.2)
    lows = []
    for k, (text, t) in enumerate(result.transmission_curves.items()):
        t = np.asarray(t, dtype=float)
        ax.semilogy(e, np.clip(t, 1e-12, None), label=text, color=f"C{k}",
                    marker="o" if e.size == 1 else None)
        lo, hi = energy_range_kev(result)
        inside = t[(e >= lo) & (e <= hi)]
        if inside.size and np.any(inside > 0):
            lows.append(inside[inside > 0].min())
    bottom = max(1e-6, 0.5 * min(lows)) if lows else 1e-4
    ax.set_ylim(bottom, 1.5)
    ax.set_xlim(*energy_range_kev(result))
    ax.set_xlabel(label("photon energy", "keV"))
    ax.set_ylabel(label("transmission or absorbed fraction", "1"))
    ax.set_title("Filters and sample transmit; the scintillator absorbs")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3, which="both")
    figure_title(fig, "transmission", result.plan.name)
    return fig


def _fmt(x, fmt, unit=""):
    return "—" if x is None else f"{x:{fmt}}{(' ' + unit) if unit else ''}"


def _summary_rows(result) -> list:
    v, p = result.values, result.plan
    fov = v.get("field_of_view_mm")
    rows = [
        ("mean detected energy (open beam)", _fmt(v.get("mean_detected_energy_keV"), ".1f", "keV")),
        ("mean detected energy (behind sample)",
         _fmt(v.get("mean_detected_energy_sample_keV"), ".1f", "keV")),
        ("sample transmission", _fmt(v.get("sample_transmission"), ".2%")),
        ("voxel size", _fmt(v.get("voxel_size_um"), ".4g", "µm")),
        ("expected resolution", _fmt(v.get("expected_resolution_um"), ".3g", "µm")),
        ("field of view (w × h)", f"{fov['width']:.3g} × {fov['height']:.3g} mm ({p.acquisition.geometry})"
         if fov else "—"),
        ("projections × stages", f"{v['n_projections']} × {v['stages']}"),
        ("sub-frame time", f"{v['subframe_time_s'] * 1e3:.3g} ms × {p.acquisition.subframes}"
         + (" (chosen for target fill)" if v.get("subframe_time_chosen") else "")),
        ("dose rate (depth avg.)", _fmt(v.get("dose_rate_Gy_per_s"), ".3g", "Gy/s")),
        ("total dose", _fmt(v.get("dose_Gy"), ".3g", "Gy")),
        ("scan time", _fmt(v.get("scan_time_h"), ".2f", "h")),
    ]
    return rows


def _summary_figure(result):
    v, p = result.values, result.plan
    d = v.get("detector")
    if d:
        fig, (ax, tx) = new_figure(1, 2, width_in=10.5, height_in=4.6,
                                   gridspec_kw={"width_ratios": [1, 1.6]})
        vals = [100 * d["fill_fraction"], 100 * d["sample_fill_fraction"]]
        bars = ax.bar(["flat field", "behind sample"], vals,
                      color=["tab:red" if x > 100 else plan_colour(0) for x in vals], width=0.6)
        ax.axhline(100, c="k", lw=1, label="full well")
        ax.axhline(100 * p.target_fill, c="gray", ls="--", lw=1,
                   label=f"target fill {p.target_fill:.0%}")
        ax.bar_label(bars, labels=[f"{x:.3g} %" for x in vals], padding=2)
        ax.set_ylim(0, 1.25 * max(100, *vals))
        ax.set_ylabel(label("signal per sub-frame", "% of full well"))
        ax.set_title("Detector dynamic range")
        ax.legend(loc="upper right")
    else:
        fig, tx = new_figure(1, 1, width_in=7.0, height_in=4.6)
    tx.axis("off")
    rows = _summary_rows(result)
    notes = [textwrap.fill(f"! {w}", 70) for w in result.warnings]
    note_lines = sum(n.count("\n") + 1 for n in notes)
    bottom = min(0.6, 0.07 * note_lines)
    with style():
        table = tx.table(cellText=[[a, b] for a, b in rows], cellLoc="left",
                         colWidths=[0.52, 0.48], bbox=[0, bottom, 1, 1 - bottom])
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        if notes:
            tx.text(0, bottom - 0.02, "\n".join(notes), va="top", ha="left", fontsize=7,
                    color="tab:red", transform=tx.transAxes)
    tx.set_title("Predicted values" + (f"; {len(notes)} warning{'s' if len(notes) > 1 else ''}"
                                       " below" if notes else ""))
    figure_title(fig, f"summary on {p.beamline.name}", p.name)
    return fig


def plan_figures(result) -> dict:
    """The figures of one evaluated plan: ``{"spectra", "transmission", "summary"}`` →
    matplotlib Figure."""
    return {"spectra": _spectra_figure(result), "transmission": _transmission_figure(result),
            "summary": _summary_figure(result)}


def plot_plan(result, out_dir) -> list[Path]:
    """Write ``<name>_spectra.png``, ``<name>_transmission.png`` and ``<name>_summary.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = _safe(result.plan.name)
    return [save_figure(fig, out / f"{name}_{kind}.png")
            for kind, fig in plan_figures(result).items()]


# --- the sweep --------------------------------------------------------------------------------

def _layer_text(layer) -> str:
    return f"{layer.material.name} {layer.thickness_m * 1e3:.3g} mm"


def _common_layers(spec) -> list:
    """Layer labels present in every filter set of the sweep (the sweep's base)."""
    sets = [[_layer_text(l) for l in layers] for _, layers in spec.filters]
    return [t for t in sets[0] if all(t in s for s in sets[1:])] if sets else []


def _set_label(text: str, base: list) -> str:
    return f"{' + '.join(base)} only" if text == "base only" and base else text


def pareto_front(dose, cnr) -> np.ndarray:
    """Indices of the points no other point beats on both lower dose and higher CNR, in
    order of dose."""
    dose, cnr = np.asarray(dose, float), np.asarray(cnr, float)
    order = np.lexsort((-cnr, dose))
    front, best = [], -np.inf
    for i in order:
        if cnr[i] > best:
            front.append(i)
            best = cnr[i]
    return np.asarray(front, dtype=int)


def sweep_figure(result, goal: str):
    """CNR against dose for every variant (feasible ones coloured by their mean detected
    energy, the Pareto front joined and labelled with filter sets, excluded ones faint by
    reason, the best by ``goal`` annotated) and, for the best variant's filter set, CNR over
    propagation distance × sub-frame time with the colour range of the feasible values."""
    from matplotlib.colors import LogNorm, Normalize

    spec, cols = result.spec, result.columns
    F, D, T = len(spec.filters), spec.distances_m.size, spec.subframe_times_s.size
    ranked = result.ranked(goal)
    base = _common_layers(spec)
    fig, (ax, bx) = new_figure(1, 2, width_in=12.5, height_in=5.2)
    dose = np.asarray(cols["dose_Gy"], float)
    cnr = np.asarray(cols["cnr"], float)
    ok = result.feasible
    reasons = [r for r in dict.fromkeys(result.reasons) if r]
    for k, why in enumerate(reasons):
        sel = (result.reasons == why) & np.isfinite(cnr) & (cnr > 0) & (dose > 0)
        ax.scatter(dose[sel], cnr[sel], s=4, color=f"C{(k + 3) % 10}", alpha=0.12,
                   linewidths=0, label=f"excluded: {why} ({int((result.reasons == why).sum())})")
    energy = np.asarray(cols["mean_detected_energy_keV"], float)
    pts = ax.scatter(dose[ok], cnr[ok], s=9, c=energy[ok], cmap="viridis", linewidths=0,
                     label=f"feasible ({int(ok.sum())})", gid="feasible")
    if ok.any():
        colourbar(pts, ax, "mean detected energy", "keV")
        idx = np.flatnonzero(ok)
        front = idx[pareto_front(dose[ok], cnr[ok])]
        ax.plot(dose[front], cnr[front], "-", color="k", lw=1.0, zorder=4,
                label=f"Pareto front ({front.size})")
        # the front's filter sets, each with its own marker, named in the legend
        labels = cols["filters"]
        sets = list(dict.fromkeys(labels[front]))
        for k, lab in enumerate(sets[:6]):
            on = front[labels[front] == lab]
            ax.scatter(dose[on], cnr[on], s=30, marker="osD^vP"[k], facecolors="none",
                       edgecolors="k", linewidths=0.9, zorder=6,
                       label=f"front: {_set_label(lab, base)}")
    if ranked.size:
        b = ranked[0]
        ax.scatter([dose[b]], [cnr[b]], marker="*", s=220, c="r", edgecolors="k", zorder=7,
                   clip_on=False, label=f"best by {goal}")
        text = (f"best by {goal}:\n{_set_label(cols['filters'][b], base)}\n"
                f"z2 {cols['propagation_distance_m'][b]:.3g} m, "
                f"t_sub {cols['subframe_time_s'][b] * 1e3:.3g} ms\n"
                f"CNR {cnr[b]:.3g}, {dose[b]:.3g} Gy, {cols['scan_time_h'][b]:.2g} h")
        ax.text(0.02, 0.98, text, transform=ax.transAxes, va="top", ha="left", fontsize=7,
                bbox={"boxstyle": "round", "fc": "w", "ec": "0.6", "alpha": 0.9}, zorder=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.margins(0.08)
    ax.set_xlabel(label("dose to tissue", "Gy"))
    ax.set_ylabel(label("tomographic CNR per voxel", "1"))
    head = f"{spec.size} variants, {int(ok.sum())} feasible"
    if base:
        head += f"; every filter set includes {' + '.join(base)}"
    ax.set_title(textwrap.fill(head, 55))
    ax.legend(loc="lower right", markerscale=1.2, fontsize=6.5)
    if ranked.size:
        f = ranked[0] // (D * T)
        grid = cnr.reshape(F, D, T)[f]
        fine = ok.reshape(F, D, T)[f] & np.isfinite(grid) & (grid > 0)
        masked = np.ma.masked_where(~fine, grid)
        lo, hi = float(grid[fine].min()), float(grid[fine].max())
        norm = LogNorm(lo, hi) if hi > 1.5 * lo else Normalize(lo, hi if hi > lo else lo * 1.01)
        import matplotlib
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.88")
        im = bx.pcolormesh(spec.subframe_times_s * 1e3, spec.distances_m, masked,
                           shading="nearest", cmap=cmap, norm=norm)
        colourbar(im, bx, "tomographic CNR per voxel", "1")
        why = result.reasons.reshape(F, D, T)[f]
        for reason in [r for r in dict.fromkeys(why.ravel()) if r]:
            jj, tt = np.nonzero(why == reason)
            jm, tm = int(round(jj.mean())), int(round(tt.mean()))
            bx.text(spec.subframe_times_s[tm] * 1e3, spec.distances_m[jm], reason,
                    ha="center", va="center", fontsize=8, color="0.3", rotation=90)
        j, t = divmod(ranked[0] % (D * T), T)
        bx.plot(spec.subframe_times_s[t] * 1e3, spec.distances_m[j], "r*", ms=14, mec="k",
                clip_on=False, zorder=5)
        if T > 1 and spec.subframe_times_s[-1] / spec.subframe_times_s[0] > 20:
            bx.set_xscale("log")
        if D > 1 and spec.distances_m[0] > 0 and spec.distances_m[-1] / spec.distances_m[0] > 20:
            bx.set_yscale("log")
        bx.set_xlabel(label("sub-frame time", "ms"))
        bx.set_ylabel(label("propagation distance z2", "m"))
        bx.set_title(textwrap.fill(f"filters {_set_label(spec.filters[f][0], base)}; "
                                   "grey: excluded", 60))
    else:
        bx.axis("off")
        bx.text(0.5, 0.5, "no variant meets the budgets", ha="center", va="center",
                transform=bx.transAxes)
    figure_title(fig, f"plan sweep, best by {goal}", result.plan_name)
    return fig


def plot_sweep(result, goal: str, out_dir) -> list[Path]:
    """Write ``<name>_sweep.png`` (see :func:`sweep_figure`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [save_figure(sweep_figure(result, goal), out / f"{result_name(result)}_sweep.png")]


def result_name(result) -> str:
    """The file-name form of a sweep's plan name."""
    return _safe(getattr(result, "plan_name", "plan"))
