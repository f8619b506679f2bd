"""FBP against analytic sinograms (Kak & Slaney ellipse line integrals, not our projector)."""

import numpy as np
import pytest

from hipct.errors import HipctError
from hipct.reconstruction import fbp, phantom


def _disc_mask(n, frac):
    c = (n - 1) / 2
    yy, xx = np.mgrid[:n, :n]
    return (xx - c) ** 2 + (yy - c) ** 2 < (frac * n) ** 2


def test_ramp_response_dc_and_nyquist():
    # Kak & Slaney's discrete ramp: H(1/2) = 1/4 + 2 * sum_odd 1/(pi k)^2 = 1/2 exactly, and
    # a small *positive* DC (not the zero of a sampled |f|)
    h = fbp.filter_response(256, "ramp")
    assert h[-1] == pytest.approx(0.5, abs=2e-3)
    assert 0 < h[0] < 2.0 / (np.pi ** 2 * 256)
    n_pad = (h.size - 1) * 2
    assert n_pad >= 512


@pytest.mark.parametrize("name", ["shepp-logan", "cosine", "hamming", "hann"])
def test_windows_below_ramp(name):
    ramp = fbp.filter_response(200, "ramp")
    win = fbp.filter_response(200, name)
    assert win[0] == pytest.approx(ramp[0])
    assert np.all(win <= ramp + 1e-7)


def test_unknown_filter_is_one_line_error():
    with pytest.raises(HipctError, match="allowed: ramp"):
        fbp.filter_response(64, "lanczos")


@pytest.mark.slow
@pytest.mark.parametrize("method", fbp.METHODS)
def test_shepp_logan_1024_from_1500_projections(method):
    n, k = 1024, 1500
    theta = np.arange(k) * np.pi / k
    u = np.arange(n) - (n - 1) / 2
    ell = phantom.shepp_logan(0.45 * n)
    rec = fbp.fbp(phantom.sinogram(ell, theta, u), theta, u[0], method=method)
    truth = phantom.rasterise(ell, n)
    m = _disc_mask(n, 0.48)
    rmse = np.sqrt(np.mean((rec - truth)[m] ** 2))
    # Required: <= 0.03 and within 5 % of ASTRA's 0.0120 (benchmarks/README.md).
    # Measured: linear 0.0106, fourier 0.0112
    assert rmse <= 1.05 * 0.0120
    assert rec.dtype == np.float32


@pytest.mark.parametrize("method", fbp.METHODS)
def test_uniform_disc_has_no_bias(method):
    n, k = 256, 400
    theta = np.arange(k) * np.pi / k
    u = np.arange(n) - (n - 1) / 2
    rec = fbp.fbp(phantom.sinogram([phantom.Ellipse(1.0, 100, 100)], theta, u), theta, u[0],
                  method=method)
    inner = rec[_disc_mask(n, 0.3)]
    assert abs(inner.mean() - 1.0) < 0.005
    assert inner.std() < 0.01


@pytest.mark.parametrize("method", fbp.METHODS)
def test_theta_and_theta_plus_pi_agree(method):
    n, k = 128, 300
    u = np.arange(n) - (n - 1) / 2
    ell = phantom.asymmetric_phantom(50)
    th_a = np.arange(k) * np.pi / k
    th_b = th_a + np.pi
    rec_a = fbp.fbp(phantom.sinogram(ell, th_a, u), th_a, u[0], method=method)
    rec_b = fbp.fbp(phantom.sinogram(ell, th_b, u), th_b, u[0], method=method)
    assert np.sqrt(np.mean((rec_a - rec_b) ** 2)) < 1e-4
    # a full 360° set averages both halves to the same image
    th = np.concatenate([th_a, th_b])
    rec_c = fbp.fbp(phantom.sinogram(ell, th, u), th, u[0], method=method)
    assert np.sqrt(np.mean((rec_c - rec_a) ** 2)) < 1e-4


@pytest.mark.parametrize("method", fbp.METHODS)
def test_orientation_is_pinned(method):
    # a small dot at x = +30 (right), y = -20 (up: rows grow downwards) on a 128 grid must
    # come back there, not mirrored or rotated: u = x cos(theta) - y sin(theta)
    n, k = 128, 360
    theta = np.arange(k) * np.pi / k
    u = np.arange(n) - (n - 1) / 2
    dot = [phantom.Ellipse(1.0, 3, 3, 30, -20)]
    sino = phantom.sinogram(dot, theta, u)
    assert np.argmax(sino[0]) == pytest.approx((n - 1) / 2 + 30, abs=0.5)   # theta = 0 sees x
    assert np.argmax(sino[k // 2]) == pytest.approx((n - 1) / 2 + 20, abs=0.5)  # 90° sees -y
    rec = fbp.fbp(sino, theta, u[0], method=method)
    w = np.where(rec > 0.5 * rec.max(), rec, 0)
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    assert (w * xx).sum() / w.sum() == pytest.approx(30, abs=0.5)
    assert (w * yy).sum() / w.sum() == pytest.approx(-20, abs=0.5)
    # the asymmetric phantom correlates with itself, not with its mirror image
    ell = phantom.asymmetric_phantom(50)
    rec = fbp.fbp(phantom.sinogram(ell, theta, u), theta, u[0], method=method)
    truth = phantom.rasterise(ell, n)
    right = np.sqrt(np.mean((rec - truth) ** 2))
    for wrong in (truth[:, ::-1], truth[::-1], truth.T):
        assert right < 0.25 * np.sqrt(np.mean((rec - wrong) ** 2))


@pytest.mark.parametrize("n", [63, 64])
def test_fast_backprojector_matches_reference(n):
    theta = np.linspace(0, np.pi, 90, endpoint=False)
    u = np.arange(n) - (n - 1) / 2 + 0.3
    sino = fbp.filter_sinogram(phantom.sinogram(phantom.asymmetric_phantom(n / 3), theta, u))
    xs, ys = fbp.slice_grid(n, (5, n - 3, 2, n - 7))
    fast = fbp.backproject(sino, theta, u[0], xs, ys)
    ref = fbp.backproject_reference(sino, theta, u[0], xs, ys)
    assert fast.shape == ref.shape == (n - 9, n - 8)
    assert np.max(np.abs(fast - ref)) < 2e-3 * np.max(np.abs(ref))


@pytest.mark.parametrize("method, tol", [("linear", 1e-6), ("fourier", 3e-4)])
def test_roi_equals_crop_of_full_slice(method, tol):
    # the direct back-projector computes each pixel alone; the non-uniform FFT agrees to its
    # tolerance (1e-4 relative) on any output grid
    n = 96
    theta = np.linspace(0, np.pi, 120, endpoint=False)
    u = np.arange(n) - (n - 1) / 2
    sino = phantom.sinogram(phantom.asymmetric_phantom(35), theta, u)
    full = fbp.fbp(sino, theta, u[0], method=method)
    part = fbp.fbp(sino, theta, u[0], roi=(10, 50, 20, 70), method=method)
    np.testing.assert_allclose(part, full[20:70, 10:50], atol=tol * np.abs(full).max())


def test_unknown_method_is_one_line_error():
    with pytest.raises(HipctError, match="allowed: fourier, linear"):
        fbp.fbp(np.zeros((4, 8)), np.linspace(0, np.pi, 4, endpoint=False), -3.5,
                method="gridrec")
