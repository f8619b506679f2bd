"""Paganin retrieval on a simulated sphere (Fresnel propagation written here), unsharp mask."""

import time

import numpy as np
import pytest

from hipct.errors import HipctError
from hipct.reconstruction import phase


def _propagated_sphere(n=384, energy_kev=30.0, px=1e-6, z=0.05, radius_px=110, db=1000.0):
    """Intensity of a homogeneous sphere after free-space propagation.

    Exit wave exp(-mu T / 2 - i k delta T) propagated with the Fresnel transfer function
    exp(-i pi lambda z |f|^2) on a 3× zero-padded (unit-wave) grid.
    """
    lam = phase.wavelength_m(energy_kev)
    delta = 3e-7
    beta = delta / db
    mu = 4 * np.pi * beta / lam
    x = (np.arange(n) - n / 2) * px
    xx, yy = np.meshgrid(x, x)
    r = radius_px * px
    thick = 2 * np.sqrt(np.clip(r * r - xx * xx - yy * yy, 0, None))
    psi = np.exp(-mu * thick / 2 - 1j * (2 * np.pi / lam) * delta * thick)
    psi = np.pad(psi, n, constant_values=1)
    f = np.fft.fftfreq(psi.shape[0], d=px)
    fx, fy = np.meshgrid(f, f)
    out = np.fft.ifft2(np.fft.fft2(psi) * np.exp(-1j * np.pi * lam * z * (fx ** 2 + fy ** 2)))
    intensity = np.abs(out[n:-n, n:-n]) ** 2
    return intensity, thick, mu, (xx ** 2 + yy ** 2) < (0.9 * r) ** 2, lam


def test_sphere_thickness_within_two_percent():
    energy, px, z = 30.0, 1e-6, 0.05
    intensity, thick, mu, inner, lam = _propagated_sphere(energy_kev=energy, px=px, z=z)
    assert px ** 2 / (lam * z) == pytest.approx(0.48, abs=0.05)     # Fresnel number ~1
    assert intensity.max() > 1.3                                      # real phase contrast
    retrieved = phase.paganin(intensity, energy, z, px, 1000.0) / mu
    err = np.abs(retrieved - thick)[inner] / thick.max()
    assert err.max() < 0.02                     # measured 0.3 %


def test_filter_is_one_at_zero_frequency_and_matches_paganin_formula():
    pf = phase.PaganinFilter(50.0, 2.0, 5e-6, 2000.0)
    resp = pf.response((64, 64))
    assert resp[0, 0] == 1.0
    lam = phase.wavelength_m(50.0)
    f = 3 / (64 * 5e-6)                          # 3 cycles across the field, along x
    expected = 1 / (1 + np.pi * lam * 2.0 * 2000.0 * f * f)
    assert resp[0, 3] == pytest.approx(expected, rel=1e-5)
    # PyHST2's L: F = 1 / (1 + L^2 f^2)
    L = phase.paganin_length_m(50.0, 2.0, 2000.0)
    assert expected == pytest.approx(1 / (1 + (L * f) ** 2), rel=1e-12)


def test_wavelength():
    # lambda[nm] = 1.23984 / E[keV]
    assert phase.wavelength_m(12.398) == pytest.approx(1.0000e-10, rel=1e-4)


def test_flat_field_gives_zero():
    pf = phase.PaganinFilter(30.0, 0.5, 2e-6, 1500.0)
    out = pf.apply(np.ones((3, 40, 50), np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 0.0, atol=1e-6)


def test_vertical_chunks_with_margin_equal_whole():
    rng = np.random.default_rng(1)
    img = (0.6 + 0.3 * rng.random((2, 120, 80))).astype(np.float32)
    pf = phase.PaganinFilter(30.0, 0.3, 3e-6, 800.0)
    m = pf.margin
    whole = pf.apply(img)
    # rows 50:90 processed with their real neighbours as margin
    lo, hi = max(50 - m, 0), min(90 + m, 120)
    part = pf.apply(img[:, lo:hi], pad_rows=(m - (50 - lo), m - (hi - 90)))[:, 50 - lo:90 - lo]
    np.testing.assert_allclose(part, whole[:, 50:90], atol=2e-4)


def test_bad_parameters_name_the_field():
    with pytest.raises(HipctError, match="distance_m"):
        phase.PaganinFilter(30.0, 0.0, 1e-6, 1000.0)


def test_unsharp_mask_formula():
    rng = np.random.default_rng(2)
    img = rng.random((2, 40, 40)).astype(np.float32)
    out = phase.unsharp_mask(img, 2.0, 0.5)
    from scipy import ndimage
    expected = 1.5 * img - 0.5 * ndimage.gaussian_filter(img, (0, 2, 2), mode="nearest")
    np.testing.assert_allclose(out, expected, atol=1e-6)
    const = np.full((30, 30), 3.0, np.float32)
    np.testing.assert_allclose(phase.unsharp_mask(const, 3.0, 0.8), const, atol=1e-5)
    assert phase.unsharp_mask(img, 0.0, 0.5) is img


class _Yielding(phase.PaganinFilter):
    """A filter whose every read of its cache lets other threads run first (as a
    free-threaded interpreter may at any point), so a check-then-read race shows."""

    @property
    def _cache(self):
        time.sleep(0)
        return self.__dict__.get("_cached")

    @_cache.setter
    def _cache(self, value):
        self.__dict__["_cached"] = value


def test_response_cache_is_safe_across_threads():
    # threads of one dask worker share a filter and ask for different padded shapes at once:
    # each must get its own shape's response, equal to a fresh filter's, never another's
    from concurrent.futures import ThreadPoolExecutor
    shared = _Yielding(30.0, 0.05, 1e-6, 1000.0)
    shapes = [(32 + 2 * (k % 5), 48 + 4 * (k % 3)) for k in range(200)]
    fresh = {s: phase.PaganinFilter(30.0, 0.05, 1e-6, 1000.0).response(s) for s in set(shapes)}
    rng = np.random.default_rng(0)
    frames = {s: rng.uniform(0.5, 1.0, (s[0] - 8, s[1] - 8)).astype(np.float32)
              for s in set(shapes)}
    expected = {s: phase.PaganinFilter(30.0, 0.05, 1e-6, 1000.0).apply(f, pad_rows=(0, 0))
                for s, f in frames.items()}

    def one(s):
        ok = True
        for _ in range(5):                      # hit and miss the cache
            r = shared.response(s)
            ok &= r.shape == fresh[s].shape and np.array_equal(r, fresh[s])
        return ok and np.array_equal(shared.apply(frames[s], pad_rows=(0, 0), workers=1),
                                     expected[s])
    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(one, shapes))
