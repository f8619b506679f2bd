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
energy), which no model where filtering hardens the beam can fit together. "The same or more
filtering" compares the total nominal thickness of each filter material (rods apart from
slabs): every material at least as thick. The energy errors are also given per screen class
(thin <= 100 um, medium, thick >= 1 mm), with the median |error| left when the records of
contradictory pairs are set aside (a diagnostic beside the headline, which keeps every record).

``--candidates`` compares, on the same records, other definitions of the recorded energy that
were checked as causes of the screen-dependent bias (see ``candidate_energies``). Usage::

    python benchmarks/validate_hoa.py               # whole catalogue
    python benchmarks/validate_hoa.py --limit 20    # a quick subset (CI)
    python benchmarks/validate_hoa.py --candidates  # other definitions of the recorded energy
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections import Counter, defaultdict

import numpy as np
import scipy.constants as sc
from scipy.special import kv

from hipct.errors import HipctError
from hipct.physics.layers import parse_layer
from hipct.physics.materials import mu_rho, muen_rho
from hipct.planner import detector as det
from hipct.planner.evaluate import evaluate
from hipct.planner.hoa import catalogue_dir, plan_dict_from_hoa
from hipct.planner.plan import parse_plan

SCREEN_CLASSES = (("thin <= 100 um", 0.0, 100.5), ("medium", 100.5, 999.5),
                  ("thick >= 1 mm", 999.5, float("inf")))
CANDIDATES = ("deposited", "photon_weighted", "muen_over_mu", "vertical_average")


def _off_axis_ratio(energy_kev, critical_kev, electron_gev, psi_rad):
    """Bending-magnet flux at vertical angle ψ over that on axis (X-ray Data Booklet §2.1).

    d²F/dθdψ ∝ y² (1 + X²)² [K2/3(ξ)² + X²/(1 + X²) K1/3(ξ)²], X = γψ, ξ = y (1 + X²)^{3/2} / 2.
    """
    mc2_mev = sc.physical_constants["electron mass energy equivalent in MeV"][0]
    gamma = electron_gev * 1e3 / mc2_mev
    y = np.asarray(energy_kev, dtype=float) / critical_kev
    x2 = (gamma * psi_rad) ** 2
    xi = 0.5 * y * (1.0 + x2) ** 1.5
    f = (1.0 + x2) ** 2 * (kv(2 / 3, xi) ** 2 + x2 / (1.0 + x2) * kv(1 / 3, xi) ** 2)
    return f / kv(2 / 3, 0.5 * y) ** 2


def candidate_energies(result) -> dict:
    """Mean energy at the screen (open beam) under the candidate definitions checked (keV).

    ``deposited``: the planner's, E weighted by Φ·E_dep (escape and reabsorption of secondaries
    in the screen); ``photon_weighted``: by the photons absorbed, Φ·(1 - e^{-μt});
    ``muen_over_mu``: by Φ·E·(1 - e^{-μt})·μen/μ (every fluorescence photon escapes);
    ``vertical_average``: the planner's, on the spectrum averaged over the vertical field of
    view (flux and hardness fall off the orbit plane) instead of on axis.
    """
    p = result.plan
    d = p.detector
    e = result.energy_kev
    medium = [k for k in result.transmission_curves if "propagation distance" in k]
    phi = result.spectra["filtered"].photons_per_s_mm2 * (
        result.transmission_curves[medium[0]] if medium else 1.0)
    t = d.screen.thickness_m
    e_dep = det.deposited_energy_kev(d.screen_material, t, e)
    absorbed = det.absorbed_fraction(d.screen_material, t, e)

    def mean(w):
        return float((e * phi * w).sum() / (phi * w).sum())

    out = {"deposited": mean(e_dep), "photon_weighted": mean(absorbed),
           "muen_over_mu": mean(e * absorbed * muen_rho(d.screen_material, e)
                                / mu_rho(d.screen_material, e))}
    voxel = result.values.get("voxel_size_um")
    if p.source.type != "monochromatic" and voxel:
        height_m = d.roi_px[1] * voxel * 1e-6
        ec = 0.665 * p.source.electron_energy_gev ** 2 * p.source.field_t
        psi = np.linspace(-0.5, 0.5, 41) * height_m / p.source_to_sample_m
        ratio = np.mean([_off_axis_ratio(e, ec, p.source.electron_energy_gev, a) for a in psi],
                        axis=0)
        out["vertical_average"] = mean(e_dep * ratio)
    return out


def compare(record: dict, candidates: bool = False) -> dict:
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
                   screen_um=d.screen.thickness_m * 1e6, binning=d.binning)
    if scan.get("energy") and v.get("mean_detected_energy_keV") and scan.get("filters"):
        row["energy_pred"] = v["mean_detected_energy_keV"]
        row["energy_rec"] = scan["energy"]
        row["energy_err"] = 100 * (v["mean_detected_energy_keV"] / scan["energy"] - 1)
        if candidates:
            for name, value in candidate_energies(result).items():
                row[f"energy_err_{name}"] = 100 * (value / scan["energy"] - 1)
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
    """Filters as the total nominal thickness (µm) per (material, rods, rod diameter in µm)."""
    out = Counter()
    for i, f in enumerate(filters or []):
        try:
            layer = parse_layer(f, f"filters[{i}]")
        except HipctError:
            return None
        out[(layer.material.name, layer.rods,
             round((layer.rod_diameter_m or 0) * 1e6))] += round(layer.nominal_m * 1e6)
    return out


def _contradicting_pairs(records, tolerance):
    """(A, B) record items, same beamline and screen, B filtered at least as much, B softer."""
    items = []
    for rec in records:
        s = rec["scan"]
        if not (s.get("energy") and s.get("scintillator") and s.get("filters")):
            continue
        key = _filter_key(s["filters"])
        if key is not None:
            items.append((rec["name"], s["beamline"], s["scintillator"].split(",")[0].strip(),
                          key, float(s["energy"]), s["filters"]))
    for a in items:
        for b in items:
            if a is b or a[1] != b[1] or a[2] != b[2]:
                continue
            more = all(b[3][k] >= n for k, n in a[3].items())
            if more and b[4] < a[4] * (1 - tolerance):
                yield a, b


def contradictions(records, tolerance=0.03) -> list:
    """Pairs (same beamline and screen) where B has the same or more filtering than A (every
    filter material at least as thick in total), yet B's recorded energy is more than
    ``tolerance`` below A's; one pair per pair of configurations."""
    seen, out = set(), []
    for a, b in _contradicting_pairs(records, tolerance):
        pair = (tuple(sorted(a[3].items())), tuple(sorted(b[3].items())), a[4], b[4], a[1], a[2])
        if pair in seen:  # same configuration pair recorded for several scans
            continue
        seen.add(pair)
        out.append({"beamline": a[1], "scintillator": a[2],
                    "a": a[0], "a_filters": a[5], "a_energy_keV": a[4],
                    "b": b[0], "b_filters": b[5], "b_energy_keV": b[4]})
    return out


def contradicted_records(records, tolerance=0.03) -> set:
    """Names of every record in a contradictory pair (either side)."""
    names = set()
    for a, b in _contradicting_pairs(records, tolerance):
        names.update((a[0], b[0]))
    return names


def by_screen_class(rows, key, leave_out=frozenset()) -> dict:
    """Per beamline and screen class: n, signed bias and median |error| of ``key`` (%)."""
    out = {}
    for bl in sorted({r["beamline"] for r in rows}):
        for label, lo, hi in SCREEN_CLASSES:
            e = np.array([r[key] for r in rows if r["beamline"] == bl and key in r
                          and lo <= r.get("screen_um", -1) < hi and r["name"] not in leave_out])
            if e.size:
                out.setdefault(bl, {})[label] = {"n": int(e.size), "bias_%": float(np.median(e)),
                                                 "median_%": float(np.median(np.abs(e)))}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="use only the first N records")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--rows", action="store_true", help="print one line per record")
    ap.add_argument("--candidates", action="store_true",
                    help="also compare other definitions of the recorded energy")
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
            rows.append(compare(record, candidates=args.candidates))
        except HipctError as exc:
            skipped[str(exc).split(":")[0]] += 1
    summary = {k: summarise(rows, k) for k in ("energy_err", "voxel_err_fixed", "voxel_err_zoom",
                                              "time_err")}
    summary["flat_fill"] = flat_fill_summary(rows)
    summary["contradictions"] = contradictions(records)
    involved = contradicted_records(records)
    summary["energy_by_screen"] = by_screen_class(rows, "energy_err")
    summary["energy_without_contradicted"] = {
        bl: {"n": int(e.size), "median_%": float(np.median(np.abs(e)))}
        for bl in sorted({r["beamline"] for r in rows})
        for e in [np.array([r["energy_err"] for r in rows if r["beamline"] == bl
                            and "energy_err" in r and r["name"] not in involved])] if e.size}
    summary["energy_by_screen_without_contradicted"] = by_screen_class(rows, "energy_err",
                                                                       involved)
    if args.candidates:
        summary["candidates"] = {c: {"all": summarise(rows, f"energy_err_{c}"),
                                     "by_screen": by_screen_class(rows, f"energy_err_{c}")}
                                 for c in CANDIDATES}
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
    print("  mean detected energy per screen class (signed bias, median |error|):")
    for bl, classes in summary["energy_by_screen"].items():
        print(f"    {bl}: " + ";  ".join(f"{c} n = {s['n']} {s['bias_%']:+.2f} % {s['median_%']:.2f} %"
                                       for c, s in classes.items()))
    for bl, s in summary["energy_without_contradicted"].items():
        classes = summary["energy_by_screen_without_contradicted"].get(bl, {})
        print(f"    {bl} without the records of contradictory pairs (diagnostic): n = {s['n']}, "
              f"median |error| {s['median_%']:.3f} %; " + ";  ".join(
                  f"{c} n = {v['n']} {v['bias_%']:+.2f} %" for c, v in classes.items()))
    if args.candidates:
        print("  candidate definitions of the recorded energy (median |error|; per screen class "
              "signed bias):")
        for c, res in summary["candidates"].items():
            for bl, st in res["all"].items():
                cls = res["by_screen"].get(bl, {})
                print(f"    {c:17s} {bl}: median |error| {st['median_%']:6.3f} %  bias "
                      f"{st['bias_%']:+6.2f} %   " + ";  ".join(
                          f"{k} {v['bias_%']:+.2f} %" for k, v in cls.items()))
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
