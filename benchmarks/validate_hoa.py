"""Validate the planner against the Human Organ Atlas catalogue.

For every HOA record with enough fields, build a plan from the record (``--from-hoa``
translation), evaluate it, and compare with what was recorded:

* mean detected energy (open beam) vs ``energy``;
* voxel size from camera pixel x binning / (optic x X-ray magnification) vs ``pixel_size``
  (fixed and zoom optics apart: zoom optics record a nominal dial magnification);
* time of one tomogram vs ``scan_time``.

Prints median and 90th-percentile absolute errors per beamline. Usage::

    python benchmarks/validate_hoa.py            # whole catalogue
    python benchmarks/validate_hoa.py --limit 20 # a quick subset (CI)
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections import defaultdict

import numpy as np

from hipct.errors import HipctError
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


def summarise(rows, key):
    """Median and 90th percentile of |error| per beamline."""
    out = {}
    by = defaultdict(list)
    for r in rows:
        if key in r:
            by[r["beamline"]].append(abs(r[key]))
    for bl, errs in sorted(by.items()):
        e = np.asarray(errs)
        out[bl] = {"n": int(e.size), "median_%": float(np.median(e)),
                   "p90_%": float(np.percentile(e, 90))}
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
    rows, skipped = [], defaultdict(int)
    for f in files:
        record = json.loads(f.read_text())
        try:
            rows.append(compare(record))
        except HipctError as exc:
            skipped[str(exc).split(":")[0]] += 1
    summary = {k: summarise(rows, k) for k in ("energy_err", "voxel_err_fixed", "voxel_err_zoom",
                                              "time_err")}
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
    for key, label in names.items():
        for bl, s in summary[key].items():
            print(f"  {label:22s} {bl}: n = {s['n']:3d}   median |error| {s['median_%']:6.2f} %   "
                  f"90th percentile {s['p90_%']:6.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
