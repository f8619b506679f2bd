"""Air over the propagation distance, the binned pixel's well, and the HOA exposure convention."""

import numpy as np
import pytest
import yaml

from hipct.beamlines import load_beamline
from hipct.planner.evaluate import evaluate
from hipct.planner.hoa import exposure_is_per_subframe, plan_dict_from_hoa
from hipct.planner.plan import parse_plan

AIR_DENSITY_G_CM3 = 1.205e-3  # dry air near sea level (NIST)


def _plan(z2="20 m", beamline="BM18", binning=1, **detector):
    det = {"camera": "IRIS15", "optic": "Fixed x1", "scintillator": "LuAG 100 um",
           "binning": binning, **detector}
    return parse_plan({"name": "x", "beamline": beamline, "propagation_distance": z2,
                       "filters": ["sapphire 5 mm", "Ag 0.1 mm"], "detector": det,
                       "acquisition": {"projections": 1000, "subframe_time": "20 ms"}})


@pytest.mark.parametrize("energy_kev, mu_rho_nist", [(50.0, 0.2080), (80.0, 0.1662),
                                                     (100.0, 0.1541)])
def test_air_over_the_propagation_distance_matches_nist(energy_kev, mu_rho_nist):
    # NIST X-ray mass attenuation table for dry air (Hubbell & Seltzer, μ/ρ with coherent
    # scattering): exp(-μ/ρ ρ z2) over 20 m, e.g. 0.67 at 80 keV.
    r = evaluate(_plan("20 m"), warn=False)
    curve = r.transmission_curves["air over the propagation distance"]
    got = np.interp(energy_kev, r.energy_kev, curve)
    expected = np.exp(-mu_rho_nist * AIR_DENSITY_G_CM3 * 2000.0)
    assert got == pytest.approx(expected, rel=0.01)


def test_air_hardens_the_detected_beam_and_a_vacuum_beamline_does_not(tmp_path):
    near = evaluate(_plan("1 m"), warn=False).values["mean_detected_energy_keV"]
    far = evaluate(_plan("30 m"), warn=False).values["mean_detected_energy_keV"]
    assert far > near + 0.5  # 30 m of air removes the soft part more
    d = yaml.safe_load(load_beamline_text())
    d["propagation_medium"] = "vacuum"
    path = tmp_path / "bm18_vacuum.yaml"
    path.write_text(yaml.safe_dump(d))
    r_near = evaluate(_plan("1 m", beamline=str(path)), warn=False)
    r_far = evaluate(_plan("30 m", beamline=str(path)), warn=False)
    assert not any("propagation distance" in k for k in r_far.transmission_curves)
    assert r_far.values["mean_detected_energy_keV"] == pytest.approx(
        r_near.values["mean_detected_energy_keV"], rel=1e-12)


def load_beamline_text():
    from importlib import resources
    return resources.files("hipct.beamlines").joinpath("bm18.yaml").read_text()


def test_binned_pixel_saturates_at_its_output_word():
    cam = load_beamline("BM18").camera("IRIS15")
    # 16-bit output at the gain mapping one pixel's well onto 16 bits: one pixel's well
    for n in (1, 2, 4):
        assert cam.full_well_binned_e(n) == pytest.approx(cam.full_well_e)
    import dataclasses
    wide = dataclasses.replace(cam, binned_bit_depth=32)
    assert wide.full_well_binned_e(1) == pytest.approx(cam.full_well_e)
    assert wide.full_well_binned_e(3) == pytest.approx(9 * cam.full_well_e)  # n² wells


def test_binning_sums_the_light_of_n_squared_pixels_into_one_well():
    # Same optic and distance: a 2x2 binned pixel sees 4x the area at the sample, so 4x the
    # electrons, into the same 16-bit well: 4x the fill.
    one = evaluate(_plan("5 m", binning=1), warn=False).values["detector"]
    two = evaluate(_plan("5 m", binning=2), warn=False).values["detector"]
    assert two["flat_electrons"] == pytest.approx(4 * one["flat_electrons"], rel=1e-9)
    assert two["full_well_electrons"] == one["full_well_electrons"]
    assert two["fill_fraction"] == pytest.approx(4 * one["fill_fraction"], rel=1e-9)


def _record(scan_time_per_frame_s):
    return {"name": "r", "scan": {
        "beamline": "BM05", "distance_sample_detector": 3500.0, "filters": ["Mo 0.1mm"],
        "n_frames": 6000, "n_subframes": 3, "exposure_time": 0.025, "latency_time": 0.002,
        "scan_time": 6000 * scan_time_per_frame_s, "acquisition": "half"}}


def test_exposure_convention_is_read_from_the_records_own_timing():
    # 86 ms per frame recorded: 3 x (25 + 2) ms = 81 ms fits, 25 + 2 ms does not
    per_sub = _record(0.086)
    assert exposure_is_per_subframe(per_sub["scan"])
    acq = plan_dict_from_hoa(per_sub)["acquisition"]
    assert acq["subframe_time"] == "0.025 s" and acq["latency"] == "0.002 s"
    # 30 ms per frame: the 25 ms exposure is the whole frame's, split over 3 sub-frames
    whole = _record(0.030)
    assert not exposure_is_per_subframe(whole["scan"])
    acq = plan_dict_from_hoa(whole)["acquisition"]
    assert float(acq["subframe_time"].split()[0]) == pytest.approx(0.025 / 3)
    # no scan time: the whole-frame convention
    del whole["scan"]["scan_time"]
    assert not exposure_is_per_subframe(whole["scan"])


def test_unknown_propagation_medium_names_the_field(tmp_path):
    from hipct.errors import HipctError
    d = yaml.safe_load(load_beamline_text())
    d["propagation_medium"] = "aire"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(d))
    with pytest.raises(HipctError, match="propagation_medium"):
        load_beamline(str(path))
