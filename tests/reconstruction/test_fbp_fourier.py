"""The Fourier-domain FBP against the plain linear-interpolation reference."""

import numpy as np
import pytest

from hipct.errors import HipctError
from hipct.reconstruction import fbp, phantom
from hipct.reconstruction.fbp_fourier import FourierBackprojector


def _case(n, shift=0.3, k=180):
    theta = np.linspace(0, np.pi, k, endpoint=False)
    u = np.arange(n) - (n - 1) / 2 + shift            # axis off the detector centre
    ell = phantom.asymmetric_phantom(n / 3)
    return ell, theta, u, phantom.sinogram(ell, theta, u)


@pytest.mark.parametrize("n", [95, 128])
def test_matches_reference_back_projector(n):
    # same ramp, same sinc^2 interpolation response: the two FBPs differ only by how the
    # linear interpolation aliases, a small fraction of the signal (checked on an ROI too)
    ell, theta, u, sino = _case(n)
    roi = (5, n - 3, 2, n - 7)
    xs, ys = fbp.slice_grid(n, roi)
    ref = fbp.backproject_reference(fbp.filter_sinogram(sino), theta, u[0], xs, ys)
    fast = FourierBackprojector(theta, u[0], n, n, roi=roi)(sino)
    assert fast.shape == ref.shape == (n - 9, n - 8) and fast.dtype == np.float32
    xx, yy = np.meshgrid(xs, ys)
    inside = xx ** 2 + yy ** 2 < (0.45 * n) ** 2
    diff = np.sqrt(np.mean((fast - ref)[inside] ** 2))
    assert diff < 0.03 * np.sqrt(np.mean(ref[inside] ** 2))
    # and both are as close to the analytic phantom
    truth = phantom.rasterise(ell, n)[roi[2]:roi[3], roi[0]:roi[1]]
    err_fast = np.sqrt(np.mean((fast - truth)[inside] ** 2))
    err_ref = np.sqrt(np.mean((ref - truth)[inside] ** 2))
    assert err_fast < 1.15 * err_ref


def test_windows_follow_the_reference():
    ell, theta, u, sino = _case(96)
    for name in ("hann", "shepp-logan"):
        ref = fbp.fbp(sino, theta, u[0], filter_name=name, method="linear")
        fast = fbp.fbp(sino, theta, u[0], filter_name=name, method="fourier")
        m = fbp.slice_grid(96)[0] ** 2
        inside = (m[None, :] + m[:, None]) < 40 ** 2
        assert np.sqrt(np.mean((fast - ref)[inside] ** 2)) < 0.02 * np.abs(ref).max()


def test_deterministic_across_threads_and_batches():
    # each slice goes through its own single-threaded plan: identical bits whatever the
    # thread count or batch (the dask run relies on this)
    ell, theta, u, sino = _case(128)
    stack = np.stack([sino, 0.5 * sino, sino[:, ::-1]])
    one = FourierBackprojector(theta, u[0], 128, 128, nthreads=1)
    two = FourierBackprojector(theta, u[0], 128, 128, nthreads=2)
    a = one(stack)
    b = two(stack)
    assert np.array_equal(a, b)
    assert np.array_equal(two(stack[1]), b[1])
    assert np.array_equal(two(stack), b)                # and again, on the kept plans


def test_pool_and_plans_are_made_once_per_geometry(monkeypatch):
    # the thread pool and each of its threads' finufft plans live as long as the object:
    # five calls of one geometry (batches and single slices) make one set of plans
    import finufft
    made = []
    original = finufft.Plan

    def counting(*a, **k):
        made.append(1)
        return original(*a, **k)
    monkeypatch.setattr(finufft, "Plan", counting)
    ell, theta, u, sino = _case(64)
    stack = np.stack([sino, 0.5 * sino, sino[:, ::-1], 2 * sino])
    bp = FourierBackprojector(theta, u[0], 64, 64, nthreads=2)
    first = bp(stack)
    for _ in range(3):
        np.testing.assert_array_equal(bp(stack), first)
    np.testing.assert_array_equal(bp(stack[2]), first[2])
    assert len(made) == 2                               # one plan per pool thread
    pool = bp._executor()
    bp(stack)
    assert bp._executor() is pool and len(made) == 2
    bp.close()                                          # released: a later call plans anew
    np.testing.assert_array_equal(bp(stack), first)
    assert len(made) == 4


def test_shape_mismatch_is_one_line_error():
    ell, theta, u, sino = _case(64)
    bp = FourierBackprojector(theta, u[0], 64, 64)
    with pytest.raises(HipctError, match="does not match"):
        bp(sino[:, :60])
