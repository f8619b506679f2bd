"""The reconstruction pipeline: raw scan(s) → flat field → Paganin → unsharp → rings → FBP → volume.

Data flow per vertical chunk of detector rows (chunk height chosen from the memory budget;
each chunk also reads the rows the convolution steps need from its neighbours, so chunked
equals unchunked)::

    read rows (+ margin) ─► dark/flat (angle-interpolated) ─► bin ─► Paganin (−ln) or −ln
      ─► unsharp mask ─► crop margin            [per batch of 64 projections: _Job.part]
      ─► ring removal ─► merge to 180° (half/quarter) ─► FBP ─► 1/cm   [per slab: _Job.slab]
      ─► writer (staged, journalled slab by slab)

The same two steps run in this process or, with ``--scheduler``, as tasks on a dask cluster
(:mod:`~hipct.reconstruction.cluster`), with identical results.

Physical inputs (energy, effective distance, pixel size, delta/beta) come, in this order of
precedence, from the command line, the plan (:func:`hipct.planner.evaluate.evaluate`) and
the file's metadata; :func:`resolve_physics` records where each value came from.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from hipct import __version__
from hipct.errors import HipctError, HipctWarning

from . import acquisition as acq
from .data_checks import check_geometry, check_scan_data
from .fbp import backprojector
from .flatfield import group_flats, normalise, synthetic_flat
from .io.readers import Scan, file_checksum, open_scan
from .io.writers import check_free_space, open_writer, uint16_window
from .phase import PaganinFilter, paganin_length_m, unsharp_margin, unsharp_mask
from .rings import remove_stripes

__all__ = ["ReconParams", "resolve_physics", "reconstruct", "estimate_chunk_rows"]

log = logging.getLogger(__name__)

_WORK_COPIES = 6  # float32 copies of a projection batch alive at once (raw, transmission, FFT…)


@dataclass
class ReconParams:
    """Everything a reconstruction needs besides the data (SI units in the names)."""

    inputs: list
    output: str
    cor: list | None = None                # absolute 0-based columns, one per input; None: auto
    half_acquisition: bool | None = None
    cor_side: str | None = None            # 'left'/'right': detector half holding the axis
    delta_beta: float | None = None        # 0: absorption (no phase retrieval)
    energy_kev: float | None = None
    distance_m: float | None = None        # effective propagation distance
    pixel_size_m: float | None = None      # at the sample, before binning
    filter_name: str = "ramp"
    unsharp_sigma_px: float = 0.0
    unsharp_coeff: float = 0.0
    ring_size: int = 0
    rows: tuple | None = None              # detector rows (start, stop) before binning
    binning: int = 1
    width: int | None = None
    roi: tuple | None = None               # (x0, x1, y0, y1) in the slice
    flat_source: str = "file"              # 'file' or 'scan'
    fmt: str = "ome-zarr"
    dtype: str = "float32"
    window: tuple | None = None            # (lo, hi) in 1/cm for uint16; None: auto
    memory_bytes: float = 4e9             # per process (each dask worker holds one slab)
    fbp_method: str = "fourier"            # 'fourier' (non-uniform FFT) or 'linear'
    fbp_threads: int | None = None         # set by reconstruct() from the budget
    scheduler: str | None = None           # dask.distributed scheduler address
    origin_um: tuple | None = None         # (z, y, x) of the axis at the middle row
    z_positions_m: list | None = None      # sample height of each input (z-series stages)
    refine_z: bool = False                 # z-series: refine stage offsets on the overlaps
    resume: bool = False
    overwrite: bool = False
    plan: dict | None = field(default=None, repr=False)
    command: list | None = None
    preview: str | None = None             # extra PNG of the mid-slices (one is always kept)


def resolve_physics(scan: Scan, params: ReconParams, plan_physics=None):
    """Energy, effective distance, pixel size and delta/beta with their sources.

    Precedence: command line > plan (a :class:`hipct.physics.PhaseRetrieval`) > file metadata.
    The file records the sample–detector distance ``z2``; it becomes ``z1 z2 / (z1 + z2)`` when
    the source distance is known. Returns ``(values, sources)``; a value no source gives is
    ``None``.
    """
    pr = plan_physics
    file_eff = None
    if scan.distance_m is not None:
        z1 = scan.source_distance_m
        file_eff = scan.distance_m if not z1 else z1 * scan.distance_m / (z1 + scan.distance_m)
    candidates = {
        "energy_kev": (params.energy_kev, pr and pr.energy_kev, scan.energy_kev),
        "distance_m": (params.distance_m, pr and pr.z_eff_m, file_eff),
        "pixel_size_m": (params.pixel_size_m, pr and pr.pixel_size_m, scan.pixel_size_m),
        "delta_beta": (params.delta_beta, pr and pr.delta_beta, None),
    }
    values, sources = {}, {}
    for key, (cli, plan, meta) in candidates.items():
        for src, v in (("command line", cli), ("plan", plan), ("file", meta)):
            if v is not None:
                values[key], sources[key] = float(v), src
                break
        else:
            values[key], sources[key] = None, "missing"
        if plan is not None and meta is not None and meta > 0 and sources[key] != "file" \
                and abs(plan / meta - 1) > 0.02 and cli is None:
            warnings.warn(f"{key}: the plan says {plan:.4g} but {scan.path} records {meta:.4g}; "
                          "using the plan (override on the command line)", HipctWarning,
                          stacklevel=2)
    return values, sources


def estimate_chunk_rows(n_frames: int, n_cols: int, slice_px: int, margin_rows: int,
                        budget_bytes: float, binning: int = 1, batch: int = 64) -> int:
    """Output rows per chunk that keep the working set under ``budget_bytes``.

    Fixed cost: a batch of ``batch`` projections with the convolution margins, in
    ``_WORK_COPIES`` float32 copies (raw, transmission, padded FFT…). Per output row: the
    sinograms of every frame (three float32 copies: the stack, the ring-corrected or merged
    copy, and in a distributed run the batches dask keeps until the slab is made), the raw
    rows of one batch, and two float32 slices. The Fourier back-projector's plans are
    counted separately, before this (see :func:`reconstruct`).
    """
    fixed = 4.0 * _WORK_COPIES * batch * n_cols * binning * (2 * margin_rows + 1) * binning
    per_row = 4.0 * (3 * n_frames * n_cols + _WORK_COPIES * batch * n_cols * binning * binning
                     + 2 * slice_px)
    rows = int((budget_bytes - fixed) // per_row)
    if rows < 1:
        need = (fixed + per_row) / 1e9
        raise HipctError(f"--memory: {budget_bytes / 1e9:.2f} GB is too small for this scan "
                         f"(one slice needs about {need:.2f} GB)")
    return rows


def _bin(data, b):
    if b == 1:
        return data
    n, r, c = data.shape
    r2, c2 = r // b, c // b
    return data[:, :r2 * b, :c2 * b].reshape(n, r2, b, c2, b).mean(axis=(2, 4))


class _Preprocessor:
    """Raw rows → −log projections (flat field, binning, Paganin, unsharp) for one scan."""

    def __init__(self, scan: Scan, params: ReconParams, physics: dict):
        self.scan = scan
        self.p = params
        self.b = params.binning
        self.paganin = None
        if physics["delta_beta"]:
            missing = [k for k in ("energy_kev", "distance_m", "pixel_size_m")
                       if physics[k] is None]
            if missing:
                raise HipctError(
                    "paganin: " + ", ".join(missing) + " unknown (not in the file); give "
                    "--plan or --energy/--distance/--pixel-size, or --no-phase")
            self.paganin = PaganinFilter(physics["energy_kev"], physics["distance_m"],
                                         physics["pixel_size_m"] * self.b,
                                         physics["delta_beta"])
        self.margin = (self.paganin.margin if self.paganin else 0) \
            + unsharp_margin(params.unsharp_sigma_px)
        self.batch_size = 64
        self._refs = None                  # (rows key, (dark, flat groups)) of the last slab

    def _rows(self, r0: int, r1: int):
        """Raw detector rows read for binned rows ``r0:r1`` and the margins they carry."""
        s, b = self.scan, self.b
        first = self.p.rows[0]
        # binned rows r cover raw rows first + r*b ... first + (r+1)*b - 1; neighbours outside
        # the chosen rows are real data and serve as margin where the detector has them
        lo_b = max(r0 - self.margin, -(first // b))
        hi_b = min(r1 + self.margin, (s.n_rows - first) // b)
        return slice(first + lo_b * b, first + hi_b * b), r0 - lo_b, hi_b - r1

    def _references(self, rows: slice):
        """Mean dark and flat groups for ``rows``.

        The last pair is kept for the next batch of the same slab; the cache is one tuple,
        swapped in one assignment, so threads of a dask worker making batches of different
        slabs never see each other's references.
        """
        key = (rows.start, rows.stop, self.p.flat_source)
        cached = self._refs
        if cached is not None and cached[0] == key:
            return cached[1]
        s = self.scan
        dark = s.read("dark", rows)
        dark = dark.mean(axis=0) if dark.shape[0] else np.zeros(
            (rows.stop - rows.start, s.n_cols), np.float32)
        if self.p.flat_source == "scan":
            from .flatfield import FlatGroups
            groups = FlatGroups(synthetic_flat(s.read("proj", rows) - dark)[None], np.zeros(1))
        else:
            groups = group_flats(s.read("flat", rows) - dark, s.flat_frames, s.flat_angles,
                                 s.current_flat)
        self._refs = (key, (dark, groups))
        return dark, groups

    def batch(self, r0: int, r1: int, a0: int, a1: int, where: str = "") -> np.ndarray:
        """−log projections ``a0:a1`` for binned rows ``r0:r1`` (one task of a distributed run).

        The projection-domain steps need the margin rows of every projection, but never all
        projections at once, so projections go in batches of angles.
        """
        s = self.scan
        rows, top, bottom = self._rows(r0, r1)
        dark, groups = self._references(rows)
        frames = slice(a0, a1)
        t = normalise(s.read("proj", rows, frames), dark, groups, s.theta[frames],
                      None if s.current_proj is None else s.current_proj[frames],
                      s.saturation, where)
        t = _bin(t, self.b)
        if self.paganin is not None:
            data = self.paganin.apply(t, pad_rows=(self.margin - top, self.margin - bottom))
        else:
            data = -np.log(t)
        del t
        data = unsharp_mask(data, self.p.unsharp_sigma_px, self.p.unsharp_coeff)
        return np.ascontiguousarray(data[:, top:top + (r1 - r0)], dtype=np.float32)

    def batches(self):
        """``(a0, a1)`` angle ranges of the batches."""
        n = self.scan.n_proj
        return [(a0, min(a0 + self.batch_size, n)) for a0 in range(0, n, self.batch_size)]

    def __call__(self, r0: int, r1: int, where: str = "") -> np.ndarray:
        """−log projections for binned rows ``r0:r1`` (relative to the chosen first row)."""
        return np.concatenate([self.batch(r0, r1, a0, a1, where) for a0, a1 in self.batches()])


#: the automatic centre reads up to this many binned rows, in blocks of 8 spread over the height
AUTO_COR_ROWS = 64
_AUTO_COR_FLOATS = 2 ** 28     # ... and at most this many values in memory (1 GiB of float32)


def _auto_sino(pre: _Preprocessor, n_rows_binned: int) -> np.ndarray:
    """``(rows, angles, cols)`` absorption (−log) data for the centre: up to
    :data:`AUTO_COR_ROWS` rows in blocks of 8 spread evenly over the height (fewer when the
    projections are many and wide), since the evidence of a half acquisition's overlap grows
    with the rows correlated.

    Phase retrieval is left out: its edge padding differs between a projection and its
    mirror partner exactly where a half acquisition's overlap lies, at the detector edge;
    the centre search smooths along the angle instead (:mod:`.centre`).
    """
    per_row = max(1, pre.scan.n_proj * (pre.scan.n_cols // pre.b))
    n_rows = int(min(AUTO_COR_ROWS, n_rows_binned, max(8, _AUTO_COR_FLOATS // per_row)))
    n_blocks = max(1, n_rows // 8)
    block = min(8, n_rows_binned)
    starts = np.unique(np.round(np.linspace(0, n_rows_binned - block, n_blocks)).astype(int)) \
        if n_blocks > 1 else [max(0, n_rows_binned // 2 - block // 2)]
    saved, pre.paganin = pre.paganin, None
    saved_sigma = pre.p.unsharp_sigma_px
    pre.p.unsharp_sigma_px = 0.0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", HipctWarning)
            return np.concatenate([pre(int(r0), int(r0) + block, "").transpose(1, 0, 2)
                                   for r0 in starts])
    finally:
        pre.paganin = saved
        pre.p.unsharp_sigma_px = saved_sigma


def _auto_cors(pres, n_rows_binned: int, half: bool | None, side: str | None) -> list:
    """Automatic axis column(s) (binned), as :class:`~.centre.CorEstimate` per scan."""
    from .centre import estimate_cor, find_cor_quarter

    if side is None and len(pres) == 1:
        side = pres[0].scan.axis_side
    sinos = [_auto_sino(p, n_rows_binned) for p in pres]
    if len(pres) == 1:
        return [estimate_cor(sinos[0], pres[0].scan.theta, half_acquisition=half, side=side)]
    return find_cor_quarter(sinos, [p.scan.theta for p in pres], side=side)


def reconstruct(params: ReconParams, progress: bool = True) -> dict:
    """Reconstruct ``params.inputs`` into ``params.output``; returns a summary dict.

    One input is a 180°, 360° or half-acquisition scan; two inputs are the two rotations of
    a quarter acquisition (then ``cor`` needs both axis columns). Inputs at different sample
    heights are the stages of a z-series, stitched into one volume
    (:mod:`~hipct.reconstruction.zseries`).
    """
    t_start = time.perf_counter()
    scans = [open_scan(p) for p in params.inputs]
    for s in scans:
        log.info("read %s (%s): %d projections, %d flats, %d darks of %d×%d pixels",
                 s.path, s.layout, s.n_proj, s.flat_frames.size, s.n_darks, s.n_rows, s.n_cols)
    from .zseries import plan_stages, reconstruct_zseries
    stages = plan_stages(params, scans)
    if len(stages) > 1:
        return reconstruct_zseries(params, stages, progress)
    if params.refine_z:
        raise HipctError("--refine-z: needs a z-series (inputs at different sample heights: "
                         "sample/z_translation or --z-positions)")
    ref = scans[0]
    for s in scans[1:]:
        if (s.n_rows, s.n_cols) != (ref.n_rows, ref.n_cols):
            raise HipctError(f"inputs: {s.path} has frames {s.n_rows}×{s.n_cols}, "
                             f"{ref.path} has {ref.n_rows}×{ref.n_cols}")
    if params.binning < 1:
        raise HipctError(f"--bin: must be an integer >= 1, got {params.binning}")
    rows = params.rows or (0, ref.n_rows)
    if not (0 <= rows[0] < rows[1] <= ref.n_rows):
        raise HipctError(f"--rows: {rows[0]}:{rows[1]} is outside the detector's "
                         f"0:{ref.n_rows} rows")
    params.rows = tuple(rows)
    b = params.binning
    nz = (rows[1] - rows[0]) // b
    if nz < 1:
        raise HipctError(f"--rows/--bin: {rows[1] - rows[0]} rows binned by {b} leave no slice")
    check_geometry(params, scans)
    for s in scans:
        check_scan_data(s, rows, params.flat_source)
    physics, sources = resolve_physics(ref, params,
                                       params.plan and params.plan.get("phase_retrieval"))
    if params.delta_beta == 0:
        physics["delta_beta"], sources["delta_beta"] = 0.0, "command line"
    if physics["delta_beta"] is None:
        raise HipctError("delta/beta: give --delta-beta (e.g. 2000), a --plan, or --no-phase")
    pixel_known = physics["pixel_size_m"] is not None
    if not pixel_known:
        if physics["delta_beta"]:
            raise HipctError("pixel size: not in the file; give --pixel-size or --plan")
        warnings.warn(f"pixel size: {ref.path} does not record it; the volume is written with "
                      "1 um voxels and values per pixel (give --pixel-size for 1/cm)",
                      HipctWarning, stacklevel=2)
        physics["pixel_size_m"], sources["pixel_size_m"] = 1e-6, "default (unknown)"
    pres = [_Preprocessor(s, params, physics) for s in scans]

    w_b = ref.n_cols // b
    estimates = None
    if params.cor is None:
        if len(scans) > 2:
            raise HipctError(f"inputs: {len(scans)} scans given; one (180°/360°/half) or two "
                             "(quarter acquisition) are allowed")
        estimates = _auto_cors(pres, nz, params.half_acquisition, params.cor_side)
        cors_b = [e.cor for e in estimates]
        cor_source = "auto"
        for k, e in enumerate(estimates):
            if not e.sure:
                full = [(c + 0.5) * b - 0.5 for c in cors_b]
                warnings.warn(
                    f"cor: the automatic centre{f' of input {k + 1}' if len(scans) > 1 else ''}"
                    f" is unsure ({e.describe()}; columns binned by {b}); check the slices, "
                    f"or force it with --cor {','.join(f'{c:.2f}' for c in full)}"
                    + (" or --cor-side left|right" if e.side else ""),
                    HipctWarning, stacklevel=2)
    else:
        if len(params.cor) != len(scans):
            raise HipctError(f"--cor: {len(params.cor)} value(s) for {len(scans)} input scan(s)")
        cors_b = [(c + 0.5) / b - 0.5 for c in params.cor]
        cor_source = "command line"
    cors = [(c + 0.5) * b - 0.5 for c in cors_b]
    log.info("physics: %s", ", ".join(f"{k} = {physics[k]} ({sources.get(k, '?')})"
                                      for k in physics))
    log.info("rotation axis at column(s) %s (%s); %.1f s so far",
             ", ".join(f"{c:.2f}" for c in cors), cor_source, time.perf_counter() - t_start)
    subs = _subscans(scans, cors_b, b)
    radius = acq.covered_radius(subs)
    n = params.width or int(round(2 * radius)) + 1
    if params.roi:
        x0, x1, y0, y1 = params.roi
        if not (0 <= x0 < x1 <= n and 0 <= y0 < y1 <= n):
            raise HipctError(f"--roi: {x0}:{x1},{y0}:{y1} is outside the {n}×{n} slice")
        ny, nx = y1 - y0, x1 - x0
    else:
        ny = nx = n
    pixel_m = physics["pixel_size_m"] * b
    voxel_um = pixel_m * 1e6

    n_frames = sum(s.n_proj + s.flat_frames.size + s.n_darks for s in scans)
    budget = params.memory_bytes
    if params.fbp_method == "fourier":
        # the non-uniform FFT's factors and per-thread plans live as long as the run: count
        # them first, with as many threads (plans) as fit in 60 % of the budget
        from .fbp_fourier import FourierBackprojector, _threads

        def bp_bytes(t):
            return FourierBackprojector.memory_bytes(sum(s.n_proj for s in scans),
                                                     max(n, w_b), max(nx, ny), t)
        fitting = [t for t in range(1, _threads(None) + 1) if bp_bytes(t) <= 0.6 * budget]
        if not fitting:
            raise HipctError(f"--memory: {budget / 1e9:.2f} GB is too small for the Fourier "
                             f"back-projector of this geometry (it needs {bp_bytes(1) / 1e9:.2f}"
                             f" GB: give --memory {bp_bytes(1) / 0.6 / 1e9:.1f}GB or more, or "
                             "--fbp linear)")
        params.fbp_threads = fitting[-1]
        budget -= bp_bytes(params.fbp_threads)
    chunk = estimate_chunk_rows(n_frames, ref.n_cols // b, nx * ny, pres[0].margin,
                                budget, b)
    chunk = min(chunk, nz)
    if chunk >= 128:
        chunk -= chunk % 128
    zarr_chunk = min(128, chunk) if params.fmt.startswith("ome-zarr") else None

    job = _Job(params, physics, cors_b, n, pixel_known, pixel_m)
    job.seed(scans, pres)

    window = params.window
    if params.dtype == "uint16" and window is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", HipctWarning)
            mid = nz // 2
            window = uint16_window(job.slab(mid, mid + 1, job.parts(mid, mid + 1),
                                            convert=False))

    origin = params.origin_um
    if origin is None and ref.position_m is not None:
        # z points down the sample: a larger z_translation (a higher part) has a smaller z
        z_t, y_t, x_t = ref.position_m
        origin = (-z_t * 1e6, y_t * 1e6, x_t * 1e6)
    origin = origin or (0.0, 0.0, 0.0)
    c = (n - 1) / 2.0
    x_first = params.roi[0] if params.roi else 0
    y_first = params.roi[2] if params.roi else 0
    z_mid = (ref.n_rows - 1) / 2.0
    z_first = rows[0] + (b - 1) / 2.0
    origin_voxel0 = ((z_first - z_mid) * physics["pixel_size_m"] * 1e6 + origin[0],
                     (y_first - c) * voxel_um + origin[1],
                     (x_first - c) * voxel_um + origin[2])

    resolved = {
        "cor": cors, "cor_source": cor_source, "half_acquisition": params.half_acquisition,
        "cor_side": params.cor_side,
        "cor_estimate": None if estimates is None else [e.as_dict() for e in estimates],
        "filter": params.filter_name, "unsharp_sigma_px": params.unsharp_sigma_px,
        "unsharp_coeff": params.unsharp_coeff, "ring_filter_size": params.ring_size,
        "rows": list(rows), "binning": b, "slice_width": n, "roi": params.roi,
        "flat_source": params.flat_source, "dtype": params.dtype,
        "intensity_window_per_cm": window, "voxel_size_um": voxel_um,
        "origin_um": list(origin_voxel0), "physics": physics, "physics_sources": sources,
        "paganin_margin_px": pres[0].margin, "chunk_rows": chunk,
        "paganin_length_um": (paganin_length_m(physics["energy_kev"], physics["distance_m"],
                                               physics["delta_beta"]) * 1e6
                              if physics["delta_beta"] else None),
        "fbp_method": params.fbp_method,
    }
    attrs = {"hipct": {
        "version": __version__, "command": params.command,
        "inputs": [{"path": s.path, "layout": s.layout, "sha256": file_checksum(s.files)}
                   for s in scans],
        "parameters": resolved, "plan": params.plan and params.plan.get("plan"),
        "units": ("1/cm (linear attenuation; after Paganin: attenuation-equivalent)"
                  if pixel_known else "per pixel (pixel size unknown)"),
        "conventions": "axes z,y,x; slice grid centred on the rotation axis; "
                       "u = x cos(theta) - y sin(theta), rows growing downwards "
                       "(as ASTRA, nabu, tomopy); detector row r -> slice z = r",
    }}
    out_dtype = np.uint16 if params.dtype == "uint16" else np.float32
    writer_kw = {"voxel_um": voxel_um, "origin_um": origin_voxel0, "resume": params.resume,
                 "overwrite": params.overwrite, "chunk_z": zarr_chunk or 128}
    writer = open_writer(params.fmt, params.output, (nz, ny, nx), out_dtype, attrs, **writer_kw)
    job.window = window
    slabs = [(z0, min(z0 + chunk, nz)) for z0 in range(0, nz, chunk)]
    from tqdm.auto import tqdm

    from .preview import MidPlanes, write_previews
    planes = MidPlanes((nz, ny, nx), window if params.dtype == "uint16" else None)
    try:
        bar = tqdm(total=nz, unit="slice", desc="reconstruct", disable=not progress,
                   file=sys.stderr)
        todo = []
        for z0, z1 in slabs:
            if writer.is_done(z0, z1):
                bar.update(z1 - z0)
                log.info("skip slices %d:%d (written by an earlier run)", z0, z1)
            else:
                todo.append((z0, z1))
        if todo:
            check_free_space(writer, len(todo) / max(1, len(slabs)))
        log.info("volume %d×%d×%d voxels of %.4g um, %s %s; %d slab(s) of %d slices "
                 "(memory budget %.2f GB), filter %s, back-projector %s", nz, ny, nx, voxel_um,
                 params.fmt, params.dtype, len(todo), chunk, params.memory_bytes / 1e9,
                 params.filter_name, params.fbp_method)
        write_block = writer.write

        def write_and_keep(z0, block):
            planes.add(z0, block)
            write_block(z0, block)
        writer.write = write_and_keep
        t_slabs = time.perf_counter()
        if params.scheduler:
            from .cluster import run_distributed
            run_distributed(params.scheduler, job, todo, writer, bar)
        else:
            for z0, z1 in todo:
                t0 = time.perf_counter()
                writer.write(z0, job.slab(z0, z1, job.parts(z0, z1, f"rows {z0}:{z1}")))
                bar.update(z1 - z0)
                log.debug("slices %d:%d in %.2f s", z0, z1, time.perf_counter() - t0)
        bar.close()
        log.info("reconstructed %d slab(s) in %.1f s", len(todo), time.perf_counter() - t_slabs)
        t0 = time.perf_counter()
        previews = [] if writer.complete else \
            write_previews(writer, planes, params, voxel_um, pixel_known)
        writer.finalise()
        log.info("pyramid, metadata and preview written in %.1f s; %.1f s in all",
                 time.perf_counter() - t0, time.perf_counter() - t_start)
    finally:
        writer.abandon()
    return {"output": str(params.output), "shape_zyx": [nz, ny, nx],
            "already_complete": writer.complete, **resolved,
            "previews": previews}


def _subscans(scans, cors_b, binning: int) -> list:
    """The inputs as sub-scans of the merge (binned width, binned axis column)."""
    w_b = scans[0].n_cols // binning
    return [acq.SubScan(s.theta, w_b, c) for s, c in zip(scans, cors_b)]


_STATES: dict = {}   # per process: the open scans and planned filters of the current job


class _Job:
    """Everything one slab of the volume needs, in a form that pickles to worker processes.

    A slab is made in two kinds of step, the same in a local and a distributed run (so both
    give the same bits): :meth:`part` turns a batch of projections (a range of angles) of one
    input into −log (Paganin) projections for the slab's rows; :meth:`slab` stacks the
    batches into sinograms and runs rings → merge to 180° → FBP → units. Each process opens
    the scans and plans the filters once (:meth:`state`) and keeps them for later slabs.
    """

    def __init__(self, params: ReconParams, physics: dict, cors_b: list, n: int,
                 pixel_known: bool, pixel_m: float):
        import uuid
        self.params, self.physics, self.cors_b = params, physics, cors_b
        self.n, self.pixel_known, self.pixel_m = n, pixel_known, pixel_m
        self.window = None
        self.token = uuid.uuid4().hex

    def seed(self, scans, pres):
        """Use already opened scans in this process."""
        _STATES.clear()
        _STATES[self.token] = self._build(scans, pres)

    def _build(self, scans, pres):
        return {"scans": scans, "pres": pres, "bp": None,
                "subs": _subscans(scans, self.cors_b, self.params.binning)}

    def state(self) -> dict:
        st = _STATES.get(self.token)
        if st is None:
            scans = [open_scan(p) for p in self.params.inputs]
            pres = [_Preprocessor(sc, self.params, self.physics) for sc in scans]
            _STATES.clear()
            st = _STATES[self.token] = self._build(scans, pres)
        return st

    def batches(self) -> list:
        """``(input, a0, a1)`` for every batch of projections."""
        return [(i, a0, a1) for i, pre in enumerate(self.state()["pres"])
                for a0, a1 in pre.batches()]

    def part(self, i: int, r0: int, r1: int, a0: int, a1: int, where: str = "") -> np.ndarray:
        """Projections ``a0:a1`` of input ``i``, preprocessed, for binned rows ``r0:r1``."""
        return self.state()["pres"][i].batch(r0, r1, a0, a1, where)

    def parts(self, r0: int, r1: int, where: str = ""):
        """The batches of :meth:`part` for rows ``r0:r1``, made one at a time (a generator)."""
        return (self.part(i, r0, r1, a0, a1, where) for i, a0, a1 in self.batches())

    def slab(self, r0: int, r1: int, parts, convert: bool = True) -> np.ndarray:
        """Slices ``r0:r1`` from the batches of :meth:`parts` (in :meth:`batches` order).

        ``parts`` may be a generator: each batch is copied into the sinogram stack as it
        comes, so a local run holds one stack and one batch, never both in full.
        """
        st, p = self.state(), self.params
        sinos = [np.empty((r1 - r0, pre.scan.n_proj, pre.scan.n_cols // p.binning), np.float32)
                 for pre in st["pres"]]
        for (i, a0, a1), part in zip(self.batches(), parts):
            sinos[i][:, a0:a1] = part.transpose(1, 0, 2)
            del part
        if p.ring_size:
            sinos = [remove_stripes(s, p.ring_size) for s in sinos]
        merged, layout = acq.merge_to_180(sinos, st["subs"])
        key = (float(layout.u0), merged.shape[-1], layout.theta.tobytes())
        cached = st["bp"]
        if cached is None or cached[0] != key:          # one tuple: safe across threads
            cached = (key, backprojector(layout.theta, layout.u0, merged.shape[-1], self.n,
                                         p.roi, p.filter_name, method=p.fbp_method,
                                         nthreads=p.fbp_threads))
            st["bp"] = cached
        sl = cached[1](merged)
        if self.pixel_known:
            sl = sl / np.float32(self.pixel_m * 100.0)       # per pixel → 1/cm
        if convert and p.dtype == "uint16":
            from .io.writers import to_uint16
            sl = to_uint16(sl, self.window)
        return sl


def params_summary(params: ReconParams) -> dict:
    """The parameters as a JSON-friendly dict (for logs)."""
    d = asdict(params)
    d.pop("plan", None)
    return d
