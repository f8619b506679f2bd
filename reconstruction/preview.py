"""A picture to check a reconstruction: three orthogonal mid-slices of the volume.

:class:`MidPlanes` collects the middle axial (z), coronal (y) and sagittal (x) planes from the
slabs as they are written; :func:`preview_figure` shows them side by side in one window with
a colourbar in 1/cm and a scale bar in µm, stating the axis, position and window of each.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hipct.figure_style import (colourbar, common_window, figure_title, new_figure, save_figure,
                                scale_bar)

__all__ = ["MidPlanes", "preview_figure", "write_previews"]

log = logging.getLogger(__name__)


class MidPlanes:
    """The mid-planes ``z = nz // 2``, ``y = ny // 2``, ``x = nx // 2`` of a ``(nz, ny, nx)``
    volume, filled slab by slab (:meth:`add`); rows never added stay NaN."""

    def __init__(self, shape_zyx, window: tuple | None = None):
        nz, ny, nx = (int(s) for s in shape_zyx)
        self.shape = (nz, ny, nx)
        self.index = (nz // 2, ny // 2, nx // 2)
        self.window = window                        # uint16 blocks: map back to 1/cm
        self.axial = np.full((ny, nx), np.nan, np.float32)
        self.coronal = np.full((nz, nx), np.nan, np.float32)
        self.sagittal = np.full((nz, ny), np.nan, np.float32)

    def _values(self, block) -> np.ndarray:
        block = np.asarray(block)
        if self.window is not None and block.dtype == np.uint16:
            lo, hi = self.window
            block = lo + block.astype(np.float32) / np.float32(65535) * np.float32(hi - lo)
        return block

    def read(self, volume) -> None:
        """Take the three planes from an array-like ``(nz, ny, nx)`` volume (e.g. a zarr
        array written by other processes), reading only those planes."""
        zc, yc, xc = self.index
        self.axial[:] = self._values(volume[zc])
        self.coronal[:] = self._values(volume[:, yc, :])
        self.sagittal[:] = self._values(volume[:, :, xc])

    def add(self, z0: int, block) -> None:
        """Take the planes' share of slices ``z0 : z0 + len(block)``."""
        block = np.asarray(block)                   # planes converted one by one, not the slab
        z1 = z0 + block.shape[0]
        zc, yc, xc = self.index
        if z0 <= zc < z1:
            self.axial[:] = self._values(block[zc - z0])
        self.coronal[z0:z1] = self._values(block[:, yc, :])
        self.sagittal[z0:z1] = self._values(block[:, :, xc])

    @property
    def complete(self) -> bool:
        """Whether every slice has been added."""
        return not np.isnan(self.coronal).all(axis=1).any()


_SHOWN_PX = 2048     # a plane is shown at most this many pixels wide (the figure has fewer)


def _shown(img: np.ndarray) -> tuple:
    """``(view, step)``: every ``step``-th pixel of ``img`` along both axes, so the longer side
    has at most :data:`_SHOWN_PX` pixels and the shorter keeps at least 64 (or all it has).

    A strided view costs no memory; plotting a full 14 000² plane would cost matplotlib
    several GB of float copies for a figure a few hundred pixels wide.
    """
    longest, shortest = max(img.shape), min(img.shape)
    step = max(1, min(-(-longest // _SHOWN_PX), shortest // min(shortest, 64)))
    return img[::step, ::step], step


def preview_figure(planes: MidPlanes, voxel_um: float, title: str, unit: str = "1/cm",
                   origin_um=(0.0, 0.0, 0.0)):
    """The three mid-planes in one window (1st–99th percentile of all three) with colourbars
    and scale bars; ``title`` names the plan or output."""
    nz, ny, nx = planes.shape
    zc, yc, xc = planes.index
    views = [(*_shown(planes.axial), f"axial z = {zc}/{nz}", "x", "y"),
             (*_shown(planes.coronal), f"coronal y = {yc}/{ny}", "x", "z"),
             (*_shown(planes.sagittal), f"sagittal x = {xc}/{nx}", "y", "z")]
    lo, hi = common_window([v[0] for v in views])
    fig, axes = new_figure(1, 3, width_in=12.0, height_in=4.4)
    for ax, (img, step, name, horizontal, vertical) in zip(axes, views):
        # a thin slab is stretched vertically to a third of its width, and says so
        stretch = max(1.0, img.shape[1] / (3.0 * max(img.shape[0], 1)))
        im = ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="antialiased",
                       aspect=stretch)
        ax.set_title(f"{name}\n→ {horizontal}, ↓ {vertical}"
                     + (f" (stretched ×{stretch:.3g})" if stretch > 1 else ""))
        ax.axis("off")
        colourbar(im, ax, "attenuation" if unit == "1/cm" else "value", unit, shrink=0.7)
        scale_bar(ax, voxel_um * step, img.shape[1])
    missing = "" if planes.complete else "; slabs not written by this run left blank"
    figure_title(fig, f"mid-slices, window {lo:.3g} to {hi:.3g} {unit}, "
                      f"voxel {voxel_um:.3g} µm{missing}", title)
    return fig


def write_previews(writer, planes: MidPlanes, params, voxel_um: float,
                   pixel_known: bool) -> list:
    """Write the mid-slice preview of a staged output; returns the paths written.

    Always one inside the output (``provenance/preview.png`` of a folder output,
    ``<output>.preview.png`` beside a file), and a copy at ``params.preview`` when given.

    Parameters
    ----------
    writer : the output's writer (its ``payload`` is the staged output)
    planes : MidPlanes
        Filled while the slabs were written; read back from a staged OME-Zarr when slabs
        were written by other processes or an earlier run.
    params : ReconParams
        ``output``, ``fmt``, ``plan`` (for the title) and ``preview``.
    voxel_um : float
        Voxel size for the scale bars.
    pixel_known : bool
        Whether values are in 1/cm (else per pixel).
    """
    name = (params.plan.name if params.plan else None) or Path(params.output).name
    unit = "1/cm" if pixel_known else "per pixel"
    if not planes.complete and params.fmt.startswith("ome-zarr"):
        # slabs written by other processes (dask workers) or an earlier run: read the planes
        import zarr
        planes.read(zarr.open_array(str(Path(writer.payload) / "0"), mode="r"))
    paths = []
    if Path(writer.payload).is_dir():
        folder = Path(writer.payload) / "provenance"
        final = Path(params.output) / "provenance" / "preview.png"
    else:
        folder = Path(params.output).parent
        final = Path(f"{params.output}.preview.png")
    folder.mkdir(parents=True, exist_ok=True)
    save_figure(preview_figure(planes, voxel_um, name, unit), folder / final.name)
    paths.append(str(final))
    if params.preview:
        extra = Path(params.preview)
        extra.parent.mkdir(parents=True, exist_ok=True)
        save_figure(preview_figure(planes, voxel_um, name, unit), extra)
        paths.append(str(extra))
    log.info("preview: %s", ", ".join(paths))
    return paths
