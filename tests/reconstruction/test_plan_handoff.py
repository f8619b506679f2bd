"""The Paganin length a plan reports is the one ``hipct reconstruct --plan`` applies."""

import json
import math
from pathlib import Path

import pytest
import scipy.constants as sc
import zarr

from hipct.cli import main
from hipct.physics import PhaseRetrieval

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PLANS = sorted(p for p in EXAMPLES.glob("*.yaml") if not p.name.startswith(("sweep", "phantom")))


def test_phase_retrieval_length_is_the_pyhst2_formula():
    pr = PhaseRetrieval(energy_kev=100.0, z_eff_m=2.0, pixel_size_m=1e-6, delta_beta=1000.0)
    lam = sc.h * sc.c / (100e3 * sc.e)
    assert pr.paganin_length_m == pytest.approx(math.sqrt(math.pi * lam * 2.0 * 1000.0),
                                                rel=1e-12)
    with pytest.raises(AttributeError):
        pr.energy_kev = 50.0  # frozen: the hand-off cannot drift on its way


@pytest.mark.filterwarnings("ignore::hipct.errors.HipctWarning")  # plan and file disagree
@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.stem)
def test_reported_paganin_length_is_applied(plan, tmp_path, capsys, make_scan):
    assert main(["plan", str(plan), "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    assert reported["phase_retrieval"]["energy_basis"] == "mean detected energy behind the sample"
    assert reported["phase_retrieval"]["energy_kev"] == reported["mean_detected_energy_sample_keV"]

    scan = tmp_path / "scan.nx"
    make_scan(scan, n_rows=4, width=32, n_proj=31)
    out = tmp_path / "v.ome.zarr"
    code = main(["reconstruct", str(scan), "-o", str(out), "--plan", str(plan), "--cor", "15.5",
                 "--quiet"])
    assert code == 0, capsys.readouterr().err
    params = zarr.open_group(str(out), mode="r").attrs["hipct"]["parameters"]
    ph = params["physics"]
    assert params["physics_sources"]["energy_kev"] == "plan"
    applied = PhaseRetrieval(ph["energy_kev"], ph["distance_m"], ph["pixel_size_m"],
                             ph["delta_beta"]).paganin_length_m * 1e6
    assert applied == pytest.approx(reported["paganin_length_um"], rel=1e-3)
    assert params["paganin_length_um"] == pytest.approx(reported["paganin_length_um"], rel=1e-3)


def test_a_simulated_scan_records_the_plans_phase_retrieval_energy(tmp_path, capsys):
    # a reader of the file (hipct without --plan, nabu) then applies the plan's Paganin filter
    from hipct.physics.planned_scan import PlannedScan
    from hipct.planner.evaluate import evaluate
    from hipct.planner.plan import load_plan
    from hipct.reconstruction.io.readers import open_scan

    plan = EXAMPLES / "voi_0p857um_excised.yaml"
    planned = evaluate(load_plan(plan), warn=False).planned_scan()
    assert isinstance(planned, PlannedScan)
    assert planned.phase_retrieval.energy_kev == planned.behind_sample_mean_energy_kev
    assert planned.behind_sample_mean_energy_kev > planned.open_beam_mean_energy_kev  # hardened
    raw = tmp_path / "raw.nx"
    assert main(["simulate", str(plan), "-o", str(raw), "--width", "32", "--rows", "2",
                 "--projections", "8", "--energy-bins", "2", "--flats", "2", "--quiet"]) == 0
    scan = open_scan(raw)
    assert scan.energy_kev == pytest.approx(planned.phase_retrieval.energy_kev, rel=1e-6)
    assert scan.distance_m == pytest.approx(load_plan(plan).propagation_distance_m, rel=1e-6)
