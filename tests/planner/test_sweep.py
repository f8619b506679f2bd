"""Vectorised sweeps agree with one full evaluation per variant; the noise model with FBP."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from hipct.errors import PlanError
from hipct.planner.evaluate import evaluate
from hipct.planner.plan import load_plan
from hipct.planner.sweep import parse_sweep, paganin_noise_factor, sweep, tomographic_cnr

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def plan():
    return load_plan(EXAMPLES / "voi_0p857um_intact.yaml")


@pytest.fixture(scope="module")
def result(plan):
    spec = parse_sweep({
        "filters": {"base": ["sapphire 7 mm"], "grid": {"Ag": ["0 mm", "0.1 mm"],
                                                        "Cu": ["0 mm", "1 mm"]}},
        "propagation_distance": {"from": "0.1 m", "to": "1.5 m", "num": 4, "spacing": "log"},
        "subframe_time": ["20 ms", "110 ms", "400 ms"]}, plan)
    return sweep(plan, spec)


def test_grid_and_labels(result):
    assert result.spec.size == 4 * 4 * 3 == result.columns["cnr"].size
    assert set(result.columns["filters"]) == {"base only", "silver 0.1 mm", "copper 1 mm",
                                              "silver 0.1 mm + copper 1 mm"}


@pytest.mark.parametrize("i", [0, 7, 22, 38, 47])
def test_variant_equals_full_evaluation(plan, result, i):
    row = result.row(i)
    spec = result.spec
    f = i // (spec.distances_m.size * spec.subframe_times_s.size)
    variant = dataclasses.replace(
        plan, filters=spec.filters[f][1], propagation_distance_m=row["propagation_distance_m"],
        acquisition=dataclasses.replace(plan.acquisition,
                                        subframe_time_s=row["subframe_time_s"]))
    v = evaluate(variant, warn=False).values
    d = v["detector"]
    expected = {
        "mean_detected_energy_keV": v["mean_detected_energy_sample_keV"],
        "voxel_size_um": v["voxel_size_um"], "n_projections": v["n_projections"],
        "fill_fraction": d["fill_fraction"],
        "tissue_range_fraction": v["tissue_range_fraction"],
        "snr_per_projection": d["snr_per_projection"],
        "paganin_length_um": v["paganin_length_um"],
        "expected_resolution_um": v["expected_resolution_um"],
        "dose_Gy": v["dose_Gy"], "scan_time_h": v["scan_time_h"],
    }
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, rel=1e-9), key
    assert row["feasible"] == (not d["saturated"] and not d["starved"])


def test_budgets_exclude_and_ranking_orders(plan, result):
    spec = result.spec
    doses = np.sort(result.columns["dose_Gy"])
    budget = float(doses[doses.size // 2])
    limited = sweep(plan, spec, max_dose_gy=budget, max_time_s=3600.0)
    best = limited.ranked("cnr")
    assert best.size > 0
    assert np.all(limited.columns["dose_Gy"][best] <= budget)
    assert np.all(limited.columns["scan_time_h"][best] <= 1.0)
    assert np.all(np.diff(limited.columns["cnr"][best]) <= 0)
    assert set(limited.reasons[~limited.feasible]) <= {
        "saturated", "starved", "dose over budget", "time over budget"}
    cheapest = limited.ranked("dose")
    assert np.all(np.diff(limited.columns["dose_Gy"][cheapest]) >= 0)
    with pytest.raises(PlanError, match="allowed: cnr"):
        limited.ranked("beauty")


def test_cnr_grows_as_sqrt_dose(result):
    # same filter and distance: CNR ∝ sqrt(exposure) while photon noise dominates
    cnr = result.columns["cnr"].reshape(4, 4, 3)
    dose = result.columns["dose_Gy"].reshape(4, 4, 3)
    slope = np.log(cnr[:, :, 2] / cnr[:, :, 1]) / np.log(dose[:, :, 2] / dose[:, :, 1])
    assert np.all(np.abs(slope - 0.5) < 0.02)


def test_noise_factor_limits():
    # no Paganin filter: ∫ f² sinc⁴(f) df over [-1/2, 1/2]
    f = np.linspace(-0.5, 0.5, 200001)
    expect = np.trapezoid((f * np.sinc(f) ** 2) ** 2, f)
    assert paganin_noise_factor(0.0) == pytest.approx(expect, rel=1e-3)
    # against an independent 2-D quadrature of ∫∫ f_x² sinc⁴(f_x) / (1 + L² f²)²
    from scipy import integrate
    for L in (3.0, 40.0, 300.0):
        def integrand(fz, fx):
            return (fx * np.sinc(fx) ** 2) ** 2 / (1 + L * L * (fx * fx + fz * fz)) ** 2
        pts = [0.0, 1.0 / L, 10.0 / L]
        val = 0.0
        for lo, hi in zip([0.0] + [p for p in pts[1:] if p < 0.5], [p for p in pts[1:] if p < 0.5] + [0.5]):
            val += integrate.dblquad(integrand, lo, hi, 0.0, 0.5, epsabs=0, epsrel=1e-7)[0]
        assert paganin_noise_factor(L) == pytest.approx(4 * val, rel=5e-3), L
    # the long-length law pi ln(L) / L^4 up to a constant: ratio for L and 2L
    g1, g2 = paganin_noise_factor([2000.0, 4000.0])
    assert g1 / g2 == pytest.approx(16 * math.log(2000 * 0.5) / math.log(4000 * 0.5), rel=0.05)


def test_noise_model_matches_fbp_of_white_noise():
    # Monte Carlo: white projection noise sigma_p → Paganin → FBP; the slice's std equals
    # (pi / sqrt(N)) sigma_p sqrt(G(L)) within sampling error
    from hipct.reconstruction.fbp import fbp
    from hipct.reconstruction.phase import PaganinFilter
    rng = np.random.default_rng(3)
    n_proj, rows, cols, sigma = 240, 48, 128, 0.01
    pag = PaganinFilter(30.0, 0.05, 1e-6, 200.0)                 # L ≈ 2.8 px
    length_px = math.sqrt(math.pi * 4.133e-11 * 0.05 * 200.0) / 1e-6
    noise = 1.0 + sigma * rng.standard_normal((n_proj, rows, cols)).astype(np.float32)
    proj = pag.apply(noise)
    theta = np.arange(n_proj) * np.pi / n_proj
    sino = proj[:, rows // 2 - 4:rows // 2 + 4].transpose(1, 0, 2)
    rec = fbp(sino, theta, -(cols - 1) / 2, n=cols)
    centre = rec[:, 40:88, 40:88]
    measured = centre.std()
    predicted = math.pi / math.sqrt(n_proj) * sigma * math.sqrt(paganin_noise_factor(length_px))
    assert measured == pytest.approx(predicted, rel=0.08)
    # and the CNR helper is contrast / that noise (voxel 1 m → contrast per pixel)
    assert tomographic_cnr(1.0, 1.0, n_proj, 1 / sigma, length_px) == pytest.approx(
        1.0 / predicted, rel=1e-9)


def test_bad_sweep_is_one_line(plan):
    with pytest.raises(PlanError, match="propagation_distance.num"):
        parse_sweep({"propagation_distance": {"from": "1 m", "to": "2 m", "num": "x"}}, plan)
    with pytest.raises(PlanError, match="unknown key"):
        parse_sweep({"energy": [1]}, plan)
    with pytest.raises(PlanError, match="subframe_time"):
        parse_sweep({"subframe_time": ["3 m"]}, plan)


def test_example_sweep_has_10000_variants(plan):
    spec = parse_sweep(yaml.safe_load((EXAMPLES / "sweep_voi_intact.yaml").read_text()), plan)
    assert spec.size == 10_000


def test_cli_sweep_json_and_plot(tmp_path, capsys):
    import json

    from hipct.cli import main
    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text("propagation_distance: [0.2 m, 0.35 m, 1 m]\n"
                          "subframe_time: {from: 20 ms, to: 200 ms, num: 5, spacing: log}\n")
    code = main(["plan", str(EXAMPLES / "voi_0p857um_intact.yaml"), "--sweep", str(sweep_file),
                 "--json", "--goal", "dose", "--max-time", "1 h", "--top", "3",
                 "--plot", str(tmp_path / "fig")])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert data["variants"] == 15 and len(data["best"]) <= 3
    doses = [b["dose_Gy"] for b in data["best"]]
    assert doses == sorted(doses) and all(b["scan_time_h"] <= 1 for b in data["best"])
    assert (tmp_path / "fig" / "voi-0.857um-intact-hemisphere_sweep.png").stat().st_size > 10_000


@pytest.mark.parametrize("extra, message", [
    (["--max-dose", "3 m"], "--max-dose: '3 m' is a length"),
    (["--max-time", "soon"], "--max-time"),
    (["--top", "0"], "--top: 0 is out of range"),
    (["--min-range", "2"], "--min-range"),
])
def test_cli_sweep_bad_options_one_line(tmp_path, capsys, extra, message):
    from hipct.cli import main
    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text("subframe_time: [20 ms]\n")
    code = main(["plan", str(EXAMPLES / "voi_0p857um_intact.yaml"), "--sweep", str(sweep_file),
                 *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
