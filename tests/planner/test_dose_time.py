import numpy as np
import pytest
import scipy.constants as sc

from hipct.planner.dose import dose_rate_gy_per_s, exposures_per_voxel
from hipct.planner.materials import resolve_material
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
