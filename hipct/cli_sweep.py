"""``hipct plan PLAN --sweep SWEEP.yaml``: rank plan variants by a goal within budgets."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from hipct.fields import read_yaml
from hipct.fields import number, whole

_COLUMNS = [("filters", "filters", "{}"), ("z2 m", "propagation_distance_m", "{:.3g}"),
            ("t_sub ms", "subframe_time_s", "{:.3g}"), ("E keV", "mean_detected_energy_keV",
                                                       "{:.1f}"),
            ("fill", "fill_fraction", "{:.2f}"), ("range", "tissue_range_fraction", "{:.3f}"),
            ("res um", "expected_resolution_um", "{:.3g}"), ("dose Gy", "dose_Gy", "{:.3g}"),
            ("time h", "scan_time_h", "{:.3g}"), ("CNR", "cnr", "{:.3g}")]


def _fmt(key, fmt, value):
    if key == "subframe_time_s":
        value = value * 1e3
    return fmt.format(value)


def cmd_sweep(args, plan) -> int:
    """Run the sweep described by ``args.sweep`` on ``plan`` and print the ranking."""
    from hipct.cli_common import dumps_json
    from hipct.planner.sweep import parse_sweep, sweep
    from hipct.units import length_m, parse_quantity, time_s

    path = Path(args.sweep)
    data = read_yaml(path, "--sweep")
    whole(args.top, "--top", 1, 100_000)
    number(args.min_range, "--min-range", 0, 1)
    max_dose = None
    if args.max_dose is not None:
        max_dose = float(parse_quantity(args.max_dose, "dose", "--max-dose", default_unit="Gy",
                                        allow_zero=True).to("Gy").magnitude)
    max_time = (time_s(args.max_time, "--max-time", default_unit="s", allow_zero=True)
                if args.max_time is not None else None)
    max_res = (length_m(args.max_resolution, "--max-resolution", default_unit="um") * 1e6
               if args.max_resolution is not None else None)
    spec = parse_sweep(data, plan)
    result = sweep(plan, spec, max_dose_gy=max_dose, max_time_s=max_time,
                   min_range=args.min_range, max_resolution_um=max_res)
    best = result.ranked(args.goal)[:args.top]
    excluded = Counter(r for r in result.reasons if r)
    if args.json:
        print(dumps_json({"plan": plan.name, "variants": spec.size,
                          "feasible": int(result.feasible.sum()), "seconds": result.seconds,
                          "goal": args.goal, "excluded": dict(excluded),
                          "best": [result.row(i) for i in best]}, indent=2))
    else:
        print(f"{plan.name}: {spec.size} variants ({len(spec.filters)} filter sets × "
              f"{spec.distances_m.size} distances × {spec.subframe_times_s.size} sub-frame "
              f"times) in {result.seconds:.2f} s; {int(result.feasible.sum())} feasible")
        if excluded:
            print("excluded: " + ", ".join(f"{n} {why}" for why, n in excluded.most_common()))
        if best.size == 0:
            print("no variant meets the budgets")
        else:
            print(f"best by {args.goal}:")
            rows = [[_fmt(k, f, result.columns[k][i]) for _, k, f in _COLUMNS] for i in best]
            widths = [max(len(h), *(len(r[c]) for r in rows)) for c, (h, _, _) in
                      enumerate(_COLUMNS)]
            print("  ".join(h.rjust(w) if c else h.ljust(w)
                            for c, ((h, _, _), w) in enumerate(zip(_COLUMNS, widths))))
            for r in rows:
                print("  ".join(v.rjust(w) if c else v.ljust(w)
                                for c, (v, w) in enumerate(zip(r, widths))))
            print("CNR: per-voxel tissue/medium contrast-to-noise after Paganin and FBP "
                  "(planner/sweep.py); compare variants, not absolute values")
    if args.plot:
        from hipct.planner.plots import plot_sweep
        for p in plot_sweep(result, args.goal, args.plot):
            print(f"wrote {p}", file=sys.stderr)
    return 0

