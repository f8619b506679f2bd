import math

import pytest

from hipct.planner import geometry as geo


def test_reference_overview_voxel():
    # BM18 overview: IRIS15 4.25 µm, binning 4, z1 178 m, z2 20 m, voxel 20.07 µm.
    m = geo.xray_magnification(178, 20)
    assert m == pytest.approx(198 / 178)
    optic = geo.optic_magnification_for(20.07e-6, 4.25e-6, 4, m)
    assert 0.24 <= optic <= 1.0
    assert geo.voxel_size_m(4.25e-6, 4, optic, m) == pytest.approx(20.07e-6, rel=1e-12)


def test_block_voi_voxel_from_fixed_optic():
    # BM05 block VOI: IRIS15 binned 2x, fixed 10x, z1 52 m, z2 0.2 m -> 0.847 µm (HOA: 0.857).
    v = geo.voxel_size_m(4.25e-6, 2, 10.0, geo.xray_magnification(52, 0.2))
    assert v == pytest.approx(0.857e-6, rel=0.02)


@pytest.mark.parametrize("geometry, factor", [("full", 1.0), ("half", 2.0), ("quarter", 2.9)])
def test_field_of_view(geometry, factor):
    assert geo.field_of_view_m(1000, 1e-5, geometry) == pytest.approx(factor * 1e-2)


def test_half_acquisition_overlap_reduces_fov():
    assert geo.field_of_view_m(1000, 1e-5, "half", overlap_px=50) == pytest.approx(2 * 950e-5)


def test_recommended_projections_rule():
    # (π/2)·N: 2048 px half acquisition -> 4096 px reconstruction -> 6434 -> 6440.
    assert geo.recommended_projections(4096e-5, 1e-5) == 6440


def test_stages_cover_height():
    assert geo.stages_for_height(0.10, 0.015, 0.005) == 18
    assert (18 - 1) * 0.005 + 0.015 >= 0.10
    assert geo.stages_for_height(0.01, 0.015, 0.005) == 1


def test_effective_distance_and_fresnel_number():
    z = geo.effective_distance_m(178, 20)
    assert z == pytest.approx(178 * 20 / 198)
    lam = geo.wavelength_m(100.0)
    assert lam == pytest.approx(1.23984e-11, rel=1e-4)
    assert geo.fresnel_number(20e-6, 100.0, z) == pytest.approx((20e-6) ** 2 / (lam * z))


def test_paganin_length_pyhst_convention():
    L = geo.paganin_length_m(60.0, 5.0, 2000)
    assert L ** 2 == pytest.approx(math.pi * geo.wavelength_m(60.0) * 5.0 * 2000)


def test_paganin_blur_is_the_fwhm_of_the_filters_line_spread_function():
    # Independent: the 1D line-spread function by FFT of 1 / (1 + L² f²), FWHM measured on it.
    import numpy as np
    from hipct.planner.geometry import paganin_blur_fwhm_m
    L, dx, n = 50e-6, 0.05e-6, 2 ** 18
    f = np.fft.fftfreq(n, dx)
    lsf = np.fft.fftshift(np.fft.ifft(1.0 / (1.0 + (L * f) ** 2)).real)
    above = np.flatnonzero(lsf >= lsf.max() / 2)
    measured = (above[-1] - above[0] + 1) * dx
    assert paganin_blur_fwhm_m(L) == pytest.approx(measured, rel=2e-3)


def test_expected_resolution_includes_phase_retrieval(example_path):
    from hipct.planner.evaluate import evaluate
    from hipct.planner.geometry import paganin_blur_fwhm_m
    from hipct.planner.plan import load_plan
    v = evaluate(load_plan(example_path), warn=False).values
    b = v["blur_um"]
    assert b["phase_retrieval"] == pytest.approx(
        paganin_blur_fwhm_m(v["paganin_length_um"] * 1e-6) * 1e6, rel=1e-12)
    assert v["expected_resolution_um"] == pytest.approx(
        (b["pixel_nyquist"] ** 2 + b["scintillator"] ** 2 + b["source_penumbra"] ** 2
         + b["phase_retrieval"] ** 2) ** 0.5, rel=1e-12)
