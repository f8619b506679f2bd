"""Flat/dark correction (angle-interpolated flats, ring current, unsafe pixels) and rings."""

import numpy as np
import pytest

from hipct.errors import DataError, HipctWarning
from hipct.reconstruction import fbp, flatfield, rings


def test_flats_interpolated_by_angle():
    # flats before (at 0) read 1000, after (at pi) read 2000: a projection at pi/4 of a
    # transparent sample must come out at transmission 1 with the flat 1250
    flats = np.concatenate([np.full((3, 2, 4), 1000.0), np.full((3, 2, 4), 2000.0)])
    groups = flatfield.group_flats(flats, np.array([0, 1, 2, 50, 51, 52]),
                                   np.array([0, 0, 0, np.pi, np.pi, np.pi]))
    assert groups.images.shape == (2, 2, 4)
    theta = np.array([0.0, np.pi / 4, np.pi])
    proj = np.stack([np.full((2, 4), v) for v in (1000.0, 1250.0, 2000.0)])
    t = flatfield.normalise(proj, np.zeros((2, 4)), groups, theta)
    np.testing.assert_allclose(t, 1.0, rtol=1e-6)


def test_ring_current_normalisation():
    flats = np.full((2, 1, 3), 800.0)                 # taken at 200 mA
    groups = flatfield.group_flats(flats, np.array([0, 1]), np.zeros(2), np.array([200.0, 200.0]))
    proj = np.full((1, 1, 3), 400.0)                  # taken at 100 mA: still transmission 1
    t = flatfield.normalise(proj, np.zeros((1, 3)), groups, np.zeros(1), np.array([100.0]))
    np.testing.assert_allclose(t, 1.0)


def test_unsafe_pixels_are_clipped_and_reported():
    groups = flatfield.FlatGroups(np.array([[[100.0, 0.0, 100.0, 100.0]]]), np.zeros(1))
    proj = np.array([[[50.0, 50.0, -5.0, np.nan]]])
    with pytest.warns(HipctWarning, match="flat <= dark.*non-finite.*clipped"):
        t = flatfield.normalise(proj, np.zeros((1, 4)), groups, np.zeros(1), where="rows 0:1")
    assert t[0, 0, 0] == pytest.approx(0.5)
    assert t[0, 0, 1] == 1.0 and t[0, 0, 3] == 1.0
    assert t[0, 0, 2] == pytest.approx(1e-6)
    assert np.all(np.isfinite(-np.log(t)))


def test_saturation_is_reported():
    groups = flatfield.FlatGroups(np.full((1, 1, 2), 100.0), np.zeros(1))
    with pytest.warns(HipctWarning, match="saturated"):
        flatfield.normalise(np.array([[[65535.0, 50.0]]]), np.zeros((1, 2)), groups,
                            np.zeros(1), saturation=65535)


def test_missing_flats_is_a_data_error():
    with pytest.raises(DataError, match="no flat fields"):
        flatfield.group_flats(np.zeros((0, 2, 2)), np.zeros(0, int), np.zeros(0))


def test_synthetic_flat_is_median_over_angles():
    proj = np.stack([np.full((2, 3), v) for v in (1.0, 5.0, 2.0)])
    np.testing.assert_allclose(flatfield.synthetic_flat(proj), 2.0)


def _gaussian_blobs_sinogram(theta, u):
    # analytic projections of isotropic 2D Gaussians A exp(-r^2 / 2 s^2): A sqrt(2 pi) s exp(-t^2 / 2 s^2)
    out = np.zeros((theta.size, u.size))
    for a, s, x0, y0 in ((0.05, 40.0, 0, 0), (0.02, 15.0, 25, -10), (0.03, 10.0, -20, 15)):
        t = u[None] - x0 * np.cos(theta)[:, None] - y0 * np.sin(theta)[:, None]
        out += a * np.sqrt(2 * np.pi) * s * np.exp(-t * t / (2 * s * s))
    return out


def test_ring_removal_reduces_rings_fivefold():
    n, k = 128, 360
    theta = np.arange(k) * np.pi / k
    u = np.arange(n) - (n - 1) / 2
    clean = _gaussian_blobs_sinogram(theta, u)
    striped = clean.copy()
    striped[:, 80] += 0.5                            # one defective detector column
    striped[:, 30:32] -= 0.5                         # and a two-column one
    reference = fbp.fbp(clean, theta, u[0])
    ring = fbp.fbp(striped, theta, u[0]) - reference
    fixed = fbp.fbp(rings.remove_stripes(striped, 9), theta, u[0]) - reference
    assert np.sqrt(np.mean(fixed ** 2)) < 0.2 * np.sqrt(np.mean(ring ** 2))   # measured 0.074
    assert rings.remove_stripes(striped[None], 9).shape == (1, k, n)
    # a sinogram without stripes is left (nearly) alone
    assert np.max(np.abs(rings.remove_stripes(clean, 9) - clean)) < 0.02 * clean.max()


@pytest.mark.parametrize("width, removed", [(1, 0.956), (4, 0.825), (18, 0.390)])
def test_ring_removal_takes_more_of_narrower_stripes(width, removed):
    # the fractions `hipct reconstruct --help` quotes for --rings 9 (a unit stripe on a
    # uniform sinogram; what stays is the part of the offset wider than the filter's scale)
    sino = np.zeros((100, 200), np.float32)
    sino[:, 100:100 + width] += 1.0
    left = rings.remove_stripes(sino, 9)[:, 100:100 + width].mean()
    assert 1 - left == pytest.approx(removed, abs=0.005)
