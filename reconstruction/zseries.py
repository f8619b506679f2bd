"""Z-series: stages of a tall sample reconstructed and stitched into one volume.

Inputs whose sample heights differ are stages of a z-series. The height of each input
comes, in this order, from ``--z-positions``, the file (NXtomo ``sample/z_translation``) or
the plan (``stages`` and ``vertical_step``, inputs given from the top down). Following
nabu's convention a larger ``z_translation`` images a higher part of the sample, so stages
are ordered by decreasing height and the highest is the top of the volume (smallest z
index); inputs may be given in any order. Inputs at the same height are the rotations of
one stage (two for quarter acquisition), taken in the order of their file names (so two
``--cor`` values apply to every stage's rotations in that order; one value per input
follows the command line).

Each stage is reconstructed by the single-scan reconstruction the caller passes in
(:func:`~hipct.reconstruction.pipeline.reconstruct`, so
180°, half and quarter acquisition, ``--cor`` per stage or ``auto``, the memory budget and
dask work as for one scan) into a float32 volume in a hidden staging folder beside the
output; ``--resume`` keeps the stages already finished. The volumes are then placed and
blended:

* **placement**: stage ``k`` starts ``(z_top − z_k) / voxel`` rows below the top stage
  (fractional offsets are interpolated linearly along z);
* **refinement** (optional): each offset is corrected by the shift, within a few rows, that
  minimises the mean squared difference of the mean-removed overlap of neighbouring
  stages (slices smoothed in-plane, σ = 2 voxels, against noise), to a fraction of a row
  by a parabola through the three best shifts; it needs structure that changes along z;
* **intensity**: each stage is shifted by the median difference to the stage above in
  their overlap (an additive offset, as local tomography and beam drift leave; the top
  stage is the reference);
* **blending**: in an overlap of ``L`` rows the upper stage's weight falls linearly,
  ``(L − j) / (L + 1)``, and the lower's rises, ``(j + 1) / (L + 1)``, for ``j = 0 … L−1``
  (weights normalised to sum to one).

The output's z translation is the top stage's; the z axis points down the sample
(``z = −z_translation`` at the detector's middle row), so z index and z coordinate grow
together.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hipct import __version__
from hipct.errors import HipctError
from hipct.files import write_text_atomic

from .io.readers import file_checksum, open_scan

__all__ = ["Stage", "plan_stages", "stage_offsets", "blend_weights", "refine_offset",
           "reconstruct_zseries"]

_log = logging.getLogger(__name__)
_SAME_HEIGHT_M = 1e-8        # inputs closer than 10 nm in height belong to one stage


@dataclass
class Stage:
    """One height of a z-series: its inputs (rotations), height (m) and their positions
    among the command line's inputs."""

    inputs: list
    z_m: float | None
    index: list                      # positions of the inputs on the command line


def plan_stages(params, scans=None) -> list:
    """The stages of ``params.inputs``, highest first (one stage when all heights agree).

    Heights come from ``params.z_positions_m`` (one per input), the files'
    ``sample/z_translation`` or the plan's ``stages`` and ``vertical_step`` (inputs listed
    from the top down, the plan's scans per stage each), in that order.
    """
    inputs = list(params.inputs)
    n = len(inputs)
    z = None
    if params.z_positions_m is not None:
        z = [float(v) for v in params.z_positions_m]
        if len(z) != n:
            raise HipctError(f"--z-positions: {len(z)} value(s) for {n} input(s); give one "
                             "height per input (mm)")
    else:
        scans = scans if scans is not None else [open_scan(p) for p in inputs]
        found = [s.z_translation_m for s in scans]
        if all(v is not None for v in found):
            z = found
        elif any(v is not None for v in found):
            missing = [s.path for s, v in zip(scans, found) if v is None]
            raise HipctError(f"inputs: {missing[0]} records no sample/z_translation while "
                             "others do; give --z-positions")
        else:
            z = _plan_heights(params, n)
    if z is None:
        return [Stage(inputs, None, list(range(n)))]
    order = sorted(range(n), key=lambda i: -z[i])
    stages: list = []
    for i in order:
        if stages and abs(stages[-1].z_m - z[i]) < _SAME_HEIGHT_M:
            stages[-1].inputs.append(inputs[i])
            stages[-1].index.append(i)
        else:
            stages.append(Stage([inputs[i]], z[i], [i]))
    for st in stages:                   # rotations of a stage in the order of their names
        pairs = sorted(zip(st.index, st.inputs), key=lambda p: (Path(p[1]).name, p[0]))
        st.index, st.inputs = [p[0] for p in pairs], [p[1] for p in pairs]
    sizes = {len(s.inputs) for s in stages}
    if len(sizes) > 1 or max(sizes) > 2:
        raise HipctError("inputs: stages have " + "/".join(str(len(s.inputs)) for s in stages)
                         + " inputs; each stage takes one scan (180°, half) or two rotations "
                         "(quarter) at the same height")
    return stages


def _plan_heights(params, n):
    plan = params.plan
    if plan is None:
        return None
    n_stages, step_m = plan.stages, plan.vertical_step_m
    per = plan.scans_per_stage                             # 2 in quarter acquisition
    if n_stages < 2 or not step_m or n != n_stages * per:
        return None
    return [-(i // per) * step_m for i in range(n)]


def stage_offsets(origins_z_um, voxel_um: float) -> np.ndarray:
    """Rows from the top stage's first slice to each stage's first slice."""
    z = np.asarray(origins_z_um, dtype=np.float64)
    return (z - z[0]) / voxel_um


def blend_weights(heights, offsets) -> list:
    """Per stage, a function ``j -> weight`` of its local row (linear ramps over overlaps)."""
    heights = list(heights)
    offsets = [float(o) for o in offsets]
    funcs = []
    for k, (h, o) in enumerate(zip(heights, offsets)):
        top = offsets[k - 1] + heights[k - 1] - o if k > 0 else 0.0
        bottom = o + h - offsets[k + 1] if k + 1 < len(heights) else 0.0
        top, bottom = max(top, 0.0), max(bottom, 0.0)

        def w(j, h=h, top=top, bottom=bottom):
            j = np.asarray(j, dtype=np.float64)
            return np.minimum.reduce([np.ones_like(j), (j + 1) / (top + 1),
                                      (h - j) / (bottom + 1)])
        funcs.append(w)
    return funcs


def _rows_at(vol, pos):
    """Rows of ``vol`` (an array or HDF5 dataset) at fractional positions ``pos`` (linear)."""
    pos = np.asarray(pos, dtype=np.float64)
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, vol.shape[0] - 1)
    i1 = np.minimum(i0 + 1, vol.shape[0] - 1)
    lo, hi = int(i0.min()), int(i1.max()) + 1
    block = np.asarray(vol[lo:hi], dtype=np.float32)
    f = (pos - i0).astype(np.float32)[:, None, None]
    a, b = block[i0 - lo], block[i1 - lo]
    return a if np.all(f == 0) else a * (1 - f) + b * f


def refine_offset(upper, lower, nominal: float, max_shift: int | None = None,
                  smooth_px: float = 2.0):
    """Offset (rows) of ``lower`` below ``upper``'s first row that best matches the overlap.

    ``upper`` and ``lower`` are ``(z, y, x)`` arrays (or the overlapping rows of them);
    ``nominal`` the offset from the stage positions. Shifts ``s`` in ``±max_shift`` rows
    (default: up to 10, leaving at least 3 rows in common) are scored by the mean squared
    difference of the mean-removed overlaps, each slice first smoothed in-plane by a
    Gaussian of ``smooth_px`` voxels (σ); the best
    integer shift is refined by a parabola through its neighbours.

    Returns
    -------
    (float, float)
        The refined offset and the shift from ``nominal`` (rows).
    """
    from scipy.ndimage import gaussian_filter

    # in-plane smoothing keeps the structure along z, which sets the offset, and averages
    # the reconstruction noise of each slice down
    upper = gaussian_filter(np.asarray(upper, np.float32), (0, smooth_px, smooth_px))
    lower = gaussian_filter(np.asarray(lower, np.float32), (0, smooth_px, smooth_px))
    h_up, h_low = upper.shape[0], lower.shape[0]
    overlap = h_up - nominal
    if overlap < 4:
        raise HipctError(f"--refine-z: stages overlap by {overlap:.1f} rows; at least 4 are "
                         "needed to correlate them")
    if max_shift is None:
        max_shift = max(1, min(10, int(overlap) - 3))
    costs = {}
    for s in range(-max_shift, max_shift + 1):
        start = nominal + s
        j = np.arange(h_low)
        pos = start + j
        ok = (pos >= 0) & (pos <= h_up - 1)
        if ok.sum() < 2:
            continue
        a = _rows_at(upper, pos[ok]).astype(np.float64)
        b = np.asarray(lower[int(j[ok][0]):int(j[ok][-1]) + 1], dtype=np.float64)
        d = (a - a.mean()) - (b - b.mean())
        costs[s] = float(np.mean(d * d))
    best = min(costs, key=costs.get)
    frac = 0.0
    if best - 1 in costs and best + 1 in costs:
        c0, c1, c2 = costs[best - 1], costs[best], costs[best + 1]
        den = c0 - 2 * c1 + c2
        if den > 0:
            frac = float(np.clip(0.5 * (c0 - c2) / den, -0.5, 0.5))
    shift = best + frac
    return nominal + shift, shift


def _split_cor(cor, stages, n_inputs):
    if cor is None:
        return [None] * len(stages)
    per = len(stages[0].inputs)
    if len(cor) == n_inputs:
        return [[cor[i] for i in st.index] for st in stages]
    if len(cor) == per:
        return [list(cor) for _ in stages]
    raise HipctError(f"--cor: {len(cor)} value(s) for {len(stages)} stages of {per} input(s); "
                     f"give {per} (the same for every stage) or {n_inputs} (one per input)")


def reconstruct_zseries(params, stages, progress: bool, reconstruct_stage) -> dict:
    """Reconstruct the ``stages`` (see :func:`plan_stages`) into one volume.

    Parameters
    ----------
    params : ReconParams
        As for :func:`~hipct.reconstruction.pipeline.reconstruct`; ``refine_z`` turns on
        the offset refinement.
    stages : list of Stage
        Highest first.
    progress : bool
        Show progress bars.
    reconstruct_stage : callable
        ``(params, progress) -> summary`` reconstructing one stage (its inputs at one
        height) into ``params.output``, as :func:`~hipct.reconstruction.pipeline.reconstruct`
        does.

    Returns
    -------
    dict
        The summary: ``output``, ``shape_zyx``, ``voxel_size_um``, ``origin_um``, ``cor``
        (every input's axis column, stage by stage), and ``stages`` (per stage: inputs,
        height, offset in rows, refined shift, intensity offset).
    """
    from .io.output_guard import OutputLock, check_output_path, read_marker

    out = check_output_path(params.output, [p for st in stages for p in st.inputs])
    if out.exists() or out.is_symlink():
        if params.overwrite and read_marker(out) is None:
            raise HipctError(f"--overwrite: {out} is not an output hipct wrote; it is left "
                             "untouched: give another --output")
        if not (params.overwrite or params.resume):
            raise HipctError(f"output: {out} exists; remove it or give --overwrite")
    work = out.parent / f".{out.name}.stages"
    with OutputLock(work):             # one run at a time stages the z-series of NAME
        return _stitch(params, stages, progress, out, work, reconstruct_stage)


def _stitch(params, stages, progress: bool, out: Path, work: Path, reconstruct) -> dict:
    """Reconstruct each stage into ``work`` (HDF5, resumable) and stitch them into ``out``."""
    import h5py

    from .io.writers import open_writer, to_uint16, uint16_window

    if work.exists() and not params.resume:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    cors = _split_cor(params.cor, stages, len(params.inputs))

    first = open_scan(stages[0].inputs[0])
    if params.origin_um is not None:
        base = tuple(float(v) for v in params.origin_um)
    else:
        yx = first.position_m[1:] if first.position_m is not None else (0.0, 0.0)
        base = (-stages[0].z_m * 1e6, yx[0] * 1e6, yx[1] * 1e6)

    summaries = []
    width = params.width
    for k, st in enumerate(stages):
        vol = work / f"stage_{k:02d}.h5"
        record = work / f"stage_{k:02d}.json"
        origin = (base[0] + (stages[0].z_m - st.z_m) * 1e6, base[1], base[2])
        sp = dataclasses.replace(
            params, inputs=list(st.inputs), output=str(vol), cor=cors[k], fmt="hdf5",
            dtype="float32", window=None, width=width, origin_um=origin, z_positions_m=None,
            refine_z=False, overwrite=True, plan=params.plan, preview=None)
        if params.resume and record.exists() and vol.exists():
            summary = json.loads(record.read_text())
        else:
            _log.info("stage %d/%d: %s", k + 1, len(stages), ", ".join(map(str, st.inputs)))
            summary = reconstruct(sp, progress=progress)
            write_text_atomic(record, json.dumps(summary, default=float))
        summaries.append(summary)
        width = summary["slice_width"]

    voxel_um = summaries[0]["voxel_size_um"]
    shapes = [tuple(s["shape_zyx"]) for s in summaries]
    if any(s[1:] != shapes[0][1:] for s in shapes) or any(
            abs(s["voxel_size_um"] / voxel_um - 1) > 1e-6 for s in summaries):
        raise HipctError("inputs: the stages differ in voxel size or slice size; give the "
                         "same --pixel-size, --bin and --roi for every stage")
    heights = [s[0] for s in shapes]
    nominal = stage_offsets([s["origin_um"][0] for s in summaries], voxel_um)
    for k in range(1, len(stages)):
        gap = nominal[k] - (nominal[k - 1] + heights[k - 1])
        if gap > 1e-6:
            raise HipctError(f"stages: {stages[k - 1].inputs[0]} and {stages[k].inputs[0]} "
                             f"leave a gap of {gap:.1f} rows (step larger than the field "
                             "of view); check the heights or --z-positions")

    files = [h5py.File(work / f"stage_{k:02d}.h5", "r") for k in range(len(stages))]
    try:
        vols = [f["volume"] for f in files]
        offsets = nominal.copy()
        shifts = [0.0] * len(stages)
        ny, nx = shapes[0][1:]
        # rows of the overlaps read for refinement and levelling: within the budget
        max_rows = max(4, int(params.memory_bytes // (8 * 4 * ny * nx)))
        if params.refine_z:
            for k in range(1, len(stages)):
                d = nominal[k] - nominal[k - 1]
                lo = max(0, int(math.floor(d)) - 12)
                up = vols[k - 1][lo:][:max_rows]
                low = vols[k][:min(heights[k], heights[k - 1] - lo + 12, max_rows)]
                found, shift = refine_offset(up, low, d - lo)
                offsets[k] = offsets[k - 1] + found + lo
                shifts[k] = float(offsets[k] - nominal[k])
        levels = [0.0] * len(stages)
        for k in range(1, len(stages)):
            d = offsets[k] - offsets[k - 1]
            n_ov = int(min(heights[k], math.floor(heights[k - 1] - 1 - d) + 1, max_rows))
            if n_ov < 1:
                levels[k] = levels[k - 1]
                continue
            a = _rows_at(vols[k - 1], d + np.arange(n_ov))
            b = np.asarray(vols[k][:n_ov], dtype=np.float32)
            levels[k] = levels[k - 1] + float(np.median(a - b))

        nz = int(math.floor(max(o + h - 1 for o, h in zip(offsets, heights)) + 1e-6)) + 1
        weights = blend_weights(heights, offsets)
        slab = max(1, min(nz, int(params.memory_bytes // (4 * 4 * ny * nx))))
        if slab >= 128:
            slab -= slab % 128

        def make(z0, z1):
            r = np.arange(z0, z1, dtype=np.float64)
            acc = np.zeros((z1 - z0, ny, nx), np.float64)
            wsum = np.zeros(z1 - z0)
            for k in range(len(stages)):
                j = r - offsets[k]
                ok = (j >= -1e-6) & (j <= heights[k] - 1 + 1e-6)
                if not ok.any():
                    continue
                jj = np.clip(j[ok], 0, heights[k] - 1)
                w = weights[k](jj)
                acc[ok] += (_rows_at(vols[k], jj) + levels[k]) * w[:, None, None]
                wsum[ok] += w
            if np.any(wsum == 0):
                raise HipctError("stages: rows without data between stages")
            return (acc / wsum[:, None, None]).astype(np.float32)

        window = params.window
        if params.dtype == "uint16" and window is None:
            window = uint16_window(make(nz // 2, nz // 2 + 1))

        origin0 = tuple(summaries[0]["origin_um"])
        stage_info = [{"inputs": st.inputs, "z_m": st.z_m, "cor": s["cor"],
                       "offset_rows": float(o), "refined_shift_rows": sh,
                       "intensity_offset_per_cm": lv, "rows": h}
                      for st, s, o, sh, lv, h in zip(stages, summaries, offsets, shifts,
                                                     levels, heights)]
        resolved = {k: v for k, v in summaries[0].items()
                    if k not in ("output", "shape_zyx", "cor", "origin_um", "chunk_rows")}
        resolved.update({
            "dtype": params.dtype, "intensity_window_per_cm": window, "origin_um": list(origin0),
            "stages": stage_info, "refine_z": bool(params.refine_z),
            "z_blending": "linear ramps over each overlap, weights summing to one; additive "
                          "intensity levelling by the median overlap difference"})
        attrs = {"hipct": {
            "version": __version__, "command": params.command,
            "inputs": [{"path": str(p), "sha256": file_checksum(open_scan(p).files)}
                       for st in stages for p in st.inputs],
            "parameters": resolved, "plan": params.plan.report if params.plan else None,
            "units": "1/cm (linear attenuation; after Paganin: attenuation-equivalent)",
            "conventions": "axes z,y,x; z down the sample (z = -z_translation at the "
                           "detector's middle row); slice grid centred on the rotation axis",
        }}
        out_dtype = np.uint16 if params.dtype == "uint16" else np.float32
        writer = open_writer(params.fmt, out, (nz, ny, nx), out_dtype, attrs,
                             voxel_um=voxel_um, origin_um=origin0, resume=params.resume,
                             overwrite=params.overwrite, chunk_z=min(128, slab))
        try:
            from tqdm.auto import tqdm

            from .preview import MidPlanes, write_previews
            planes = MidPlanes((nz, ny, nx), window if params.dtype == "uint16" else None)
            bar = tqdm(total=nz, unit="slice", desc="stitch", disable=not progress,
                       file=sys.stderr)
            for z0 in range(0, nz, slab):
                z1 = min(z0 + slab, nz)
                if not writer.is_done(z0, z1):
                    block = make(z0, z1)
                    if params.dtype == "uint16":
                        block = to_uint16(block, window)
                    writer.write(z0, block)
                    planes.add(z0, block)
                bar.update(z1 - z0)
            bar.close()
            previews = ([] if writer.complete else
                        write_previews(writer, planes, params, voxel_um, pixel_known=True))
            writer.finalise()
        finally:
            writer.abandon()           # the lock, also when a step fails
    finally:
        for f in files:
            f.close()
    shutil.rmtree(work, ignore_errors=True)
    return {"output": str(out), "shape_zyx": [nz, ny, nx], "voxel_size_um": voxel_um,
            "origin_um": list(origin0), "cor": [c for s in summaries for c in s["cor"]],
            "cor_source": summaries[0]["cor_source"], "slice_width": width,
            "stages": stage_info, "previews": previews}
