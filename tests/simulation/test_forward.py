"""Forward model: chords, propagation, detector, against analytic results and the planner."""

import numpy as np
import pytest

from hipct.simulation.ellipsoids import (ChordProjector, Ellipsoid,
                                                        chord_lengths, rotation)
from hipct.simulation.optics import Propagator, energy_bins, wavelength_m
from hipct.simulation.simulate import SimConfig, Simulation


def _features(rng):
    feats = [Ellipsoid((0.0, 0.0, 0.0), (40.0, 40.0, np.inf), np.eye(3), "a", "air")]
    for _ in range(12):
        c = tuple(rng.uniform(-20, 20, 3))
        semi = tuple(rng.uniform(1, 9, 3))
        feats.append(Ellipsoid(c, semi, rotation(*rng.uniform(0, np.pi, 2)), "b", "a"))
    return feats


@pytest.mark.parametrize("theta", [0.0, 0.4, 1.9, 3.0])
def test_chord_kernel_matches_numpy_reference(theta):
    feats = _features(np.random.default_rng(1))
    u = np.linspace(-45, 45, 181)
    z = np.linspace(-25, 25, 41)
    ref = chord_lengths(feats, theta, u, z)
    got = ChordProjector(feats)(theta, u, z)
    np.testing.assert_allclose(got, ref, atol=1e-9)


def test_sphere_and_cylinder_chords_are_analytic():
    sphere = Ellipsoid((3.0, -2.0, 1.0), (5.0, 5.0, 5.0), np.eye(3), "b", "a")
    column = Ellipsoid((0.0, 0.0, 0.0), (10.0, 10.0, np.inf), np.eye(3), "a", "air")
    u = np.linspace(-12, 12, 97)
    z = np.array([1.0, 4.0])
    theta = 0.7
    got = ChordProjector([sphere, column])(theta, u, z)
    uc = 3.0 * np.cos(theta) + 2.0 * np.sin(theta)       # u = x cos - y sin of the centre
    r2 = (u[None, :] - uc) ** 2 + (z[:, None] - 1.0) ** 2
    np.testing.assert_allclose(got[0], 2 * np.sqrt(np.clip(25 - r2, 0, None)), atol=1e-9)
    np.testing.assert_allclose(got[1], np.broadcast_to(2 * np.sqrt(np.clip(100 - u ** 2, 0, None)),
                                                       (2, u.size)), atol=1e-9)


def test_weak_phase_propagation_follows_the_transport_of_intensity_equation():
    """I(z) = 1 − (z/k) ∇²φ for a weak, smooth phase object (Teague 1983)."""
    e = np.array([30.0])
    lam = wavelength_m(e)[0]
    px, n, z = 1e-6, 256, 0.05
    x = (np.arange(n) - n / 2) * px
    xx, yy = np.meshgrid(x, x)
    s = 12e-6
    k = 2 * np.pi / lam
    # one group whose path length is a Gaussian bump; δ chosen for a 0.05 rad phase peak
    path = 1e-4 * np.exp(-(xx ** 2 + yy ** 2) / (2 * s ** 2))
    delta = 0.05 / (k * 1e-4)
    prop = Propagator(e, [1.0], [[delta]], [[0.0]], z, px, (n, n), 0.0)
    got = prop.intensity(path[None])
    phi = -k * delta * path
    r2 = xx ** 2 + yy ** 2
    lap = phi * (r2 - 2 * s ** 2) / s ** 4
    expected = 1 - (z / k) * lap
    dev = got - 1
    np.testing.assert_allclose(dev, expected - 1, atol=0.03 * np.abs(expected - 1).max())
    assert got.mean() == pytest.approx(1.0, abs=1e-6)   # energy is conserved (float32 FFT)


def test_energy_bins_keep_the_weighted_mean():
    e = np.linspace(20, 150, 261)
    w = np.exp(-((e - 70) / 20) ** 2)
    eb, wb = energy_bins(e, w, 8)
    assert wb.sum() == pytest.approx(1.0)
    assert np.dot(eb, wb) == pytest.approx(np.sum(e * w) / w.sum(), rel=1e-9)
    assert np.all(np.diff(eb) > 0) and eb.size == 8


def test_axis_transmission_matches_the_planner(small_plan):
    sim = Simulation(small_plan, SimConfig(width=32, rows=1, noise=False, extruded=True,
                                           geometry="full"))
    centre = sim.intensity(0.0)[0, 15:17].mean()
    # the planner's transmission is the same deposited-energy weighting on a finer grid
    assert centre == pytest.approx(sim.result.values["sample_transmission"], rel=0.01)


def test_flat_counts_and_noise_follow_the_plan(small_plan):
    sim = Simulation(small_plan, SimConfig(width=32, rows=4, extruded=True, geometry="full"))
    det = sim.detector
    rng = np.random.default_rng(0)
    flats = np.stack([sim.frame(None, rng) for _ in range(200)]).astype(float)
    flat_e = sim.result.values["detector"]["flat_electrons"]
    mean_adu = flat_e / det.gain_e_per_adu + det.dark_adu
    assert flats.mean() == pytest.approx(mean_adu, rel=0.01)
    # variance of X-ray quanta times the light gain, plus the light statistics (white), in ADU²;
    # the light spread (blur) lowers the X-ray part per pixel: bounded by the two cases
    g, n = det.electrons_per_xray, det.xrays_flat
    var_white = (n * g * g + n * g) / det.gain_e_per_adu ** 2
    var = flats.var(axis=0).mean()
    assert 0.5 * var_white < var < 1.05 * var_white
