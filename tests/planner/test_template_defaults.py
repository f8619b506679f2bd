"""Plans that need less typing: ``--template`` plans as printed, ``subframe_time`` defaults to
the target fill."""

import json
import re
from pathlib import Path

import pytest

from hipct.beamlines import load_beamline
from hipct.cli import main
from hipct.planner.evaluate import evaluate
from hipct.planner.plan import load_plan, parse_plan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_template_plans_as_printed_and_with_every_option(tmp_path, capsys):
    assert main(["plan", "--template"]) == 0
    text = capsys.readouterr().out
    for name in ("BM18", "BM05", "IRIS15", "PCO edge 4.2 CLHS", "Fixed x10", "DZoom", "GAGG",
                 "LuAG"):
        assert name in text
    for cam in load_beamline("BM18").cameras:
        assert cam in text
    (tmp_path / "t.yaml").write_text(text)
    assert main(["plan", str(tmp_path / "t.yaml"), "--json"]) == 0
    as_printed = json.loads(capsys.readouterr().out)
    assert as_printed["subframe_time_chosen"] is True
    # every commented field, switched on, is valid too
    every = re.sub(r"(?m)^(\s*)# ([a-z_]+: )", r"\1\2", text)
    assert every.count("\n# ") < text.count("\n# ")
    (tmp_path / "all.yaml").write_text(every)
    assert main(["plan", str(tmp_path / "all.yaml"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["subframe_time_s"] == pytest.approx(0.012)


def test_subframe_time_defaults_to_the_target_fill():
    given = load_plan(EXAMPLES / "voi_0p857um_excised.yaml")
    data = dict(given.raw)
    data["acquisition"] = {k: v for k, v in data["acquisition"].items() if k != "subframe_time"}
    for fill in (0.8, 0.5):
        chosen = evaluate(parse_plan({**data, "target_fill": fill}), warn=False)
        v = chosen.values
        assert v["subframe_time_chosen"] is True
        assert v["detector"]["fill_fraction"] == pytest.approx(fill, rel=1e-9)
        # fill is linear in the sub-frame time: the given 40 ms plan scaled to the same fill
        ref = evaluate(given, warn=False).values
        assert v["subframe_time_s"] == pytest.approx(
            0.040 * fill / ref["detector"]["fill_fraction"], rel=1e-9)
    assert evaluate(given, warn=False).values["subframe_time_chosen"] is False


def test_subframe_time_still_needed_without_a_detector():
    plan = parse_plan({"beamline": "BM05", "propagation_distance": "1 m",
                       "sample": {"layers": ["brain 1 mm"]}, "acquisition": {"projections": 10}})
    from hipct.errors import PlanError
    with pytest.raises(PlanError, match="acquisition.subframe_time: missing"):
        evaluate(plan, warn=False)
