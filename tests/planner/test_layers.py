import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hipct.errors import MaterialError, PlanError
from hipct.planner.layers import ROD_FILL_FACTOR, parse_layer, transmission
from hipct.planner.materials import mu_per_cm, resolve_material

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
    assert layer.thickness_m == pytest.approx(nominal_mm * 1e-3 * (math.pi / 4 if rods else 1))


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
