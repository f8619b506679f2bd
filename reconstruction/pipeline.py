"""The reconstruction pipeline: raw scan(s) → flat field → Paganin → unsharp → rings → FBP → volume.

Data flow per vertical chunk of detector rows (chunk height chosen from the memory budget;
each chunk also reads the rows the convolution steps need from its neighbours, so chunked
equals unchunked)::

    read rows (+ margin) ─► dark/flat (angle-interpolated) ─► bin ─► Paganin (−ln) or −ln
      ─► unsharp mask ─► crop margin       [per batch of 64 projections: ScanSlabs.part]
      ─► ring removal ─► merge to 180° (half/quarter) ─► FBP ─► 1/cm  [per slab: ScanSlabs.slab]
      ─► writer (staged, journalled slab by slab)

The steps are those of the array API (:class:`~.reconstructor.Reconstructor`, applied to the
scans by :class:`~.reconstructor.ScanSlabs`); they run in this process or, with
``--scheduler``, as tasks on a dask cluster (:mod:`~hipct.reconstruction.cluster`), with
identical results. :func:`reconstruct` runs, in order: validate the inputs → resolve the
physics → the geometry (the centre) → the memory plan (:mod:`~.memory`) → the slabs → the
pyramid, metadata and provenance. It never changes the caller's :class:`ReconParams`, and
nothing it opened or planned (scans, back-projector, filters) outlives the call.

Physical inputs (energy, effective distance, pixel size, delta/beta) come, in this order of
precedence, from the command line, the plan (:func:`hipct.planner.evaluate.evaluate`) and
the file's metadata; :func:`resolve_physics` records where each value came from.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from hipct import __version__
from hipct.errors import HipctError, HipctWarning
from hipct.physics import PlannedScan
from hipct.physics.propagation import paganin_length_m

from .data_checks import check_geometry, check_scan_data
from .io.readers import Scan, file_checksum, open_scan
from .io.writers import check_free_space, open_writer, uint16_window
from .memory import describe, estimate_chunk_rows, plan_memory
from .params import check_params
from .reconstructor import Geometry, Reconstructor, ScanSlabs
from .zseries import plan_stages, reconstruct_zseries

__all__ = ["ReconParams", "resolve_physics", "reconstruct", "estimate_chunk_rows"]

log = logging.getLogger(__name__)


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
    fbp_threads: int | None = None         # None: as many as the budget allows
    scheduler: str | None = None           # dask.distributed scheduler address
    origin_um: tuple | None = None         # (z, y, x) of the axis at the middle row
    z_positions_m: list | None = None      # sample height of each input (z-series stages)
    refine_z: bool = False                 # z-series: refine stage offsets on the overlaps
    resume: bool = False
    overwrite: bool = False
    plan: PlannedScan | None = field(default=None, repr=False)
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


def reconstruct(params: ReconParams, progress: bool = True) -> dict:
    """Reconstruct ``params.inputs`` into ``params.output``; returns a summary dict.

    One input is a 180°, 360° or half-acquisition scan; two inputs are the two rotations of
    a quarter acquisition (then ``cor`` needs both axis columns). Inputs at different sample
    heights are the stages of a z-series, stitched into one volume
    (:mod:`~hipct.reconstruction.zseries`). ``params`` is not changed.
    """
    check_params(params)
    scans = [open_scan(p) for p in params.inputs]
    for s in scans:
        log.info("read %s (%s): %d projections, %d flats, %d darks of %d×%d pixels",
                 s.path, s.layout, s.n_proj, s.flat_frames.size, s.n_darks, s.n_rows, s.n_cols)
    stages = plan_stages(params, scans)
    if len(stages) > 1:
        del scans
        return reconstruct_zseries(params, stages, progress, reconstruct)
    return _reconstruct_scans(params, scans, progress)


def _validate(params: ReconParams, scans) -> tuple:
    """The detector rows ``(start, stop)`` and the number of slices, or a one-line error."""
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
    rows = tuple(params.rows or (0, ref.n_rows))
    if not (0 <= rows[0] < rows[1] <= ref.n_rows):
        raise HipctError(f"--rows: {rows[0]}:{rows[1]} is outside the detector's "
                         f"0:{ref.n_rows} rows")
    nz = (rows[1] - rows[0]) // params.binning
    if nz < 1:
        raise HipctError(f"--rows/--bin: {rows[1] - rows[0]} rows binned by {params.binning} "
                         "leave no slice")
    check_geometry(params, scans)
    for s in scans:
        check_scan_data(s, rows, params.flat_source)
    return rows, nz


def _physics(params: ReconParams, ref: Scan) -> tuple:
    """``(physics, sources, pixel_known)``: the values to use and where they came from."""
    physics, sources = resolve_physics(ref, params,
                                       params.plan.phase_retrieval if params.plan else None)
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
                      HipctWarning, stacklevel=3)
        physics["pixel_size_m"], sources["pixel_size_m"] = 1e-6, "default (unknown)"
    return physics, sources, pixel_known


def _centre(rp: ReconParams, scans, nz: int) -> tuple:
    """``(geometry, cor_source, estimates)``: the axis column(s), automatic or given."""
    b = rp.binning
    theta = [s.theta for s in scans]
    if rp.cor is not None:
        if len(rp.cor) != len(scans):
            raise HipctError(f"--cor: {len(rp.cor)} value(s) for {len(scans)} input scan(s)")
        return (Geometry.from_detector(theta, scans[0].n_cols, rp.cor, b, rp.width, rp.roi),
                "command line", None)
    if len(scans) > 2:
        raise HipctError(f"inputs: {len(scans)} scans given; one (180°/360°/half) or two "
                         "(quarter acquisition) are allowed")
    from .centre import estimate_cor, find_cor_quarter

    # the centre needs only the rows and the convolution margin of the real run
    probe = Geometry.from_detector(theta, scans[0].n_cols, [0.0] * len(scans), b)
    with ScanSlabs(Reconstructor(rp, probe), scans, params=rp) as job:
        sinos = job.centre_sinograms(nz)
    side = rp.cor_side
    if side is None and len(scans) == 1:
        side = scans[0].axis_side
    if len(scans) == 1:
        estimates = [estimate_cor(sinos[0], scans[0].theta, half_acquisition=rp.half_acquisition,
                                  side=side)]
    else:
        estimates = find_cor_quarter(sinos, theta, side=side)
    del sinos
    cors_b = tuple(e.cor for e in estimates)
    for k, e in enumerate(estimates):
        if not e.sure:
            full = [(c + 0.5) * b - 0.5 for c in cors_b]
            warnings.warn(
                f"cor: the automatic centre{f' of input {k + 1}' if len(scans) > 1 else ''}"
                f" is unsure ({e.describe()}; columns binned by {b}); check the slices, "
                f"or force it with --cor {','.join(f'{c:.2f}' for c in full)}"
                + (" or --cor-side left|right" if e.side else ""),
                HipctWarning, stacklevel=3)
    geometry = Geometry(tuple(np.asarray(t, np.float64) for t in theta), scans[0].n_cols // b,
                        cors_b, b, rp.width, None if rp.roi is None else tuple(rp.roi))
    return geometry, "auto", estimates


def _memory(rp: ReconParams, scans, geometry: Geometry, margin: int, nz: int):
    ny, nx = geometry.shape_yx
    return plan_memory(
        budget_bytes=rp.memory_bytes,
        n_frames=sum(s.n_proj + s.flat_frames.size + s.n_darks for s in scans),
        n_angles=geometry.n_angles, n_cols_binned=geometry.n_cols_binned,
        slice_width=geometry.slice_width, shape_yx=(ny, nx), nz=nz, margin_rows=margin,
        binning=rp.binning, fbp_method=rp.fbp_method, dtype=rp.dtype, fmt=rp.fmt,
        max_threads=rp.fbp_threads, detector_rows=scans[0].n_rows)


def _origin(rp: ReconParams, ref: Scan, geometry: Geometry, physics: dict) -> tuple:
    """Position (µm, z y x) of voxel 0."""
    b, rows, n = rp.binning, rp.rows, geometry.slice_width
    origin = rp.origin_um
    if origin is None and ref.position_m is not None:
        # z points down the sample: a larger z_translation (a higher part) has a smaller z
        z_t, y_t, x_t = ref.position_m
        origin = (-z_t * 1e6, y_t * 1e6, x_t * 1e6)
    origin = origin or (0.0, 0.0, 0.0)
    voxel_um = physics["pixel_size_m"] * b * 1e6
    c = (n - 1) / 2.0
    x_first = rp.roi[0] if rp.roi else 0
    y_first = rp.roi[2] if rp.roi else 0
    z_mid = (ref.n_rows - 1) / 2.0
    z_first = rows[0] + (b - 1) / 2.0
    return ((z_first - z_mid) * physics["pixel_size_m"] * 1e6 + origin[0],
            (y_first - c) * voxel_um + origin[1],
            (x_first - c) * voxel_um + origin[2])


def _reconstruct_scans(params: ReconParams, scans, progress: bool) -> dict:
    """One scan (or the two rotations of a quarter acquisition) into one volume."""
    t_start = time.perf_counter()
    rows, nz = _validate(params, scans)
    physics, sources, pixel_known = _physics(params, scans[0])
    # the run's own copy: the resolved physics and rows; the caller's params stay as given
    rp = replace(params, rows=rows, energy_kev=physics["energy_kev"],
                 distance_m=physics["distance_m"], delta_beta=physics["delta_beta"],
                 pixel_size_m=physics["pixel_size_m"] if pixel_known else None)
    geometry, cor_source, estimates = _centre(rp, scans, nz)
    cors = geometry.cor
    log.info("physics: %s", ", ".join(f"{k} = {physics[k]} ({sources.get(k, '?')})"
                                      for k in physics))
    log.info("rotation axis at column(s) %s (%s); %.1f s so far",
             ", ".join(f"{c:.2f}" for c in cors), cor_source, time.perf_counter() - t_start)
    n = geometry.slice_width
    ny, nx = geometry.shape_yx
    margin = Reconstructor(rp, geometry).margin
    memory = _memory(rp, scans, geometry, margin, nz)
    log.info(describe(memory))
    rp = replace(rp, fbp_threads=memory.fbp_threads)
    chunk = memory.chunk_rows
    zarr_chunk = min(128, chunk) if rp.fmt.startswith("ome-zarr") else None
    voxel_um = physics["pixel_size_m"] * rp.binning * 1e6

    with ScanSlabs(Reconstructor(rp, geometry), scans, params=rp) as job:
        del scans
        window = rp.window
        if rp.dtype == "uint16" and window is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", HipctWarning)
                mid = nz // 2
                window = uint16_window(job.slab(mid, mid + 1, job.parts(mid, mid + 1),
                                                convert=False))
        job.window = window
        origin_voxel0 = _origin(rp, job.scans[0], geometry, physics)
        resolved = {
            "cor": cors, "cor_source": cor_source, "half_acquisition": rp.half_acquisition,
            "cor_side": rp.cor_side,
            "cor_estimate": None if estimates is None else [e.as_dict() for e in estimates],
            "filter": rp.filter_name, "unsharp_sigma_px": rp.unsharp_sigma_px,
            "unsharp_coeff": rp.unsharp_coeff, "ring_filter_size": rp.ring_size,
            "rows": list(rows), "binning": rp.binning, "slice_width": n, "roi": rp.roi,
            "flat_source": rp.flat_source, "dtype": rp.dtype,
            "intensity_window_per_cm": window, "voxel_size_um": voxel_um,
            "origin_um": list(origin_voxel0), "physics": physics, "physics_sources": sources,
            "paganin_margin_px": margin, "chunk_rows": chunk,
            "paganin_length_um": (paganin_length_m(physics["energy_kev"], physics["distance_m"],
                                                   physics["delta_beta"]) * 1e6
                                  if physics["delta_beta"] else None),
            "fbp_method": rp.fbp_method,
        }
        attrs = _provenance(rp, job.scans, resolved, pixel_known)
        out_dtype = np.uint16 if rp.dtype == "uint16" else np.float32
        writer = open_writer(rp.fmt, rp.output, (nz, ny, nx), out_dtype, attrs,
                             voxel_um=voxel_um, origin_um=origin_voxel0, resume=rp.resume,
                             overwrite=rp.overwrite, chunk_z=zarr_chunk or 128,
                             memory_bytes=rp.memory_bytes - memory.preview_bytes)
        try:
            previews = _run(job, writer, rp, (nz, ny, nx), chunk, window, voxel_um,
                            pixel_known, progress, t_start)
        finally:
            writer.abandon()
    return {"output": str(rp.output), "shape_zyx": [nz, ny, nx],
            "already_complete": writer.complete, **resolved,
            "previews": previews, "fbp_threads": rp.fbp_threads, "memory": memory.as_dict()}


def _provenance(rp: ReconParams, scans, resolved: dict, pixel_known: bool) -> dict:
    return {"hipct": {
        "version": __version__, "command": rp.command,
        "inputs": [{"path": s.path, "layout": s.layout, "sha256": file_checksum(s.files)}
                   for s in scans],
        "parameters": resolved, "plan": rp.plan.report if rp.plan else None,
        "units": ("1/cm (linear attenuation; after Paganin: attenuation-equivalent)"
                  if pixel_known else "per pixel (pixel size unknown)"),
        "conventions": "axes z,y,x; slice grid centred on the rotation axis; "
                       "u = x cos(theta) - y sin(theta), rows growing downwards "
                       "(as ASTRA, nabu, tomopy); detector row r -> slice z = r",
    }}


def _run(job: ScanSlabs, writer, rp: ReconParams, shape, chunk: int, window, voxel_um: float,
         pixel_known: bool, progress: bool, t_start: float) -> list:
    """Make and write the slabs still to do, then the previews and the pyramid."""
    from tqdm.auto import tqdm

    from .preview import MidPlanes, write_previews
    nz = shape[0]
    planes = MidPlanes(shape, window if rp.dtype == "uint16" else None)
    slabs = [(z0, min(z0 + chunk, nz)) for z0 in range(0, nz, chunk)]
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
             "(memory budget %.2f GB), filter %s, back-projector %s", *shape, voxel_um,
             rp.fmt, rp.dtype, len(todo), chunk, rp.memory_bytes / 1e9,
             rp.filter_name, rp.fbp_method)

    def store(z0, block):
        """Write a slab made here; the preview keeps its share of the mid-planes."""
        writer.write(z0, block)
        planes.add(z0, block)

    t_slabs = time.perf_counter()
    if rp.scheduler:
        from .cluster import run_distributed
        run_distributed(rp.scheduler, job, todo, writer, bar, store=store)
    else:
        for z0, z1 in todo:
            t0 = time.perf_counter()
            store(z0, job.slab(z0, z1, job.parts(z0, z1, f"rows {z0}:{z1}")))
            bar.update(z1 - z0)
            log.debug("slices %d:%d in %.2f s", z0, z1, time.perf_counter() - t0)
    bar.close()
    job.close()                 # the back-projector's plans and the scans: not needed now
    log.info("reconstructed %d slab(s) in %.1f s", len(todo), time.perf_counter() - t_slabs)
    t0 = time.perf_counter()
    previews = [] if writer.complete else \
        write_previews(writer, planes, rp, voxel_um, pixel_known)
    writer.finalise()
    log.info("pyramid, metadata and preview written in %.1f s; %.1f s in all",
             time.perf_counter() - t0, time.perf_counter() - t_start)
    return previews


def params_summary(params: ReconParams) -> dict:
    """The parameters as a JSON-friendly dict (for logs)."""
    d = asdict(params)
    d.pop("plan", None)
    return d
