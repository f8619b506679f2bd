"""Command line: ``hipct plan``, ``reconstruct``, ``simulate`` and ``compare``.

A thin layer: parse arguments, load inputs, call the library, print. Every
:class:`~hipct.errors.HipctError` becomes one line on stderr and exit code 2. Heavy imports are
deferred so ``hipct --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hipct import __version__
from hipct.cli_common import dumps_json, parse_floats
from hipct.errors import HipctError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line (``hipct: error: ...``), exit code 2."""

    def error(self, message):
        where = self.prog.removeprefix("hipct").strip()
        self.exit(2, f"hipct: error: {where + ': ' if where else ''}"
                     f"{' '.join(str(message).split())} (see {self.prog} -h)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hipct",
        description="Plan, reconstruct and compare HiP-CT scans at ESRF BM18/BM05.")
    parser.add_argument("--version", action="version", version=f"hipct {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "plan", help="predict energy, dose, detector fill, geometry and time of a scan plan",
        description="Evaluate a scan plan (YAML) or Human Organ Atlas records: mean detected "
                    "energy, dose, detector dynamic range, voxel size, field of view, "
                    "projections and scan time.")
    p.add_argument("plan", nargs="?", help="plan YAML file (see examples/)")
    p.add_argument("--json", action="store_true",
                   help="print JSON (one object per plan, one per line with --from-hoa)")
    p.add_argument("--plot", metavar="DIR", help="write PNG figures into DIR")
    p.add_argument("--from-hoa", nargs="+", metavar="DATASET",
                   help="build plans from HOA metadata records: JSON paths, or dataset names "
                        "when hoa-tools is installed")
    p.add_argument("--export-hoa", metavar="FILE",
                   help="write the plan as an HOA-schema 'scan' block (JSON; '-' for stdout)")
    p.add_argument("--template", action="store_true",
                   help="print a commented plan that plans as printed (hipct plan --template "
                        "> my.yaml && hipct plan my.yaml) and exit")
    p.add_argument("--sweep", metavar="SWEEP.yaml",
                   help="evaluate variants of the plan (filters x distances x sub-frame times, "
                        "see examples/sweep_voi_intact.yaml) and rank them by --goal")
    p.add_argument("--goal", default="cnr",
                   choices=["cnr", "cnr-per-dose", "dose", "time", "range"],
                   help="sweep ranking: highest tissue CNR (default), CNR per sqrt(Gy), "
                        "lowest dose, shortest time, widest tissue range")
    p.add_argument("--max-dose", metavar="DOSE", help="sweep budget, e.g. 20kGy (number: Gy)")
    p.add_argument("--max-time", metavar="TIME", help="sweep budget, e.g. 4h (number: s)")
    p.add_argument("--max-resolution", metavar="LENGTH",
                   help="sweep budget on the expected resolution, e.g. 2um (number: um)")
    p.add_argument("--min-range", type=float, default=0.0, metavar="FRACTION",
                   help="sweep: minimum tissue range fraction of the full well (0-1)")
    p.add_argument("--top", type=int, default=10, help="sweep: variants to list (default 10)")

    r = sub.add_parser(
        "reconstruct", help="raw projections -> registration-ready volume (OME-Zarr, TIFF, HDF5)",
        description="Flat/dark correction, Paganin phase retrieval, unsharp mask, ring removal "
                    "and filtered back-projection (180°, 360°, half and quarter acquisition), "
                    "written as an OME-Zarr pyramid with a NIfTI header (or TIFF/HDF5). "
                    "Energy, effective distance, pixel size and delta/beta come from --plan, "
                    "then the file; the options below override both. The output appears only "
                    "when complete; --resume continues an interrupted run.")
    r.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="NXtomo or Data Exchange HDF5, or a TIFF-stack YAML sidecar; two inputs "
                        "for the two rotations of a quarter acquisition; inputs at different "
                        "sample heights (sample/z_translation) are the stages of a z-series, "
                        "stitched into one volume (any order; the highest stage on top)")
    r.add_argument("-o", "--output", required=True, help="output path (e.g. scan.ome.zarr)")
    r.add_argument("--plan", help="scan plan YAML: energy, distances, pixel size, delta/beta")
    r.add_argument("--delta-beta", type=float, help="delta/beta for Paganin (0: absorption)")
    r.add_argument("--no-phase", action="store_true", help="absorption data: no phase retrieval")
    r.add_argument("--energy", help="mean energy, e.g. '104 keV' (number: keV)")
    r.add_argument("--distance", help="effective propagation distance z1*z2/(z1+z2), "
                                      "e.g. '17.98 m' (number: m)")
    r.add_argument("--pixel-size", help="pixel size at the sample before binning, "
                                        "e.g. '6.5 um' (number: um)")
    r.add_argument("--cor", default="auto",
                   help="'auto' or the absolute 0-based detector column of the rotation axis "
                        "(unbinned); quarter acquisition: two values 'C1,C2' (auto finds both); "
                        "z-series: the value(s) of one stage for every stage, or one per input; "
                        "an unsure automatic centre is reported with its candidates")
    r.add_argument("--cor-side", choices=["left", "right"],
                   help="half acquisition: the detector half holding the axis, for the automatic "
                        "centre (default: from the file when recorded, else decided from the "
                        "data)")
    r.add_argument("--half-acquisition", action="store_true",
                   help="force half acquisition (axis near a detector edge, 360° scan) "
                        "for the automatic centre search")
    r.add_argument("--filter", default="ramp",
                   choices=["ramp", "shepp-logan", "cosine", "hamming", "hann"],
                   help="FBP filter window (default ramp)")
    r.add_argument("--unsharp", metavar="SIGMA,COEFF",
                   help="unsharp mask (1+c)I - c*G_sigma(I) on projections; sigma in pixels")
    r.add_argument("--rings", type=int, default=0, metavar="SIZE",
                   help="ring removal on each rotation's sinograms (after --bin): the "
                        "column offsets of the angular-mean profile from a running median of "
                        "its first differences over SIZE columns are subtracted at every "
                        "angle, so narrow stripes go (SIZE 9: 96%% of a 1-column stripe, "
                        "83%% of a 4-column one, less of wider ones; 0: off)")
    r.add_argument("--rows", metavar="A:B", help="detector rows A..B-1 only (0-based)")
    r.add_argument("--bin", type=int, default=1, metavar="N",
                   help="bin projections N×N after flat-field correction")
    r.add_argument("--width", type=int, help="slice width in pixels (default: the field of view)")
    r.add_argument("--roi", metavar="X0:X1,Y0:Y1", help="region of the slice to reconstruct")
    r.add_argument("--flat-source", choices=["file", "scan"], default="file",
                   help="flats from the file, or synthesised from the scan (median over angles)")
    r.add_argument("--format", default="ome-zarr",
                   choices=["ome-zarr", "ome-zarr-v3", "tiff", "hdf5"],
                   help="ome-zarr: Zarr v2 / OME-Zarr 0.4 (default); ome-zarr-v3: v3 / 0.5")
    r.add_argument("--dtype", choices=["float32", "uint16"], default="float32")
    r.add_argument("--window", metavar="LO,HI",
                   help="uint16 intensity window in 1/cm (default: 0.1-99.9 percentiles of "
                        "the middle slice)")
    r.add_argument("--fbp", choices=["fourier", "linear"], default="fourier",
                   help="back-projector: fourier (non-uniform FFT, fast; default) or linear "
                        "(direct, linear interpolation; the reference)")
    r.add_argument("--memory", default="4GB",
                   help="memory budget per process, e.g. 1GB, 500MB or 2GiB (number: GB; "
                        "GB = 10^9 bytes throughout): the back-projector's plans, the slab "
                        "in flight, the uint16 conversion, the writer's buffers, the preview "
                        "and the pyramid's tiles are sized to fit (the interpreter and "
                        "libraries add about 0.2-0.4 GB)")
    r.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a dask.distributed cluster: tcp://host:port or a scheduler "
                        "JSON file (needs hipct[distributed]; inputs and output on a shared "
                        "filesystem)")
    r.add_argument("--origin", metavar="Z,Y,X",
                   help="position (um) of the rotation axis at the detector's middle row, for "
                        "the OME-Zarr translation (default: the file's stage position with z "
                        "negated, as z points down the sample; else 0)")
    r.add_argument("--z-positions", metavar="Z1,Z2,...",
                   help="z-series: sample height (mm, like sample/z_translation: larger is "
                        "higher) of each input, in the order given; overrides the files")
    r.add_argument("--refine-z", action="store_true",
                   help="z-series: refine each stage's offset by matching the overlap with "
                        "the stage above (within 10 rows) and report the shifts")
    r.add_argument("--resume", action="store_true",
                   help="continue an interrupted run (refused when the inputs, format or "
                        "parameters changed; nothing to do when the output is complete)")
    r.add_argument("--overwrite", action="store_true",
                   help="replace an existing output that hipct wrote (never another folder); "
                        "the old one is removed once the new one is in place")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--preview", metavar="PNG",
                   help="also write the mid-slice preview here (three orthogonal mid-slices, "
                        "colourbar in 1/cm, scale bar; one is always kept in the output: "
                        "provenance/preview.png, or OUTPUT.preview.png beside an HDF5 file)")
    r.add_argument("--verbose", action="store_true",
                   help="report on stderr what was read, chosen and skipped, with timings "
                        "per stage")
    r.add_argument("--log", metavar="FILE",
                   help="append the same report, with per-slab timings, to FILE")

    from hipct.cli_simulate import add_parsers
    add_parsers(sub)

    sc = sub.add_parser(
        "schema", help="print the reference of every field of the input files",
        description="Print the reference of the plan, beamline, sweep, simulate and "
                    "reconstruction fields (type, unit, allowed range, default, meaning), "
                    "generated from the schemas that validate them (docs/reference.md).")
    sc.add_argument("--markdown", action="store_true", help="as Markdown (the default)")
    return parser


def _write_atomic(path: Path, text: str):
    from hipct.files import write_text_atomic
    write_text_atomic(path, text)


def _cmd_plan(args) -> int:
    from hipct.planner.evaluate import evaluate
    from hipct.planner.plan import load_plan, parse_plan, plan_template

    if args.template:
        print(plan_template(), end="")
        return 0
    if args.plan and args.from_hoa:
        raise HipctError("plan: give a plan file or --from-hoa, not both")
    if not args.plan and not args.from_hoa:
        raise HipctError("plan: give a plan YAML file or --from-hoa DATASET (see hipct plan -h)")
    if args.from_hoa:
        from hipct.planner.hoa import load_hoa_record, plan_dict_from_hoa
        items = []
        for name in args.from_hoa:
            items.append((name, lambda n=name: parse_plan(plan_dict_from_hoa(load_hoa_record(n)))))
    else:
        items = [(args.plan, lambda: load_plan(args.plan))]
    if args.sweep:
        if not args.plan:
            raise HipctError("--sweep: needs a plan YAML file")
        from hipct.cli_sweep import cmd_sweep
        return cmd_sweep(args, load_plan(args.plan))
    if args.export_hoa and len(items) > 1:
        raise HipctError("--export-hoa: takes a single plan")
    failed = 0
    for i, (label, make) in enumerate(items):
        try:
            result = evaluate(make(), warn=False)
        except HipctError as exc:
            if len(items) == 1:
                raise
            failed += 1
            if args.json:
                print(dumps_json({"name": label, "error": str(exc)}))
            else:
                print(f"hipct: error: {label}: {exc}", file=sys.stderr)
            continue
        if args.json:
            indent = None if args.from_hoa else 2
            print(dumps_json(result.to_json(), indent=indent))
        else:
            from hipct.planner.report import format_report
            if i:
                print()
            print(format_report(result))
        if args.plot:
            from hipct.planner.plots import plot_plan
            for path in plot_plan(result, args.plot):
                print(f"wrote {path}", file=sys.stderr)
        if args.export_hoa:
            from hipct.planner.hoa import hoa_scan_block
            text = dumps_json(hoa_scan_block(result), indent=2)
            if args.export_hoa == "-":
                print(text)
            else:
                _write_atomic(Path(args.export_hoa), text + "\n")
                print(f"wrote {args.export_hoa}", file=sys.stderr)
    return 2 if failed else 0


def _span(text: str, option: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in str(text).split(":"))
    except ValueError:
        raise HipctError(f"{option}: expected A:B with integers A < B, got {text!r}") from None
    if a >= b:
        raise HipctError(f"{option}: expected A:B with A < B, got {text!r}")
    return a, b


_SIZE_UNITS = {"": 1e9, "b": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
               "kib": 2.0 ** 10, "mib": 2.0 ** 20, "gib": 2.0 ** 30, "tib": 2.0 ** 40}


def _memory_bytes(text: str) -> float:
    """``1GB``, ``500 MB``, ``2GiB`` or a bare number of GB (GB = 10⁹ bytes) → bytes."""
    import re
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = m.group(2).lower() if m else None
    if unit not in _SIZE_UNITS:
        raise HipctError(f"--memory: expected a size such as 1GB, 500MB or 2GiB "
                         f"(GB = 10^9 bytes), got {text!r}")
    value = float(m.group(1)) * _SIZE_UNITS[unit]
    if value <= 0:
        raise HipctError(f"--memory: must be positive, got {text!r}")
    if not 1e3 <= value <= 1e13:
        raise HipctError(f"--memory: {text!r} is out of range; allowed: 1kB to 10TB")
    return value


class _logging:
    """Send the library's log records to stderr (``--verbose``, INFO) and/or a file
    (``--log``, DEBUG) for the duration of one command; handlers are removed afterwards."""

    def __init__(self, verbose: bool, path: str | None):
        self.verbose, self.path, self.handlers = verbose, path, []

    def __enter__(self):
        import logging
        logger = logging.getLogger("hipct")
        fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        if self.verbose:
            h = logging.StreamHandler(sys.stderr)
            h.setLevel(logging.INFO)
            self.handlers.append(h)
        if self.path:
            try:
                h = logging.FileHandler(self.path, encoding="utf-8")
            except OSError as exc:
                raise HipctError(f"--log: cannot write {self.path} ({exc.strerror})") from None
            h.setLevel(logging.DEBUG)
            self.handlers.append(h)
        for h in self.handlers:
            h.setFormatter(fmt)
            logger.addHandler(h)
        self.level = logger.level
        if self.handlers:
            logger.setLevel(logging.DEBUG if self.path else logging.INFO)
        return self

    def __exit__(self, *exc):
        import logging
        logger = logging.getLogger("hipct")
        for h in self.handlers:
            logger.removeHandler(h)
            h.close()
        logger.setLevel(self.level)
        return False


def _cmd_reconstruct(args, argv) -> int:
    import math

    from hipct.fields import number, whole
    from hipct.reconstruction.pipeline import ReconParams, reconstruct
    from hipct.units import length_m, parse_quantity

    plan = None
    if args.plan:
        from hipct.planner.evaluate import evaluate
        from hipct.planner.plan import load_plan
        plan = evaluate(load_plan(args.plan), warn=False).planned_scan()
    if args.no_phase and args.delta_beta not in (None, 0):
        raise HipctError("--no-phase and --delta-beta: give one or the other")
    if args.delta_beta is not None:
        if not math.isfinite(args.delta_beta) or args.delta_beta < 0:
            raise HipctError(f"--delta-beta: must be a finite number >= 0, got {args.delta_beta}")
        number(args.delta_beta, "--delta-beta", 0, 1e6)
    whole(args.bin, "--bin", 1, 64)
    whole(args.rings, "--rings", 0, 1001)
    if args.width is not None:
        whole(args.width, "--width", 1, 100_000)
    unsharp = parse_floats(args.unsharp, 2, "--unsharp") if args.unsharp else (0.0, 0.0)
    number(unsharp[0], "--unsharp sigma", 0, 1000)
    number(unsharp[1], "--unsharp coefficient", 0, 100)
    window = tuple(parse_floats(args.window, 2, "--window")) if args.window else None
    if window is not None and not window[0] < window[1]:
        raise HipctError(f"--window: expected LO,HI with LO < HI, got {args.window!r}")
    roi = None
    if args.roi:
        try:
            xs, ys = args.roi.split(",")
        except ValueError:
            raise HipctError(f"--roi: expected X0:X1,Y0:Y1, got {args.roi!r}") from None
        roi = _span(xs, "--roi") + _span(ys, "--roi")
    params = ReconParams(
        inputs=list(args.inputs), output=args.output,
        cor=None if args.cor == "auto" else parse_floats(args.cor, None, "--cor"),
        half_acquisition=True if args.half_acquisition else None, cor_side=args.cor_side,
        delta_beta=0.0 if args.no_phase else args.delta_beta,
        energy_kev=None if args.energy is None else float(
            parse_quantity(args.energy, "energy", "--energy", default_unit="keV",
                           positive=True, bounds=(1, 800, "keV")).to("keV").magnitude),
        distance_m=None if args.distance is None else length_m(
            args.distance, "--distance", default_unit="m", positive=True,
            bounds=(None, 1000, "m")),
        pixel_size_m=None if args.pixel_size is None else length_m(
            args.pixel_size, "--pixel-size", default_unit="um", positive=True,
            bounds=(1e-9, 1e-2, "m")),
        filter_name=args.filter, unsharp_sigma_px=unsharp[0], unsharp_coeff=unsharp[1],
        ring_size=args.rings, rows=_span(args.rows, "--rows") if args.rows else None,
        binning=args.bin, width=args.width, roi=roi, flat_source=args.flat_source,
        fmt=args.format, dtype=args.dtype,
        window=window,
        memory_bytes=_memory_bytes(args.memory), fbp_method=args.fbp,
        scheduler=args.scheduler,
        origin_um=tuple(parse_floats(args.origin, 3, "--origin")) if args.origin else None,
        z_positions_m=[v * 1e-3 for v in parse_floats(args.z_positions, None, "--z-positions")]
        if args.z_positions else None, refine_z=args.refine_z,
        resume=args.resume, overwrite=args.overwrite, plan=plan, preview=args.preview,
        command=["hipct"] + list(argv if argv is not None else sys.argv[1:]))
    import warnings

    from hipct.errors import HipctWarning
    try:
        with warnings.catch_warnings(record=True) as caught, _logging(args.verbose, args.log):
            warnings.simplefilter("always", HipctWarning)
            summary = reconstruct(params, progress=not args.quiet)
    finally:
        for w in caught:
            print(f"hipct: warning: {w.message}", file=sys.stderr)
    if summary.get("already_complete"):
        print(f"{summary['output']} is already complete (same inputs and parameters); "
              "nothing to do", file=sys.stderr)
        return 0
    print(f"wrote {summary['output']}: {summary['shape_zyx'][0]}×{summary['shape_zyx'][1]}×"
          f"{summary['shape_zyx'][2]} voxels of {summary['voxel_size_um']:.4g} um, "
          f"axis at column(s) {', '.join(f'{c:.2f}' for c in summary['cor'])} "
          f"({summary['cor_source']})", file=sys.stderr)
    for k, st in enumerate(summary.get("stages", [])):
        print(f"stage {k + 1}: z {st['z_m'] * 1e3:.4g} mm, first row {st['offset_rows']:.2f}"
              + (f" (refined by {st['refined_shift_rows']:+.2f} rows)" if args.refine_z else "")
              + f", level {st['intensity_offset_per_cm']:+.3g} 1/cm: "
              + ", ".join(map(str, st["inputs"])), file=sys.stderr)
    for path in summary.get("previews", []):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _os_message(exc: OSError) -> str:
    import errno
    where = f"{exc.filename}: " if exc.filename else ""
    what = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{where}disk full; free space, then rerun (reconstruct: with --resume)"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"{where}{what}; choose a writable folder or fix its permissions"
    return _one_line(f"{where}{what}")


def _quiet_stdout() -> None:
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # so the interpreter's final flush is silent
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main(argv=None) -> int:
    """Entry point of the ``hipct`` command; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "plan":
            return _cmd_plan(args)
        if args.command == "reconstruct":
            return _cmd_reconstruct(args, argv)
        if args.command == "simulate":
            from hipct.cli_simulate import cmd_simulate
            return cmd_simulate(args)
        if args.command == "compare":
            from hipct.cli_simulate import cmd_compare
            return cmd_compare(args)
        if args.command == "schema":
            from hipct.schema_doc import reference_markdown
            print(reference_markdown(), end="")
            return 0
    except HipctError as exc:
        print(f"hipct: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _quiet_stdout()                  # the reader (e.g. `| head`) has gone: end quietly
        return 0
    except MemoryError:
        print("hipct: error: out of memory; lower --memory, --width or the plan's sizes",
              file=sys.stderr)
        return 2
    except OSError as exc:               # the environment: disk full, permissions, ...
        print(f"hipct: error: {_os_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hipct: interrupted", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
