"""The memory model of a reconstruction: what a run holds at once, against ``--memory``.

A run has two phases that never overlap:

* **slabs**: the Fourier back-projector's factors and per-thread plans (for the whole run),
  then per slab of ``chunk_rows`` output slices: a batch of raw projections with the
  convolution margins in several float32 working copies, the sinograms of every frame
  (three float32 copies), the slab's slices (the FBP result and its 1/cm copy), the uint16
  copy when the output is uint16 (converted in bounded pieces), the writer's encoding
  buffers, and the preview's three mid-planes (drawn at most 2048 px wide);
* **pyramid**: once the slabs are written and the back-projector is released, the OME-Zarr
  levels are made tile by tile, each tile sized by :func:`pyramid_tile_rows` to fit the
  budget.

``--memory`` bounds the sum of these; the process needs on top of it a fixed interpreter
overhead (Python, numpy, scipy, numba, finufft, zarr, h5py, matplotlib loaded: measured
by ``benchmarks/reconstruct_memory.py``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from hipct.errors import HipctError

from .fbp_fourier import FourierBackprojector, available_threads
from .io.writers import PYRAMID_BYTES_PER_VOXEL, UINT16_PIECE_VOXELS, pyramid_tile_rows

__all__ = ["MemoryPlan", "plan_memory", "estimate_chunk_rows", "describe", "WORK_COPIES",
           "BACKPROJECTOR_SHARE"]

WORK_COPIES = 6            # float32 copies of a projection batch alive at once (raw, I/I0, FFT…)
BACKPROJECTOR_SHARE = 0.6  # at most this part of the budget goes to the back-projector's plans
_ZARR_CHUNKS = 10          # zarr encodes up to 10 chunks at once (its async.concurrency)


def _slab_terms(n_frames, n_cols, slice_px, margin_rows, binning, out_itemsize, batch=64,
                detector_rows=None):
    # the margins are rows read from the neighbours: never more than the detector has
    margin_read = 2 * margin_rows + 1 if detector_rows is None else \
        min(2 * margin_rows + 1, max(1, detector_rows // binning))
    fixed = 4.0 * WORK_COPIES * batch * n_cols * binning * margin_read * binning
    per_row = 4.0 * (3 * n_frames * n_cols + WORK_COPIES * batch * n_cols * binning * binning
                     + 2 * slice_px)
    if out_itemsize != 4:
        per_row += float(out_itemsize) * slice_px
    return fixed, per_row


def _slab_bytes(n_frames, n_cols, slice_px, margin_rows, binning, out_itemsize, rows,
                detector_rows=None):
    fixed, per_row = _slab_terms(n_frames, n_cols, slice_px, margin_rows, binning, out_itemsize,
                                 detector_rows=detector_rows)
    return fixed + rows * per_row


def estimate_chunk_rows(n_frames: int, n_cols: int, slice_px: int, margin_rows: int,
                        budget_bytes: float, binning: int = 1, batch: int = 64,
                        out_itemsize: int = 4, extra_row_bytes: float = 0.0,
                        detector_rows: int | None = None) -> int:
    """Output rows per chunk that keep the slab working set under ``budget_bytes``.

    Fixed cost: a batch of ``batch`` projections with the convolution margins, in
    :data:`WORK_COPIES` float32 copies. Per output row: the sinograms of every frame (three
    float32 copies: the stack, the ring-corrected or merged copy, and in a distributed run
    the batches dask keeps until the slab is made), the raw rows of one batch, two float32
    slices (the FBP result and its 1/cm copy) and, for uint16 output (``out_itemsize`` 2),
    the uint16 slice; plus ``extra_row_bytes`` (the writer's buffers, up to 128 rows). The
    margins read are at most the ``detector_rows`` there are (beyond, Paganin pads each
    projection on its own).
    """
    fixed, per_row = _slab_terms(n_frames, n_cols, slice_px, margin_rows, binning,
                                 out_itemsize, batch, detector_rows)
    per_row += extra_row_bytes
    rows = int((budget_bytes - fixed) // per_row)
    if rows < 1:
        need = (fixed + per_row) / 1e9
        raise HipctError(f"--memory: {budget_bytes / 1e9:.2f} GB is too small for this scan "
                         f"(one slice needs about {need:.2f} GB)")
    return rows


@dataclass(frozen=True)
class MemoryPlan:
    """What one reconstruction holds at once (bytes) and the sizes chosen to fit
    ``budget_bytes``; see the module docstring."""

    budget_bytes: float
    fbp_threads: int | None
    backprojector_bytes: float
    chunk_rows: int
    slab_bytes: float            # projections, sinograms and slices of one slab
    uint16_bytes: float          # the conversion's float64 pieces and the window's copy
    writer_bytes: float          # zarr's chunk buffers
    preview_bytes: float         # the three mid-planes
    pyramid_bytes: float         # the largest pyramid tile's working set

    @property
    def slab_phase_bytes(self) -> float:
        return (self.backprojector_bytes + self.slab_bytes + self.uint16_bytes
                + self.writer_bytes + self.preview_bytes)

    @property
    def peak_bytes(self) -> float:
        """The larger of the two phases (slabs; pyramid)."""
        return max(self.slab_phase_bytes, self.pyramid_bytes + self.preview_bytes)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["peak_bytes"] = self.peak_bytes
        return d


def plan_memory(*, budget_bytes: float, n_frames: int, n_angles: int, n_cols_binned: int,
                slice_width: int, shape_yx: tuple, nz: int, margin_rows: int, binning: int,
                fbp_method: str, dtype: str, fmt: str, max_threads: int | None = None,
                detector_rows: int | None = None) -> MemoryPlan:
    """Choose the back-projector's threads and the slab height for ``budget_bytes``.

    The Fourier back-projector's factors and plans live as long as the run: they are counted
    first, with as many threads (one plan each) as fit in :data:`BACKPROJECTOR_SHARE` of the
    budget. The fixed costs (uint16 pieces, zarr buffers, preview planes) come off next; the
    rest sets the slab height (:func:`estimate_chunk_rows`).
    """
    ny, nx = shape_yx
    itemsize = 2 if dtype == "uint16" else 4
    # uint16: the conversion's float64 pieces, and the automatic window's mask and copy of
    # one slice's finite values (5 B per voxel)
    uint16 = (3 * 8.0 * min(UINT16_PIECE_VOXELS, ny * nx * nz) + 5.0 * ny * nx
              if itemsize == 2 else 0.0)
    preview = 4.0 * (ny * nx + nz * nx + nz * ny)
    writer_row = 0.0
    if fmt.startswith("ome-zarr"):
        # zarr encodes up to _ZARR_CHUNKS chunks at once, each a raw copy and its packed
        # bytes; chunks are min(128, slab) slices high and 128² wide
        chunks_xy = math.ceil(ny / 128) * math.ceil(nx / 128)
        writer_row = 2.0 * min(_ZARR_CHUNKS, chunks_xy) * min(128, ny) * min(128, nx) * itemsize
    fixed = uint16 + preview

    def rows_for(bp):
        return min(estimate_chunk_rows(n_frames, n_cols_binned, nx * ny, margin_rows,
                                       budget_bytes - bp - fixed, binning,
                                       out_itemsize=itemsize, extra_row_bytes=writer_row,
                                       detector_rows=detector_rows), nz)
    threads, bp = None, 0.0
    if fbp_method == "fourier":
        def bp_bytes(t):
            return FourierBackprojector.memory_bytes(n_angles, max(slice_width, n_cols_binned),
                                                     max(nx, ny), t)
        top = available_threads(max_threads)
        fitting = [t for t in range(1, top + 1) if bp_bytes(t) <= BACKPROJECTOR_SHARE
                   * budget_bytes]
        if not fitting:
            need = bp_bytes(1)
            raise HipctError(f"--memory: {budget_bytes / 1e9:.2f} GB is too small for the "
                             f"Fourier back-projector of this geometry (it needs "
                             f"{need / 1e9:.2f} GB: give --memory "
                             f"{need / BACKPROJECTOR_SHARE / 1e9:.1f}GB or more, or --fbp "
                             "linear)")
        # the most threads that still leave room for a slab of one row
        for t in reversed(fitting):
            threads, bp = t, bp_bytes(t)
            try:
                rows_for(bp)
                break
            except HipctError:
                if t == fitting[0]:
                    raise
    chunk = rows_for(bp)
    if chunk >= 128:
        chunk -= chunk % 128
    writer = writer_row * min(128, chunk)
    slab = _slab_bytes(n_frames, n_cols_binned, nx * ny, margin_rows, binning, itemsize, chunk,
                       detector_rows)
    pyramid = 0.0
    if fmt.startswith("ome-zarr") and min(nz, ny, nx) >= 64:
        z_out = max(1, min(128, chunk, nz // 2))
        rows = pyramid_tile_rows(budget_bytes - preview, z_out, nx // 2, itemsize,
                                 min(128, ny // 2))
        pyramid = float(z_out) * min(rows, ny // 2) * (nx // 2) * (PYRAMID_BYTES_PER_VOXEL
                                                                   + itemsize)
    return MemoryPlan(float(budget_bytes), threads, bp, int(chunk), slab, uint16, writer,
                      preview, pyramid)


def describe(plan: MemoryPlan) -> str:
    """One line for the log."""
    gb = 1e9
    return (f"memory plan: back-projector {plan.backprojector_bytes / gb:.2f} GB "
            f"({plan.fbp_threads or '-'} thread(s)), slab of {plan.chunk_rows} rows "
            f"{plan.slab_bytes / gb:.2f} GB, uint16 {plan.uint16_bytes / gb:.2f} GB, writer "
            f"{plan.writer_bytes / gb:.2f} GB, preview {plan.preview_bytes / gb:.2f} GB; "
            f"pyramid {plan.pyramid_bytes / gb:.2f} GB; peak {plan.peak_bytes / gb:.2f} of "
            f"{plan.budget_bytes / gb:.2f} GB (+ interpreter)")

