"""One schema per input file: validation, the plan template and the field reference.

The reference page must equal what ``hipct schema --markdown`` prints and name every field of
every model (walked here from the models' annotations, independently of the generator);
each file type refuses unknown keys with the closest valid name, and a wrong unit, a NaN or
an out-of-range value gives one line naming the field.
"""

import copy
import dataclasses
import math
import re
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from hipct.beamlines import load_beamline
from hipct.beamlines.loader import _build as build_beamline
from hipct.beamlines.schema import AcquisitionDefaultsModel, BeamlineModel
from hipct.cli import main
from hipct.errors import BeamlineError, HipctError, PlanError
from hipct.fields import validate
from hipct.planner.plan import load_plan, parse_plan, plan_template
from hipct.planner.schema import PlanModel
from hipct.planner.sweep import parse_sweep
from hipct.reconstruction.params import ReconParamsModel, check_params
from hipct.reconstruction.pipeline import ReconParams
from hipct.schema_doc import reference_markdown, sections
from hipct.simulation.options import SimulateOptions

ROOT = Path(__file__).resolve().parents[1]
BM18 = yaml.safe_load((ROOT / "beamlines" / "bm18.yaml").read_text())
PLAN = yaml.safe_load((ROOT / "examples" / "voi_0p857um_intact.yaml").read_text())


def _models_in(annotation):
    """Models named by an annotation (``Model``, ``Model | None``, ``dict[str, Model]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models_in(a)]


def _paths(model, prefix=""):
    for name, info in model.model_fields.items():
        key = prefix + (info.alias or name)
        yield key
        for sub in _models_in(info.annotation):
            mapping = typing.get_origin(info.annotation) is dict
            yield from _paths(sub, f"{key}.NAME." if mapping else f"{key}.")


def test_reference_page_is_generated_and_names_every_field(capsys):
    page = (ROOT / "docs" / "reference.md").read_text()
    assert page == reference_markdown(), "regenerate: hipct schema --markdown > docs/reference.md"
    assert main(["schema", "--markdown"]) == 0
    assert capsys.readouterr().out == page
    models = [m for _, _, m in sections()]
    assert {PlanModel, BeamlineModel, SimulateOptions, ReconParamsModel} <= set(models)
    paths = [p for m in models for p in _paths(m)]
    assert len(paths) > 150
    for path in paths:
        assert f"| `{path}` |" in page, path
    # a row per field: type, unit, allowed range, default, description
    row = next(l for l in page.splitlines() if l.startswith("| `propagation_distance` |"))
    assert row.split(" | ")[1:5] == ["length", "m", "from 0 to 1000 m",
                                     "required with a detector; 0 m without"]
    row = next(l for l in page.splitlines()
               if l.startswith("| `acquisition_defaults.overhead_per_scan` |"))
    assert row.split(" | ")[1:5] == ["time", "s", "from 0 to 86400 s", "120 s"]


def test_template_is_the_plan_schema():
    text = plan_template()
    for path in _paths(PlanModel):         # as a line of its own, or inside its mapping's
        key = path.split(".")[-1]
        assert re.search(rf"(?m)^\s*(# )?{key}( —|:)", text) or re.search(
            rf"(?m)^# {path.split('.')[0]}\b.*\b{key}\b", text), path
    # the set fields plan as printed; each commented one switched on alone is valid too
    base = yaml.safe_load(text)
    assert parse_plan(base).name == "my-scan"
    lines = text.splitlines()
    switched = 0
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)# ([a-z_]+: .*)$", line)
        if m:
            one = "\n".join(lines[:i] + [m.group(1) + m.group(2)] + lines[i + 1:])
            parse_plan(yaml.safe_load(one))
            switched += 1
    assert switched >= 20


def test_defaults_live_in_the_schema():
    # a beamline file that states no acquisition_defaults gets the schema's
    bare = copy.deepcopy(BM18)
    del bare["acquisition_defaults"]
    d = build_beamline(bare, "X").defaults
    model = AcquisitionDefaultsModel()
    assert (d.n_ref, d.ref_groups, d.n_dark) == (model.n_ref, model.ref_groups, model.n_dark)
    assert d.overhead_per_scan_s == 120.0 and d.vertical_step_m == pytest.approx(5e-3)
    assert load_beamline("BM18").defaults == d        # bm18.yaml writes the same values
    # the simulate options: argparse and the schema share one table
    from hipct.cli import _build_parser
    args = _build_parser().parse_args(["simulate", "p.yaml", "-o", "x.nx"])
    opts = SimulateOptions()
    assert (args.width, args.rows, args.flats) == (opts.width, opts.rows, opts.flats)
    assert opts.blur == 0.0 and opts.pixel_size == pytest.approx(10e-6)


def _plan_with(change):
    d = copy.deepcopy(PLAN)
    change(d)
    return d


@pytest.mark.parametrize("change, message", [
    (lambda d: d["detector"].update(camra="IRIS15"), "detector.camra: unknown key; did you mean 'camera'?"),
    (lambda d: d["acquisition"].update(subframe_tme="1 ms"), "acquisition.subframe_tme: unknown key; did you mean 'subframe_time'?"),
    (lambda d: d.update(energy_grid={"stp": "1 keV"}), "energy_grid.stp: unknown key; did you mean 'step'?"),
    (lambda d: d.update(delta_beta="high"), "delta_beta: expected a number, got 'high'"),
    (lambda d: d.update(target_fill=math.nan), "target_fill: nan is not a finite number"),
    (lambda d: d.update(target_fill=1.5), "target_fill: 1.5 is out of range; allowed: > 0 and <= 1"),
    (lambda d: d["acquisition"].update(subframe_time="12 m"), "acquisition.subframe_time: '12 m' is a length, expected a time"),
    (lambda d: d["acquisition"].update(projections=2.5), "acquisition.projections: expected a whole number, got 2.5"),
    (lambda d: d["sample"].update(height=".nan mm"), "sample.height: '.nan mm' is not finite"),
    (lambda d: d["detector"].update(binning=0), "detector.binning: 0 is out of range; allowed: from 1 to 1e+06"),
    (lambda d: d.update(voxel_size="1 km"), "voxel_size: '1 km' is out of range; allowed: 1e-09 to 0.1 m"),
    (lambda d: d.update(energy_grid={"max": "2000 keV"}), "energy_grid.max: '2000 keV' is out of range; allowed: 1 to 800 keV"),
    (lambda d: d.update(filters="Al 1 mm"), "filters: expected a list, e.g. [sapphire 10 mm, Ag 0.2 mm]"),
    (lambda d: d.update(detector=[1]), "detector: expected a mapping, got list"),
    (lambda d: d["detector"].pop("optic"), "detector.optic: missing"),
])
def test_plan_errors_are_one_line_naming_the_field(change, message):
    with pytest.raises(PlanError) as exc:
        parse_plan(_plan_with(change))
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_delta_beta_high_on_the_command_line(tmp_path, capsys):
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(_plan_with(lambda d: d.update(delta_beta="high"))))
    assert main(["plan", str(p)]) == 2
    assert capsys.readouterr().err == "hipct: error: delta_beta: expected a number, got 'high'\n"


@pytest.mark.parametrize("change, message", [
    (lambda d: d["cameras"]["IRIS15"].update(pixle_size="4 um"), "beamline X: cameras.IRIS15.pixle_size: unknown key; did you mean 'pixel_size'?"),
    (lambda d: d.update(optcs={}), "beamline X: optcs: unknown key; did you mean 'optics'?"),
    (lambda d: d["source"].update(feild="1 T"), "beamline X: source.feild: unknown key; did you mean 'field'?"),
    (lambda d: d["acquisition_defaults"].update(n_darks=3), "beamline X: acquisition_defaults.n_darks: unknown key; did you mean 'n_dark'?"),
    (lambda d: d["source"].update(field="3 m"), "beamline X: source.field: '3 m' is a length, expected a magnetic field"),
    (lambda d: d["cameras"]["IRIS15"].update(full_well=math.nan), "beamline X: cameras.IRIS15.full_well: nan is not a finite number"),
    (lambda d: d["scintillators"]["LuAG"].update(density="70 g/cm^3"), "beamline X: scintillators.LuAG.density: '70 g/cm^3' is out of range; allowed: 0.01 to 30 g/cm^3"),
    (lambda d: d["optics"]["DZoom"].update(magnification=[1, 2, 3]), "beamline X: optics.DZoom.magnification: expected M or [MIN, MAX]"),
    (lambda d: d["source"].pop("field"), "beamline X: missing 'source.field'"),
])
def test_beamline_errors_are_one_line_naming_the_field(change, message):
    d = copy.deepcopy(BM18)
    change(d)
    with pytest.raises(BeamlineError) as exc:
        build_beamline(d, "X")
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


@pytest.mark.parametrize("sweep, message", [
    ({"subframe_tme": ["1 ms"]}, "sweep: subframe_tme: unknown key; did you mean 'subframe_time'?"),
    ({"propagation_distance": {"from": "1 m", "to": "2 m", "num": 3, "spaceing": "log"}}, "propagation_distance.spaceing: unknown key; did you mean 'spacing'?"),
    ({"filters": {"bse": [], "grid": {"Al": ["1 mm"]}}}, "filters.bse: unknown key; did you mean 'base'?"),
    ({"subframe_time": {"from": "1 ms", "to": "2 ms", "num": 3, "spacing": "cubic"}}, "subframe_time.spacing: 'cubic' is not allowed; use linear or log"),
    ({"propagation_distance": {"from": "1 m", "to": "2 m", "num": math.nan}}, "propagation_distance.num: expected a whole number, got nan"),
    ({"propagation_distance": ["1 s"]}, "propagation_distance[0]: '1 s' is a time, expected a length"),
])
def test_sweep_errors_are_one_line_naming_the_field(sweep, message):
    plan = load_plan(ROOT / "examples" / "voi_0p857um_intact.yaml")
    with pytest.raises(PlanError) as exc:
        parse_sweep(sweep, plan)
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


@pytest.mark.parametrize("options, message", [
    ({"--widht": 64}, "--widht: unknown key; did you mean '--width'?"),
    ({"--blur": "2 s"}, "--blur: '2 s' is a time, expected a length"),
    ({"--exposure-scale": math.nan}, "--exposure-scale: nan is not a finite number"),
    ({"--rows": 1000}, "--rows: 1000 is out of range; allowed: from 1 to 512"),
])
def test_simulate_options_errors_are_one_line(options, message):
    with pytest.raises(PlanError) as exc:
        validate(SimulateOptions, options)
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_reconstruction_parameters_schema_matches_and_checks_recon_params():
    assert [f.name for f in dataclasses.fields(ReconParams)] == list(ReconParamsModel.model_fields)
    check_params(ReconParams(inputs=["a.nx"], output="o.ome.zarr"))
    for kw, message in [({"binning": 0}, "binning: 0 is out of range; allowed: from 1 to 64"),
                        ({"filter_name": "hamm"}, "filter_name: 'hamm' is not allowed"),
                        ({"delta_beta": math.nan}, "delta_beta: nan is not a finite number"),
                        ({"energy_kev": 2000.0}, "energy_kev: 2000.0 is out of range")]:
        with pytest.raises(HipctError) as exc:
            check_params(ReconParams(inputs=["a.nx"], output="o.ome.zarr", **kw))
        assert str(exc.value).startswith(f"reconstruction parameters: {message}")
    with pytest.raises(HipctError, match="unknown key; did you mean 'binning'"):
        validate(ReconParamsModel, {"inputs": ["a"], "output": "o", "bining": 2},
                 error=HipctError)
