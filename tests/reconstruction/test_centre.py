"""Automatic centre of rotation: simulated scans with a known axis, and the real tooth scan."""

import h5py
import numpy as np
import pytest

from hipct.reconstruction import centre, fbp, phantom

W = 384
ELL = [phantom.Ellipse(v, a, b, x + 11, y - 7, p) for v, a, b, x, y, p in phantom.shepp_logan(150)]


@pytest.mark.parametrize("cor", [195.3, 180.75])
def test_180_scan_without_end_point(cor):
    theta = np.arange(600) * np.pi / 600
    sino = phantom.sinogram(ELL, theta, np.arange(W) - cor)
    assert centre.find_cor(sino, theta) == pytest.approx(cor, abs=0.5)


def test_180_scan_with_both_end_points_uses_opposite_pairs():
    theta = np.arange(601) * np.pi / 600
    sino = phantom.sinogram(ELL, theta, np.arange(W) - 190.4)
    assert centre.find_cor_pairs(sino, theta) == pytest.approx(190.4, abs=0.5)


@pytest.mark.parametrize("cor", [371.3, 12.6])
def test_half_acquisition_360(cor):
    theta = np.arange(1200) * 2 * np.pi / 1200
    big = phantom.shepp_logan(340)                 # wider than the 384-px detector
    sino = phantom.sinogram(big, theta, np.arange(W) - cor)
    assert centre.find_cor(sino, theta) == pytest.approx(cor, abs=0.5)
    assert centre.find_cor(sino, theta, half_acquisition=True) == pytest.approx(cor, abs=0.5)


def test_tooth_against_an_independent_estimate(tooth_path):
    with h5py.File(tooth_path) as f:
        d = f["exchange/data"][:].astype(np.float32)
        flat = f["exchange/data_white"][:].mean(axis=0)
        dark = f["exchange/data_dark"][:].mean(axis=0)
        theta = np.radians(f["exchange/theta"][:])
    sino = -np.log(np.clip((d - dark) / (flat - dark), 1e-3, None)).transpose(1, 0, 2)
    auto = centre.find_cor(sino, theta)
    # independent: minimum histogram entropy of trial reconstructions (tomopy's find_center
    # principle, Donath et al. 2006), searched on a 0.5-px grid
    candidates = np.arange(288, 304.01, 0.5)
    entropy = []
    for c in candidates:
        rec = fbp.fbp(sino[0], theta, -c, n=501)
        h, _ = np.histogram(rec, bins=256, range=(-0.005, 0.015))
        p = h[h > 0] / h.sum()
        entropy.append(-(p * np.log(p)).sum())
    independent = candidates[int(np.argmin(entropy))]
    assert auto == pytest.approx(independent, abs=1.5)   # measured: 295.89 vs 295.5
