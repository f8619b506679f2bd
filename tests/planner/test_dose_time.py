import numpy as np
import pytest
import scipy.constants as sc

from hipct.physics.materials import resolve_material
from hipct.planner.dose import dose_rate_gy_per_s, exposures_per_voxel
from hipct.planner.spectrum import monochromatic_spectrum
from hipct.planner.timing import scan_time


def test_monochromatic_water_slab_dose_matches_hand_calculation():
    # 30 keV, 1e10 photons/s over 1 mm², water: Ḋ = φ E μen/ρ.
    # NIST water at 30 keV: μen/ρ = 0.1557 cm²/g = 0.01557 m²/kg, μ/ρ = 0.3756 cm²/g.
    s = monochromatic_spectrum(30.0, 1e10, 1.0)
    phi = 1e10 / 1e-6  # photons / s / m²
    hand = phi * 30e3 * sc.e * 0.01557
    entrance, mean = dose_rate_gy_per_s(s, resolve_material("water"), 0.02)
    assert entrance == pytest.approx(hand, rel=0.01)
    mud = 0.3756 * 2.0  # 2 cm of water
    assert mean == pytest.approx(hand * (1 - np.exp(-mud)) / mud, rel=0.01)


def test_dose_scales_with_fluence():
    w = resolve_material("water")
    a = dose_rate_gy_per_s(monochromatic_spectrum(60.0, 1e10, 1.0), w, 0.05)
    b = dose_rate_gy_per_s(monochromatic_spectrum(60.0, 3e10, 1.0), w, 0.05)
    np.testing.assert_allclose(b, np.array(a) * 3, rtol=1e-12)


def test_exposures_count_overlap_and_quarter():
    assert exposures_per_voxel(1, 0.01, 0.005, 1) == 1
    assert exposures_per_voxel(24, 0.01, 0.005, 2) == 4  # 2x overlap, 2 scans per stage


def test_time_model_against_hoa_overview_record():
    # I74 hemisphere overview (HOA): 12000 frames, 4 x 12 ms, latency 1.2 ms,
    # recorded scan_time 633.713749 s.
    t = scan_time(12000, 4, 0.012, 0.0012, n_ref=101, ref_groups=2, n_dark=3, overhead_s=0,
                  scans_per_stage=2, stages=24)
    assert t.per_tomogram_s == pytest.approx(633.713749, rel=0.005)
    assert t.total_s == pytest.approx(24 * 2 * (633.6 + (202 + 3) * 4 * 0.0132))


def _dose_only_plan(**acq):
    from hipct.planner.plan import parse_plan
    return parse_plan({
        "name": "nano",
        "source": {"type": "monochromatic", "energy": "11 keV", "flux": "1e11 1/s",
                   "beam_size": "1 mm x 1 mm"},
        "sample": {"layers": ["water 1 mm"], "tissue": "water"},
        "acquisition": {"projections": 100, "subframe_time": "10 s", **acq}})


def test_dose_only_monochromatic_plan_with_10_s_subframes():
    # Hand calculation: 11 keV, 1e11 photons/s on 1 mm², 1 mm of water:
    # entrance 64.5 Gy/s, depth-averaged 53.0 Gy/s. No detector and no propagation distance:
    # no read-out latency, so the beam-on time is 100 × 10 s exactly.
    from hipct.planner.evaluate import evaluate
    from hipct.planner.report import format_report
    r = evaluate(_dose_only_plan())
    v = r.values
    assert v["latency_s"] == 0.0
    assert v["entrance_dose_rate_Gy_per_s"] == pytest.approx(64.5, rel=0.005)
    assert v["dose_rate_Gy_per_s"] == pytest.approx(53.0, rel=0.005)
    assert v["dose_Gy"] == pytest.approx(53.0 * 100 * 10.0, rel=0.005)
    head = format_report(r).splitlines()[0]
    assert "monochromatic source (11 keV)" in head and "BM18" not in head


def test_latency_is_the_camera_constant_not_a_fraction_of_the_subframe():
    from hipct.beamlines import load_beamline
    from hipct.planner.evaluate import evaluate
    from hipct.planner.plan import parse_plan
    cam = load_beamline("BM18").camera("IRIS15")
    assert cam.latency_s == pytest.approx(2e-3)  # median of the HOA records' latency_time
    base = {"name": "x", "beamline": "BM18", "propagation_distance": "5 m",
            "detector": {"camera": "IRIS15", "optic": "Fixed x1", "scintillator": "LuAG 100 um"},
            "sample": {"layers": ["water 10 mm"]}}
    times = []
    for t_sub in ("10 ms", "10 s"):
        v = evaluate(parse_plan({**base, "acquisition": {"projections": 100,
                                                         "subframe_time": t_sub}}),
                     warn=False).values
        assert v["latency_s"] == pytest.approx(2e-3)
        times.append(v["time_per_tomogram_s"])
    assert times == pytest.approx([100 * 0.012, 100 * 10.002])
    # an explicit latency in the plan wins
    v = evaluate(_dose_only_plan(latency="1 s"), warn=False).values
    assert v["dose_Gy"] == pytest.approx(53.0 * 100 * 11.0, rel=0.005)


def test_dose_only_plan_from_the_command_line(tmp_path, capsys):
    import json

    import yaml

    from hipct.cli import main
    path = tmp_path / "nano.yaml"
    path.write_text(yaml.safe_dump({
        "name": "nano",
        "source": {"type": "monochromatic", "energy": "11 keV", "flux": "1e11 1/s",
                   "beam_size": "1 mm x 1 mm"},
        "sample": {"layers": ["water 1 mm"]},
        "acquisition": {"projections": 100, "subframe_time": "10 s"}}))
    assert main(["plan", str(path), "--json"]) == 0
    v = json.loads(capsys.readouterr().out)
    assert v["dose_Gy"] == pytest.approx(53.0 * 1000.0, rel=0.005)
    assert v["detector"] is None and v["mean_detected_energy_keV"] is None
