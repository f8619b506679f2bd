"""The catalogue validation script's own physics and bookkeeping (benchmarks/validate_hoa.py)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import trapezoid

from hipct.planner.hoa import catalogue_dir

needs_hoa = pytest.mark.skipif(catalogue_dir() is None, reason="hoa-tools not installed")


@pytest.fixture(scope="module")
def vh():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "validate_hoa.py"
    spec = importlib.util.spec_from_file_location("validate_hoa", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_off_axis_spectrum_integrates_to_the_vertically_integrated_one(vh):
    # Independent: ∫ d²F/dθdψ dψ over the vertical angle must give dF/dθ (G1, X-ray Data
    # Booklet), here for 1.56 T at 6 GeV; the on-axis H2 spectrum times the off-axis ratio.
    from hipct.planner.spectrum import bending_magnet_flux, critical_energy_kev
    e = np.array([20.0, 50.0, 100.0, 150.0])
    ec = critical_energy_kev(1.56, 6.0)
    psi = np.linspace(-2e-3, 2e-3, 8001)                      # ±2 mrad ≫ 1/γ = 85 µrad
    ratio = np.array([vh._off_axis_ratio(e, ec, 6.0, a) for a in psi])
    on_axis = bending_magnet_flux(e, 1.56, 6.0, 0.2, "on_axis")       # per mrad²
    integrated = on_axis * trapezoid(ratio, psi * 1e3, axis=0)        # per mrad
    assert integrated == pytest.approx(bending_magnet_flux(e, 1.56, 6.0, 0.2, "integrated"),
                                       rel=2e-3)
    assert vh._off_axis_ratio(e, ec, 6.0, 0.0) == pytest.approx(np.ones(4), rel=1e-12)


def _rec(name, filters, energy, screen="LuAG:Ce 2000um"):
    return {"name": name, "scan": {"beamline": "BM18", "energy": energy, "filters": filters,
                                   "scintillator": screen}}


def test_contradictions_compare_each_material_by_total_thickness(vh):
    a = _rec("a", ["Mo 0.21mm"], 103.0)
    b = _rec("b", ["Mo 0.44mm"], 94.0)            # thicker molybdenum, recorded softer
    c = _rec("c", ["Mo 0.21mm", "Mo 0.21mm"], 110.0)  # same total as b, harder: consistent with a
    d = _rec("d", ["Sapphire 5mm"], 80.0)         # other material: not comparable with a
    e = _rec("e", ["Mo 0.44mm"], 90.0, "GAGG 1000um")  # other screen
    pairs = vh.contradictions([a, b, c, d, e])
    assert [(p["a"], p["b"]) for p in pairs] == [("a", "b"), ("c", "b")]
    assert vh.contradicted_records([a, b, c, d, e]) == {"a", "b", "c"}


def test_screen_classes(vh):
    rows = [{"name": str(i), "beamline": "BM18", "screen_um": t, "energy_err": err}
            for i, (t, err) in enumerate([(50, -2.0), (100, -1.0), (500, 0.5), (1000, 6.0),
                                          (2000, 7.0), (2000, 5.0)])]
    out = vh.by_screen_class(rows, "energy_err")["BM18"]
    assert out["thin <= 100 um"] == {"n": 2, "bias_%": -1.5, "median_%": 1.5}
    assert out["medium"]["n"] == 1
    assert out["thick >= 1 mm"]["bias_%"] == 6.0
    assert vh.by_screen_class(rows, "energy_err", leave_out={"3"})["BM18"]["thick >= 1 mm"][
        "bias_%"] == 6.0


@needs_hoa
def test_candidates_on_a_subset(vh, capsys):
    assert vh.main(["--limit", "25", "--json", "--candidates"]) == 0
    summary = json.loads(capsys.readouterr().out)
    cand = summary["candidates"]
    assert set(cand) == set(vh.CANDIDATES)
    # the planner's own definition is the headline's (same weights, summed in another order)
    for bl, s in cand["deposited"]["all"].items():
        assert s["median_%"] == pytest.approx(summary["energy_err"][bl]["median_%"], rel=1e-9)
    # photon weighting softens every record: its signed bias lies below the planner's
    for bl, s in cand["photon_weighted"]["all"].items():
        assert s["bias_%"] < summary["energy_err"][bl]["bias_%"]
