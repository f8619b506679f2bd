"""Helical scans in the planner: time, dose (time in beam per voxel) and coverage by hand."""

import json
from pathlib import Path

import pytest
import yaml

from hipct.cli import main
from hipct.errors import PlanError
from hipct.planner.evaluate import evaluate
from hipct.planner.hoa import catalogue_dir, hoa_scan_block, load_hoa_record, plan_dict_from_hoa
from hipct.planner.plan import load_plan, parse_plan

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bm18_hemisphere_overview.yaml"


def _helical(tmp_path, **acq):
    data = yaml.safe_load(EXAMPLE.read_text())
    a = {k: v for k, v in data["acquisition"].items() if k not in ("stages", "vertical_step")}
    a.update({"scan_type": "helical", **acq})
    data["acquisition"] = a
    p = tmp_path / "helical.yaml"
    p.write_text(yaml.safe_dump(data))
    return evaluate(load_plan(p), warn=False).values


def test_helical_time_dose_and_coverage_by_hand(tmp_path):
    v = _helical(tmp_path, pitch="2.5 mm", scan_range="18000 deg")
    z = evaluate(load_plan(EXAMPLE), warn=False).values       # the same plan as a z-series
    # 50 turns of 12000 projections, 4 x (12 ms + the IRIS15's 2 ms latency) each: 600000 frames
    frame = 4 * (0.012 + 0.002)
    assert v["helical"]["frames"] == 600000
    assert v["time_per_tomogram_s"] == pytest.approx(600000 * frame)          # 33600 s
    # quarter: two helical rotations, each with 2 x 101 flats, 20 darks and 120 s overhead
    assert v["scan_time_s"] == pytest.approx(2 * (600000 * frame + (202 + 20) * frame + 120))
    # a voxel is in the beam while the stage rises one field height: h / pitch turns of
    # 12000 frames, twice (quarter)
    h_mm = v["field_of_view_mm"]["height"]
    assert v["helical"]["turns_in_beam_per_voxel"] == pytest.approx(h_mm / 2.5)
    t_beam = 12000 * frame * h_mm / 2.5 * 2
    assert v["time_in_beam_per_voxel_s"] == pytest.approx(t_beam)
    assert v["dose_Gy"] == pytest.approx(v["dose_rate_Gy_per_s"] * t_beam)
    # the z-series with 5 mm steps: same dose rate, max(1, h / 5 mm) x 2 tomograms of 672 s
    assert v["dose_rate_Gy_per_s"] == pytest.approx(z["dose_rate_Gy_per_s"])
    assert z["time_in_beam_per_voxel_s"] == pytest.approx(12000 * frame * max(1, h_mm / 5) * 2)
    # 50 turns of 2.5 mm, less one turn at each end, plus the field height
    assert v["covered_height_mm"] == pytest.approx((50 - 2) * 2.5 + h_mm)
    assert v["stages"] == 1


def test_helical_turns_from_the_sample_height(tmp_path):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["sample"]["height"] = "100 mm"
    data["acquisition"] = {k: x for k, x in data["acquisition"].items()
                           if k not in ("stages", "vertical_step")}
    data["acquisition"].update({"scan_type": "helical", "pitch": "2 mm"})
    v = evaluate(parse_plan(data), warn=False).values
    h_mm = v["field_of_view_mm"]["height"]
    assert v["helical"]["turns"] == pytest.approx((100 - h_mm) / 2 + 2)
    assert v["covered_height_mm"] == pytest.approx(100.0)


def test_helical_plan_errors_name_the_field(tmp_path):
    with pytest.raises(PlanError, match="scan_range"):
        _helical(tmp_path, pitch="2 mm")
    with pytest.raises(PlanError, match="no stages"):
        _helical(tmp_path, pitch="2 mm", scan_range="3600 deg", stages=3)
    with pytest.raises(PlanError, match="acquisition.pitch: only for scan_type: helical"):
        data = yaml.safe_load(EXAMPLE.read_text())
        data["acquisition"]["pitch"] = "2 mm"
        parse_plan(data)


HOA = catalogue_dir()


@pytest.mark.skipif(HOA is None, reason="hoa-tools (HOA catalogue) not installed")
def test_hoa_helical_record_plans_and_exports(capsys):
    rec = load_hoa_record("LADAF-2021-17_brain_complete-organ_20.176um_bm18")
    scan = rec["scan"]
    assert scan["scan_type"] == "helical"
    r = evaluate(parse_plan(plan_dict_from_hoa(rec)), warn=False)
    v = r.values
    # the record's frames over all turns, at its sub-frame and latency: its scan_time
    assert v["helical"]["turns"] == pytest.approx(scan["scan_range"] / 360)
    assert v["helical"]["frames"] == scan["n_frames"]
    assert v["time_per_tomogram_s"] == pytest.approx(scan["scan_time"], rel=0.005)
    block = hoa_scan_block(r)
    assert block["scan_type"] == "helical" and block["n_frames"] == scan["n_frames"]
    assert block["scan_range"] == pytest.approx(scan["scan_range"])
    code = main(["plan", "--from-hoa", "LADAF-2021-17_brain_complete-organ_20.176um_bm18",
                 "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["helical"]["frames"] == scan["n_frames"]
