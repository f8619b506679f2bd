"""Image-quality metrics against analytic cases."""

import numpy as np
import pytest
from scipy import ndimage

from hipct.reconstruction.quality import cnr, frc, noise_power_spectrum, range_fraction


def test_cnr_of_two_gaussian_regions():
    rng = np.random.default_rng(0)
    img = np.zeros((200, 200))
    a = np.zeros_like(img, bool)
    a[:, :100] = True
    img[a] = 1.0
    img += rng.normal(0, 0.5, img.shape)
    assert cnr(img, a, ~a) == pytest.approx(2.0, rel=0.03)


def test_white_noise_power_spectrum_is_flat_at_sigma_squared():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 2.0, (8, 128, 128))
    f, p = noise_power_spectrum(noise, pixel_m=0.5)
    assert np.median(p) == pytest.approx(4.0 * 0.25, rel=0.05)
    assert f[-1] == pytest.approx(1.0, rel=0.02)      # Nyquist: 1 / (2 × 0.5)


def test_frc_of_identical_images_is_one_and_noise_lowers_it():
    rng = np.random.default_rng(2)
    img = ndimage.gaussian_filter(rng.normal(size=(128, 128)), 1.0)
    same = frc(img, img)
    assert np.allclose(same.frc, 1.0) and not same.crossed
    a = img + rng.normal(0, 0.05, img.shape)
    b = img + rng.normal(0, 0.05, img.shape)
    r = frc(a, b)
    assert r.crossed and 2.0 < r.resolution_px < 16


def test_frc_resolution_tracks_blur():
    """Blurring the signal before independent noise moves the crossing to lower frequency."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=(4, 160, 160))
    res = []
    for sigma in (0.5, 1.5, 3.0):
        sig = ndimage.gaussian_filter(base, (0, sigma, sigma))
        sig /= sig.std()
        a = sig + rng.normal(0, 0.3, sig.shape)
        b = sig + rng.normal(0, 0.3, sig.shape)
        res.append(frc(a, b).resolution_px)
    assert res[0] < res[1] < res[2]
    # a Gaussian of σ px has its MTF at exp(-2π²σ²f²): the crossing frequency scales as 1/σ
    assert res[2] / res[1] == pytest.approx(2.0, rel=0.3)


def test_range_fraction():
    v = np.linspace(10, 20, 10001)
    assert range_fraction(v, 0, 100) == pytest.approx(0.098, rel=0.01)
