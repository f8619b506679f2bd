import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hipct.errors import MaterialError, PlanError
from hipct.physics.layers import ROD_FILL_FACTOR, parse_layer, transmission
from hipct.physics.materials import mu_per_cm, resolve_material

E = np.linspace(20, 200, 37)


def test_beer_lambert_multiplies_across_layers():
    a, b = parse_layer("sapphire 10 mm", "f"), parse_layer("Ag 0.2 mm", "f")
    np.testing.assert_allclose(transmission([a, b], E), transmission([a], E) * transmission([b], E),
                               rtol=1e-12)


def test_thickness_round_trip_from_transmission():
    layer = parse_layer("glassy carbon 10 mm", "f")
    t = transmission([layer], E)
    mu = mu_per_cm(resolve_material("glassy carbon"), E)
    np.testing.assert_allclose(-np.log(t) / mu, 1.0, rtol=1e-10)  # cm


@settings(max_examples=30, deadline=None)
@given(st.floats(0.01, 50.0), st.floats(0.01, 50.0))
def test_transmission_monotone_in_thickness(t1, t2):
    lo, hi = sorted((t1, t2))
    a = transmission([parse_layer(f"sapphire {lo} mm", "f")], E)
    b = transmission([parse_layer(f"sapphire {hi} mm", "f")], E)
    assert np.all(b <= a + 1e-15)


@pytest.mark.parametrize("text, material, nominal_mm, rods", [
    ("Silver 0.1mm", "silver", 0.1, False),
    ("SiO2 40mm rods 10x4mm", "sio2", 40, True),
    ("Carbon rod 64mm", "carbon rod", 64, True),
    ("SiO2 20mm block", "sio2", 20, False),
    ("Glassy carbon 135mm rods 27x5mm", "glassy carbon", 135, True),
    ("UNKNOWN sapphire 5mm", "sapphire", 5, False),
    ("ethanol 70% 40 mm", "ethanol 70%", 40, False),
])
def test_hoa_spellings(text, material, nominal_mm, rods):
    layer = parse_layer(text, "filters[0]")
    assert layer.material.name == material
    assert layer.nominal_m == pytest.approx(nominal_mm * 1e-3)
    assert layer.rods is rods
    if not rods:
        assert layer.thickness_m == pytest.approx(nominal_mm * 1e-3)
    else:  # the mean path through rods lies between π/4 and 1 of the nominal length
        assert math.pi / 4 * nominal_mm * 1e-3 < layer.thickness_m < nominal_mm * 1e-3


def test_rod_rule_is_mean_chord_of_a_cylinder():
    # Mean chord of a circle of diameter d over a uniform lateral offset = π d / 4.
    x = np.linspace(-1, 1, 200001)
    assert np.mean(2 * np.sqrt(1 - x ** 2)) / 2 == pytest.approx(ROD_FILL_FACTOR, rel=1e-4)


def test_mapping_form_with_density():
    layer = parse_layer({"material": "C", "thickness": "5 mm", "density": "2.0 g/cm^3"}, "f")
    assert layer.material.density_g_cm3 == 2.0


@pytest.mark.parametrize("spec, message", [
    ("sapphire", "has no thickness"),
    ("Ag -0.2 mm", "out of range"),
    ("Ag 2 s", "is a time, expected a length"),
    ({"material": "Ag"}, "missing 'thickness'"),
    ("SiO2 40mm rods 3x4mm", "do not make"),
])
def test_bad_layers(spec, message):
    with pytest.raises(PlanError, match=message):
        parse_layer(spec, "filters[1]")


def test_unknown_material_names_field():
    with pytest.raises(MaterialError, match=r"^filters\[1\]: unknown material 'unobtainium'"):
        parse_layer("unobtainium 2 mm", "filters[1]")


def _rod_transmission_by_quadrature(mu_per_cm, nominal_m, d_m, h_m, n=400_001):
    # independent: a fine midpoint rule over the beam height, rods stacked with period d
    y = (np.arange(n) + 0.5) / n * h_m - h_m / 2
    y = (y + d_m / 2) % d_m - d_m / 2
    path = nominal_m * np.sqrt(np.clip(1 - (2 * y / d_m) ** 2, 0, None))
    return np.exp(-np.outer(mu_per_cm * 100.0, path)).mean(axis=1)


@pytest.mark.parametrize("h_over_d", [0.1, 0.25, 0.5, 1.0, 1.7, 3.0])
def test_rod_stack_transmission_matches_numerical_integration(h_over_d):
    from hipct.physics.layers import rod_stack_transmission
    mu = mu_per_cm(resolve_material("sio2"), E)
    d = 4e-3
    ref = _rod_transmission_by_quadrature(mu, 40e-3, d, h_over_d * d)
    got = rod_stack_transmission(mu, 40e-3, d, h_over_d * d)
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=1e-12)


@pytest.mark.parametrize("h_over_d, ratio", [(0.25, 0.99), (0.5, 0.955), (1.0, 0.74)])
def test_carbon_rod_effective_path_at_80_kev(h_over_d, ratio):
    # Effective path -ln T / μ relative to the nominal 64 mm of carbon rods at 80 keV
    # (expected: 0.99 at h = d/4, 0.955 at d/2, ≈ 0.74 for a beam covering whole rods).
    layer = parse_layer({"material": "carbon rod", "thickness": "64 mm", "rods": True,
                         "rod_diameter": "8 mm", "beam_height": f"{8 * h_over_d} mm"}, "f")
    mu = mu_per_cm(resolve_material("carbon rod"), [80.0])[0]
    effective = layer.mu_t([80.0])[0] / (mu * 6.4)
    assert effective == pytest.approx(ratio, abs=0.01)
    # and this is not Beer-Lambert on the mean chord (π/4 = 0.785) except by accident
    assert abs(effective - ROD_FILL_FACTOR) > 0.04


def test_rod_text_uses_its_diameter_and_the_beamline_beam_height():
    layer = parse_layer("SiO2 40mm rods 10x4mm", "filters[0]", (6e-3, 1e-3))
    assert layer.rod_diameter_m == pytest.approx(4e-3) and layer.beam_height_m == 1e-3
    plain = parse_layer("Carbon rod 64mm", "filters[0]", (6e-3, 1e-3))
    assert plain.rod_diameter_m == pytest.approx(6e-3)
    # the mean path keeps the areal mass: nominal × mean of sqrt(1 - (2y/d)²) over the beam
    y = np.linspace(-0.5e-3, 0.5e-3, 100001)
    assert layer.thickness_m == pytest.approx(40e-3 * np.mean(np.sqrt(1 - (y / 2e-3) ** 2)),
                                              rel=1e-5)
