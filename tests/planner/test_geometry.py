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


def _fresnel_paganin(energy_kev, z_m, mismatch, thickness, dx):
    """Exact 1D Fresnel propagation of a brain profile ``thickness`` (m, on a grid of step dx),
    Paganin retrieval at ``mismatch`` × the brain's δ/β; returns (retrieved thickness, δ/β)."""
    import numpy as np
    from hipct.physics.materials import delta_beta, resolve_material
    lam = geo.wavelength_m(energy_kev)
    d, b = (float(x[0]) for x in delta_beta(resolve_material("brain"), [energy_kev]))
    k = 2 * math.pi / lam
    f = np.fft.fftfreq(thickness.size, dx)
    field = np.exp(-k * (b + 1j * d) * thickness)
    intensity = np.abs(np.fft.ifft(np.fft.fft(field) * np.exp(-1j * math.pi * lam * z_m * f ** 2))) ** 2
    filt = 1.0 / (1.0 + math.pi * lam * z_m * mismatch * (d / b) * f ** 2)
    retrieved = -np.log(np.fft.ifft(np.fft.fft(intensity) * filt).real) / (2 * k * b)
    return retrieved, d / b


@pytest.mark.parametrize("energy_kev, z_m, mismatch", [
    (66.0, 0.2, 1.0), (66.0, 0.2, 2.0), (66.0, 1.0, 1.0), (90.0, 0.35, 1.47), (66.0, 0.2, 0.5),
    (66.0, 0.2, 30.0)])
def test_phase_retrieval_resolution_matches_a_fresnel_paganin_simulation(energy_kev, z_m,
                                                                         mismatch):
    # Independent: a 1 µm brain bump (σ = 0.1 Fresnel lengths, phase ≪ 1 rad) propagated with
    # the exact Fresnel propagator, Paganin-retrieved with δ/β = mismatch × the brain's; the
    # transfer is FFT(retrieved) / FFT(object), and the half-period where it first falls to
    # 10 % is compared with the model. Grid: Fresnel length / 32, 2^16 points.
    import numpy as np
    a_f = math.sqrt(geo.wavelength_m(energy_kev) * z_m)
    dx, n = a_f / 32, 2 ** 16
    x = (np.arange(n) - n // 2) * dx
    obj = 1e-6 * np.exp(-x ** 2 / (2 * (0.1 * a_f) ** 2))
    retrieved, db = _fresnel_paganin(energy_kev, z_m, mismatch, obj, dx)
    spec = np.fft.rfft(obj)
    keep = np.abs(spec) > 1e-6 * np.abs(spec[0])
    transfer = (np.fft.rfft(retrieved)[keep] / spec[keep]).real
    freq = np.fft.rfftfreq(n, dx)[keep]
    i = np.flatnonzero(transfer <= 0.1)[0]
    f10 = freq[i - 1] + (transfer[i - 1] - 0.1) / (transfer[i - 1] - transfer[i]) * (freq[i] - freq[i - 1])
    model = geo.phase_retrieval_resolution_m(energy_kev, z_m, mismatch * db, db)
    # 1 % for filters near the object's δ/β; 3 % at 30x, where the crossing falls at a few
    # frequency bins of this grid
    assert model == pytest.approx(0.5 / f10, rel=0.03 if mismatch > 10 else 0.01)


def test_matched_retrieval_edge_is_fresnel_limited_not_paganin_length_limited():
    # A weak brain step (0.5 µm, phase ~0.01 rad), exactly propagated and retrieved at the
    # brain's own δ/β: its 10-90 % rise scales with the Fresnel length sqrt(λ z) (the same
    # ratio to the model at 66 keV / 0.2 m and 90 keV / 1 m), is ~1.2x the model's half-period,
    # and is 20-26x below the FWHM of the Paganin filter's own line-spread function.
    import numpy as np
    ratios = []
    for energy_kev, z_m in ((66.0, 0.2), (90.0, 1.0)):
        a_f = math.sqrt(geo.wavelength_m(energy_kev) * z_m)
        dx, n = a_f / 32, 2 ** 16
        x = (np.arange(n) - n // 2) * dx
        step = np.where(np.abs(x) < n * dx / 4, 0.5e-6, 0.0)
        t, db = _fresnel_paganin(energy_kev, z_m, 1.0, step, dx)
        edge = slice(n // 8, 3 * n // 8)            # the rising edge at x = -n dx / 4
        esf = (t[edge] - t[: n // 16].mean()) / (t[n // 2 - n // 16: n // 2].mean() - t[: n // 16].mean())
        xs = x[edge]
        c = np.searchsorted(xs, -n * dx / 4)
        i = np.flatnonzero(esf[:c] <= 0.1)[-1]
        j = c + np.flatnonzero(esf[c:] >= 0.9)[0]
        x10 = xs[i] + (0.1 - esf[i]) / (esf[i + 1] - esf[i]) * dx
        x90 = xs[j - 1] + (0.9 - esf[j - 1]) / (esf[j] - esf[j - 1]) * dx
        model = geo.phase_retrieval_resolution_m(energy_kev, z_m, db)
        ratios.append((x90 - x10) / model)
        assert x90 - x10 < 0.06 * geo.paganin_blur_fwhm_m(geo.paganin_length_m(energy_kev, z_m, db))
    assert ratios[0] == pytest.approx(ratios[1], rel=0.02)
    assert 1.1 < ratios[0] < 1.35


def test_phase_retrieval_resolution_limits():
    import numpy as np
    # no propagation: nothing to retrieve
    assert geo.phase_retrieval_resolution_m(80.0, 0.0, 1500.0) == 0.0
    # a filter far stronger than the edges (r/r_u < 10 %): the TIE limit (1 + r χ)/(1 + r_u χ)
    # reaches 10 % at χ = 0.9 / (0.1 r_u - r), f = sqrt(χ / (π λ z))
    lam_z = geo.wavelength_m(80.0) * 0.5
    chi = 0.9 / (0.1 * 1e6 - 1e3)
    expected = 0.5 / math.sqrt(chi / (math.pi * lam_z))
    assert geo.phase_retrieval_resolution_m(80.0, 0.5, 1e6, 1e3) == pytest.approx(expected,
                                                                                 rel=1e-3)
    # vectorised: arrays broadcast, element by element as scalars
    e = np.array([60.0, 90.0, 120.0])
    out = geo.phase_retrieval_resolution_m(e, 0.3, 1500.0, np.array([1400.0, 1500.0, 3000.0]))
    for k in range(3):
        assert out[k] == pytest.approx(
            geo.phase_retrieval_resolution_m(e[k], 0.3, 1500.0, [1400.0, 1500.0, 3000.0][k]),
            rel=1e-12)


def test_expected_resolution_includes_phase_retrieval(example_path):
    from hipct.planner.evaluate import evaluate
    from hipct.planner.plan import load_plan
    result = evaluate(load_plan(example_path), warn=False)
    v, pr = result.values, result.phase_retrieval
    b = v["blur_um"]
    # The phase-retrieval term is the propagation + Paganin transfer's 10 % half-period (7.4 µm
    # here), not the Paganin filter's own FWHM (195 µm), which the propagation's phase
    # contrast cancels. The edges are brain against its ethanol: Δδ/Δβ at the retrieval's energy.
    from hipct.physics.materials import delta_beta
    plan = result.plan
    tissue = plan.sample.layers[plan.sample.tissue[0]].material
    (dt,), (bt,) = delta_beta(tissue, [pr.energy_kev])
    (dm,), (bm,) = delta_beta(plan.sample.medium, [pr.energy_kev])
    assert v["edge_delta_over_beta"] == pytest.approx((dt - dm) / (bt - bm), rel=1e-12)
    assert b["phase_retrieval"] == pytest.approx(
        geo.phase_retrieval_resolution_m(pr.energy_kev, pr.z_eff_m, pr.delta_beta,
                                         v["edge_delta_over_beta"]) * 1e6, rel=1e-12)
    assert v["expected_resolution_um"] == pytest.approx(
        (b["pixel_nyquist"] ** 2 + b["scintillator"] ** 2 + b["source_penumbra"] ** 2
         + b["phase_retrieval"] ** 2) ** 0.5, rel=1e-12)


def test_edges_without_a_medium_are_the_tissues_own(example_dict):
    # a bare tissue (no medium around it): its edges are against air, Δδ/Δβ = the tissue's δ/β,
    # and the plan's default δ/β matches them: for r = r_u ≫ 1 the transfer tends to sin χ / χ,
    # which is 0.1 at χ = 2.852, so the half-period is ½ sqrt(π / 2.852) sqrt(λ z) = 0.525 sqrt(λ z)
    from hipct.planner.evaluate import evaluate
    from hipct.planner.plan import parse_plan
    example_dict["sample"] = {"layers": ["brain 50 mm"]}
    result = evaluate(parse_plan(example_dict), warn=False)
    v, pr = result.values, result.phase_retrieval
    assert result.plan.sample.medium is None
    assert v["edge_delta_over_beta"] == v["tissue_delta_over_beta"] == v["delta_beta"]
    fresnel = math.sqrt(geo.wavelength_m(pr.energy_kev) * pr.z_eff_m) * 1e6
    assert v["blur_um"]["phase_retrieval"] == pytest.approx(0.525 * fresnel, rel=0.01)
