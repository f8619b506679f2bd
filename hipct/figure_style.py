"""The look of every hipct figure: sizes, fonts, colours per plan, labels with units,
titles naming the plan, colourbars with units, scale bars in µm, common windows.

Figure builders (the planner's, the comparison's, the reconstruction preview) create their
figures with :func:`new_figure` and label them with the helpers here, so all figures read
alike. :func:`figure_problems` checks a drawn figure against these rules (a label with a unit
on every quantitative axis, a colourbar on every image, a title naming the plans, no text
outside the canvas or on top of another); the tests run it on every figure the CLI writes.

Nothing here changes matplotlib's global settings: styles apply inside :func:`style` only.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from hipct.files import apply_umask

__all__ = ["RC", "PLAN_COLOURS", "style", "new_figure", "plan_colour", "label",
           "figure_title", "colourbar", "scale_bar", "common_window", "save_figure",
           "figure_problems"]

#: matplotlib settings of every hipct figure (applied with :func:`style`)
RC = {
    "figure.dpi": 100,
    "savefig.dpi": 110,
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 7.5,
    "legend.framealpha": 0.85,
    "figure.titlesize": 11,
    "axes.grid": False,
    "grid.alpha": 0.3,
    "image.cmap": "gray",
    "figure.constrained_layout.use": True,
}

#: one colour per plan, in the order the plans are given (Okabe & Ito, colour-blind safe)
PLAN_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                "#000000", "#F0E442")


def _plt():
    """pyplot; a process that has not chosen a backend yet (the command line) gets Agg, one
    that has (a notebook, an interactive session) keeps its own."""
    import sys

    import matplotlib
    if "matplotlib.pyplot" not in sys.modules and os.environ.get("MPLBACKEND") is None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


@contextlib.contextmanager
def style():
    """Context in which figures are created with the project's settings (:data:`RC`).

    Only the keys of :data:`RC` are set and restored (``matplotlib.rc_context`` would also
    restore ``interactive``, which IPython switches on when the first figure is made, and so
    stop a notebook from showing later figures)."""
    import matplotlib
    old = {k: matplotlib.rcParams[k] for k in RC}
    matplotlib.rcParams.update(RC)
    try:
        yield
    finally:
        matplotlib.rcParams.update(old)


def new_figure(nrows: int = 1, ncols: int = 1, *, width_in: float = 7.0,
               height_in: float = 4.2, **kw):
    """``(fig, axes)`` in the project's style (constrained layout); ``axes`` as from
    :func:`matplotlib.pyplot.subplots`."""
    plt = _plt()
    with style():
        return plt.subplots(nrows, ncols, figsize=(width_in, height_in), **kw)


def plan_colour(i: int) -> str:
    """The colour of the ``i``-th plan (the same in every figure of a comparison)."""
    return PLAN_COLOURS[i % len(PLAN_COLOURS)]


def label(quantity: str, unit: str) -> str:
    """An axis label ``"quantity (unit)"``; dimensionless quantities use ``unit="1"`` or ``"%"``."""
    return f"{quantity} ({unit})"


def figure_title(fig, what: str, plans) -> None:
    """Figure title ``"PLAN[ vs PLAN…]: what"``, naming every plan shown."""
    names = [plans] if isinstance(plans, str) else list(plans)
    with style():
        fig.suptitle(f"{' vs '.join(names)}: {what}" if names else what)


def colourbar(mappable, ax, quantity: str, unit: str, **kw):
    """A colourbar beside ``ax`` labelled ``quantity (unit)``."""
    with style():
        cb = ax.figure.colorbar(mappable, ax=ax, **kw)
        cb.set_label(label(quantity, unit))
    return cb


def _nice_length(target: float) -> float:
    """The largest 1, 2 or 5 × 10^n not above ``target`` (> 0)."""
    p = 10 ** math.floor(math.log10(target))
    return max(m * p for m in (1, 2, 5) if m * p <= target)


def scale_bar(ax, pixel_um: float, width_px: int, *, colour: str = "w",
              fraction: float = 0.25) -> float:
    """Draw a scale bar in the lower left of an image axes.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes showing an image with ``imshow`` (pixel coordinates).
    pixel_um : float
        Pixel size of the image in µm.
    width_px : int
        Image width in pixels.
    colour : str
        Bar and text colour.
    fraction : float
        The bar is the largest 1, 2 or 5 × 10^n µm not above this fraction of the width.

    Returns
    -------
    float
        The bar's length in µm.
    """
    length_um = _nice_length(fraction * width_px * pixel_um)
    n = length_um / pixel_um
    x0 = 0.06 * width_px
    y_lo, y_hi = ax.get_ylim()                  # y_lo is the bottom edge (image origin: top)
    height = abs(y_hi - y_lo)
    sign = -1 if y_lo > y_hi else 1
    y = y_lo + sign * 0.07 * height
    ax.plot([x0 - 0.5, x0 + n - 0.5], [y, y], color=colour, lw=3, solid_capstyle="butt")
    text = f"{length_um:g} µm" if length_um >= 1 else f"{length_um * 1e3:g} nm"
    with style():
        ax.text(x0 + n / 2, y + sign * 0.03 * height, text, color=colour, ha="center",
                va="bottom", fontsize=7.5)
    ax.set_ylim(y_lo, y_hi)
    return length_um


def common_window(images, percentiles=(1.0, 99.0)) -> tuple[float, float]:
    """One display window ``(lo, hi)`` for images shown side by side: the percentiles of all
    their finite values together."""
    values = np.concatenate([np.asarray(a, dtype=float).ravel() for a in images])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, percentiles)
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0) * 1e-6
    return float(lo), float(hi)


def save_figure(fig, path) -> Path:
    """Write ``fig`` as PNG atomically (beside the target, then renamed: never half-written)
    and close it; returns ``path``."""
    plt = _plt()
    path = Path(path)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        with style():
            fig.savefig(tmp)
        apply_umask(tmp)                           # as an ordinary file, not mkstemp's 0600
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


# --- checking a figure ----------------------------------------------------------------------

_UNIT = re.compile(r"\(([^()]+)\)\s*$")


def _categorical(axis) -> bool:
    """Named ticks (bars of plans, categories) or no tick labels: no unit to state."""
    from matplotlib.category import StrCategoryFormatter
    from matplotlib.ticker import FixedFormatter, FixedLocator, FuncFormatter, NullFormatter
    fmt = axis.get_major_formatter()
    named = isinstance(fmt, (FixedFormatter, FuncFormatter)) \
        and isinstance(axis.get_major_locator(), FixedLocator)
    return (named or isinstance(fmt, (StrCategoryFormatter, NullFormatter))) \
        and not axis.get_label_text()


def _visible_texts(fig, renderer):
    """Every drawn, non-empty Text of ``fig`` with its window extent."""
    from matplotlib.text import Text
    skip = _undrawn_tick_labels(fig)
    out = []
    for t in fig.findobj(Text):
        if id(t) in skip or not t.get_visible() or not t.get_text().strip():
            continue
        if t.axes is not None and not t.axes.get_visible():
            continue
        bb = t.get_window_extent(renderer)
        if bb.width > 0 and bb.height > 0:
            out.append((t, bb))
    return out


def _undrawn_tick_labels(fig) -> set:
    """Ids of tick labels matplotlib does not draw: ticks outside the view, axes switched off."""
    ids = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            tol = 1e-9 * abs(hi - lo)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                loc = tick.get_loc()
                if not ax.axison or loc is None or not lo - tol <= loc <= hi + tol:
                    ids.update((id(tick.label1), id(tick.label2)))
    return ids


def figure_problems(fig, plans=()) -> list[str]:
    """What in a figure breaks the project's rules, as one sentence each.

    Checks every visible axes: x and y labels ending in ``(unit)`` unless the axis is
    categorical (named ticks) or switched off; every image or mesh has a colourbar whose label
    ends in ``(unit)``; the figure's titles name every plan in ``plans``; no drawn text lies
    outside the canvas or overlaps another text (renderer bounding boxes after a draw).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, drawn here (with an Agg canvas if it has none).
    plans : sequence of str
        Names the figure's titles must contain.

    Returns
    -------
    list of str
        The problems found; empty when the figure follows the style.
    """
    from matplotlib.collections import QuadMesh

    problems = []
    if not hasattr(fig.canvas, "get_renderer"):        # e.g. closed in a notebook
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    colourbar_axes = {id(m.colorbar.ax) for ax in fig.axes
                      for m in ax.images + list(ax.collections)
                      if getattr(m, "colorbar", None) is not None}
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        name = ax.get_title() or ax.get_label() or "an axes"
        if id(ax) in colourbar_axes:
            text = ax.get_ylabel() or ax.get_xlabel()
            if not _UNIT.search(text):
                problems.append(f"colourbar of {name!r}: label {text!r} has no (unit)")
            continue
        if ax.axison:
            for which, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
                if _categorical(axis):
                    continue
                text = axis.get_label_text()
                if not _UNIT.search(text):
                    problems.append(f"{name!r}: {which} label {text!r} has no (unit)")
        for im in ax.images + [c for c in ax.collections if isinstance(c, QuadMesh)]:
            if im.colorbar is None:
                problems.append(f"{name!r}: an image without a colourbar")
    titles = [fig.get_suptitle() if hasattr(fig, "get_suptitle")          # matplotlib >= 3.8
              else getattr(fig, "_suptitle", None) and fig._suptitle.get_text() or ""]
    titles += [ax.get_title() for ax in fig.axes]
    joined = " ".join(titles)
    if not joined.strip():
        problems.append("the figure has no title")
    for p in plans:
        if p not in joined:
            problems.append(f"no title names the plan {p!r}")
    canvas = fig.bbox
    texts = _visible_texts(fig, renderer)
    for t, bb in texts:
        if bb.x0 < canvas.x0 - 1 or bb.y0 < canvas.y0 - 1 or bb.x1 > canvas.x1 + 1 \
                or bb.y1 > canvas.y1 + 1:
            problems.append(f"text {t.get_text()!r} runs outside the canvas")
    for i, (t, bb) in enumerate(texts):
        for u, cc in texts[i + 1:]:
            if bb.overlaps(cc):
                ov_w = min(bb.x1, cc.x1) - max(bb.x0, cc.x0)
                ov_h = min(bb.y1, cc.y1) - max(bb.y0, cc.y0)
                if ov_w > 1 and ov_h > 1:
                    problems.append(f"text {t.get_text()!r} overlaps {u.get_text()!r}")
    return problems
