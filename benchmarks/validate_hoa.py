"""Validate the planner against the Human Organ Atlas catalogue.

For every HOA record with enough fields, build a plan from the record (``--from-hoa``
translation), evaluate it, and compare with what was recorded:

* mean detected energy (open beam) vs ``energy``;
* voxel size from camera pixel x binning / (optic x X-ray magnification) vs ``pixel_size``
  (fixed and zoom optics apart: zoom optics record a nominal dial magnification);
* time of one tomogram vs ``scan_time``.

Per beamline it prints the signed bias (median signed error), the median and 90th-percentile
absolute errors with 95 % bootstrap intervals, the distribution of the predicted flat-field fill
of the full well and the fraction predicted saturated, and the pairs of records that contradict
each other (same beamline and screen, the same or more filtering, yet a softer recorded
energy), which no model where filtering hardens the beam can fit together. Usage::

    python benchmarks/validate_hoa.py            # whole catalogue
    python benchmarks/validate_hoa.py --limit 20 # a quick subset (CI)
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections import Counter, defaultdict

import numpy as np

from hipct.errors import HipctError
from hipct.physics.layers import parse_layer
from hipct.planner.evaluate import evaluate
from hipct.planner.hoa import catalogue_dir, plan_dict_from_hoa
from hipct.planner.plan import parse_plan


def compare(record: dict) -> dict:
    """Predicted vs recorded figures for one record (relative errors in %)."""
    scan = record["scan"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate(parse_plan(plan_dict_from_hoa(record)), warn=False)
    v = result.values
    row = {"name": record["name"], "beamline": scan["beamline"]}
    if result.plan.detector is not None:
        d = result.plan.detector
        row.update(camera=d.camera.name, optic=d.optic.name, screen=d.screen.label,
                   binning=d.binning)
    if scan.get("energy") and v.get("mean_detected_energy_keV") and scan.get("filters"):
        row["energy_pred"] = v["mean_detected_energy_keV"]
        row["energy_rec"] = scan["energy"]
        row["energy_err"] = 100 * (v["mean_detected_energy_keV"] / scan["energy"] - 1)
    if (scan.get("optic_magnification") and result.plan.detector is not None
            and v.get("voxel_size_um") and scan.get("pixel_size")):
        # Zoom optics record a nominal dial value, fixed optics a calibrated one: kept apart.
        kind = result.plan.detector.optic.type
        row[f"voxel_err_{kind}"] = 100 * (v["voxel_size_um"] / scan["pixel_size"] - 1)
    if scan.get("scan_time") and scan.get("n_frames") and scan.get("latency_time"):
        row["time_err"] = 100 * (v["time_per_tomogram_s"] / scan["scan_time"] - 1)
    if v.get("detector"):
        det = v["detector"]
        if (result.plan.detector.optic.type == "zoom" and scan.get("pixel_size")
                and scan.get("optic_magnification")):
            # A zoom optic's recorded magnification is its nominal dial value; the recorded
            # pixel size is calibrated. Light collection follows the true magnification.
            plan = plan_dict_from_hoa(record)
            plan["detector"].pop("magnification")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    det = evaluate(parse_plan(plan), warn=False).values["detector"]
                except HipctError:
                    det = None
        if det is not None:
            row["flat_fill"] = det["fill_fraction"]
            row["saturated"] = det["saturated"]
    return row


def _bootstrap(values, stat, n_boot=2000, seed=0):
    """95 % percentile-bootstrap interval of ``stat`` (fixed seed: reproducible figures)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, (n_boot, values.size))
    boot = stat(values[idx], axis=1)
    return [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))]


def summarise(rows, key):
    """Signed bias, median and 90th percentile of |error| per beamline, with bootstrap intervals."""
    out = {}
    by = defaultdict(list)
    for r in rows:
        if key in r:
            by[r["beamline"]].append(r[key])
    for bl, errs in sorted(by.items()):
        e = np.asarray(errs, dtype=float)
        a = np.abs(e)
        p90 = lambda x, axis=None: np.percentile(x, 90, axis=axis)  # noqa: E731
        out[bl] = {"n": int(e.size),
                   "bias_%": float(np.median(e)), "bias_ci_%": _bootstrap(e, np.median),
                   "median_%": float(np.median(a)), "median_ci_%": _bootstrap(a, np.median),
                   "p90_%": float(p90(a)), "p90_ci_%": _bootstrap(a, p90)}
    return out


def flat_fill_summary(rows) -> dict:
    """Distribution of the predicted flat-field fill and the fraction predicted saturated."""
    fill = np.array([r["flat_fill"] for r in rows if "flat_fill" in r])
    if fill.size == 0:
        return {"n": 0}
    q = np.percentile(fill, [5, 25, 50, 75, 95])
    return {"n": int(fill.size), "p5": float(q[0]), "p25": float(q[1]), "median": float(q[2]),
            "p75": float(q[3]), "p95": float(q[4]),
            "saturated_fraction": float(np.mean(fill > 1.0)),
            "saturated": int(np.sum(fill > 1.0))}


def _filter_key(filters) -> Counter:
    """Filters as a multiset of (material, nominal thickness, rods, rod diameter in µm)."""
    out = Counter()
    for i, f in enumerate(filters or []):
        try:
            layer = parse_layer(f, f"filters[{i}]")
        except HipctError:
            return None
        out[(layer.material.name, round(layer.nominal_m * 1e6), layer.rods,
             round((layer.rod_diameter_m or 0) * 1e6))] += 1
    return out


def contradictions(records, tolerance=0.03) -> list:
    """Pairs (same beamline and screen) where B has the same or more filtering than A, yet
    B's recorded energy is more than ``tolerance`` below A's."""
    items = []
    for rec in records:
        s = rec["scan"]
        if not (s.get("energy") and s.get("scintillator") and s.get("filters")):
            continue
        key = _filter_key(s["filters"])
        if key is not None:
            items.append((rec["name"], s["beamline"], s["scintillator"].split(",")[0].strip(),
                          key, float(s["energy"]), s["filters"]))
    seen, out = set(), []
    for a in items:
        for b in items:
            if a is b or a[1] != b[1] or a[2] != b[2]:
                continue
            more = all(b[3][k] >= n for k, n in a[3].items())
            if more and b[4] < a[4] * (1 - tolerance):
                pair = (tuple(sorted(a[3].items())), tuple(sorted(b[3].items())), a[4], b[4],
                        a[1], a[2])
                if pair in seen:  # same configuration pair recorded for several scans
                    continue
                seen.add(pair)
                out.append({"beamline": a[1], "scintillator": a[2],
                            "a": a[0], "a_filters": a[5], "a_energy_keV": a[4],
                            "b": b[0], "b_filters": b[5], "b_energy_keV": b[4]})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="use only the first N records")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--rows", action="store_true", help="print one line per record")
    args = ap.parse_args(argv)
    folder = catalogue_dir()
    if folder is None:
        print("validate_hoa: hoa-tools is not installed (pip install hoa-tools)", file=sys.stderr)
        return 2
    files = sorted(folder.glob("*.json"))[: args.limit]
    rows, skipped, records = [], defaultdict(int), []
    for f in files:
        record = json.loads(f.read_text())
        records.append(record)
        try:
            rows.append(compare(record))
        except HipctError as exc:
            skipped[str(exc).split(":")[0]] += 1
    summary = {k: summarise(rows, k) for k in ("energy_err", "voxel_err_fixed", "voxel_err_zoom",
                                              "time_err")}
    summary["flat_fill"] = flat_fill_summary(rows)
    summary["contradictions"] = contradictions(records)
    summary["records"] = len(files)
    summary["evaluated"] = len(rows)
    summary["skipped"] = dict(skipped)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    if args.rows:
        for r in rows:
            print(json.dumps(r))
    print(f"{len(rows)} of {len(files)} HOA records evaluated; skipped: {dict(skipped) or 'none'}")
    names = {"energy_err": "mean detected energy", "voxel_err_fixed": "voxel, fixed optics",
             "voxel_err_zoom": "voxel, zoom optics",
             "time_err": "time per tomogram"}
    print("  (signed bias = median of predicted/recorded - 1; [95 % bootstrap interval])")
    for key, label in names.items():
        for bl, s in summary[key].items():
            print(f"  {label:22s} {bl}: n = {s['n']:3d}   bias {s['bias_%']:+6.2f} % "
                  f"[{s['bias_ci_%'][0]:+.2f}, {s['bias_ci_%'][1]:+.2f}]   "
                  f"median |error| {s['median_%']:6.3f} % "
                  f"[{s['median_ci_%'][0]:.2f}, {s['median_ci_%'][1]:.2f}]   "
                  f"90th percentile {s['p90_%']:6.2f} % "
                  f"[{s['p90_ci_%'][0]:.2f}, {s['p90_ci_%'][1]:.2f}]")
    ff = summary["flat_fill"]
    if ff["n"]:
        print(f"  predicted flat-field fill of the full well (n = {ff['n']}): 5 % {ff['p5']:.3f}, "
              f"25 % {ff['p25']:.3f}, median {ff['median']:.3f}, 75 % {ff['p75']:.3f}, "
              f"95 % {ff['p95']:.3f}; saturated {ff['saturated']} "
              f"({100 * ff['saturated_fraction']:.1f} %)")
    con = summary["contradictions"]
    print(f"  {len(con)} contradictory record pairs (same screen, the same or more filtering, "
          f"recorded > 3 % softer):")
    for c in con:
        print(f"    {c['beamline']} {c['scintillator']}: {c['a']} {c['a_filters']} "
              f"{c['a_energy_keV']:g} keV  vs  {c['b']} {c['b_filters']} {c['b_energy_keV']:g} keV")
    return 0


if __name__ == "__main__":
    sys.exit(main())
