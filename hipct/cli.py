"""Command line: ``hipct plan ...``.

A thin layer: parse arguments, load inputs, call the library, print. Every
:class:`~hipct.errors.HipctError` becomes one line on stderr and exit code 2. Heavy imports are
deferred so ``hipct --help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from hipct import __version__
from hipct.errors import HipctError

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    p.add_argument("--template", action="store_true", help="print the plan fields and exit")
    return parser


def _write_atomic(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _json_default(o):
    import numpy as np
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.bool_):
        return bool(o)
    raise TypeError(type(o).__name__)


def _cmd_plan(args) -> int:
    from hipct.planner.evaluate import evaluate
    from hipct.planner.plan import PLAN_KEYS, load_plan, parse_plan

    if args.template:
        for key, text in PLAN_KEYS.items():
            print(f"{key:22s} {text}")
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
                print(json.dumps({"name": label, "error": str(exc)}))
            else:
                print(f"hipct: error: {label}: {exc}", file=sys.stderr)
            continue
        if args.json:
            indent = None if args.from_hoa else 2
            print(json.dumps(result.to_json(), indent=indent, default=_json_default))
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
            text = json.dumps(hoa_scan_block(result), indent=2, default=_json_default)
            if args.export_hoa == "-":
                print(text)
            else:
                _write_atomic(Path(args.export_hoa), text + "\n")
                print(f"wrote {args.export_hoa}", file=sys.stderr)
    return 2 if failed else 0


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
    except HipctError as exc:
        print(f"hipct: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hipct: interrupted", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
