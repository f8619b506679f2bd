"""Filtered back-projection for parallel-beam sinograms.

Conventions (see :mod:`hipct.reconstruction`): a sinogram is ``(angle, u)`` with ``u`` the
detector coordinate *relative to the rotation axis* in pixels, sampled at ``u0 + k``. A slice
is ``(y, x)`` on a grid centred on the axis, ``x`` growing along columns and ``y`` along rows
(downwards); the point ``(x, y)`` projects onto ``u = x cos(theta) - y sin(theta)``, the
orientation of ASTRA's parallel geometry, nabu/PyHST2, tomopy and algotom (a test compares
with ASTRA's FBP, no flip allowed). The result is in line-integral units per pixel; divide by
the pixel size to get a linear attenuation coefficient.

Filtering follows Kak & Slaney, *Principles of Computerized Tomographic Imaging* (1988), §3.3:
the ramp is the FFT of the band-limited real-space kernel ``h[0] = 1/4``,
``h[n odd] = -1/(pi n)^2``, ``h[n even] = 0`` on a zero-padded grid at least twice the
sinogram width, so the zero-frequency term is right (not a sampled ``|f|`` with a zero DC),
then multiplied by an apodisation window.
"""

from __future__ import annotations

import math

import numpy as np

from hipct.errors import HipctError

from .fbp_fourier import FourierBackprojector
from .ramp import (FILTERS, angle_weights, check_filter, filter_response, filter_sinogram,
                   padded_length, slice_grid)

__all__ = ["FILTERS", "filter_response", "filter_sinogram", "angle_weights",
           "backproject", "backproject_reference", "fbp", "slice_grid", "METHODS",
           "backprojector", "padded_length"]


def backproject_reference(filtered: np.ndarray, theta: np.ndarray, u0: float,
                          xs: np.ndarray, ys: np.ndarray, weights=None) -> np.ndarray:
    """Plain numpy back-projection (linear interpolation), the reference for the fast kernel."""
    weights = angle_weights(theta) if weights is None else weights
    xx, yy = np.meshgrid(xs, ys)
    out = np.zeros(xx.shape)
    cols = np.arange(filtered.shape[-1]) + u0
    for a, th in enumerate(theta):
        t = xx * np.cos(th) - yy * np.sin(th)
        out += weights[a] * np.interp(t, cols, filtered[a], left=0.0, right=0.0)
    return out


_NUMBA_KERNEL = None


def _numba_kernel():
    global _NUMBA_KERNEL
    if _NUMBA_KERNEL is None:
        import numba

        @numba.njit(parallel=True, fastmath=True, cache=True)
        def _bp(sino, cos_t, sin_t, w, u0, xs, ys, out):  # pragma: no cover - compiled
            ns, na, nu = sino.shape
            ny = ys.size
            nx = xs.size
            for job in numba.prange(ns * ny):
                s = job // ny
                iy = job % ny
                y = ys[iy]
                for a in range(na):
                    c = cos_t[a]
                    base = y * sin_t[a] - u0
                    wa = w[a]
                    for ix in range(nx):
                        t = xs[ix] * c + base
                        i0 = int(math.floor(t))
                        if i0 >= 0 and i0 < nu - 1:
                            f = t - i0
                            out[s, iy, ix] += wa * ((1.0 - f) * sino[s, a, i0]
                                                    + f * sino[s, a, i0 + 1])
            return out

        _NUMBA_KERNEL = _bp
    return _NUMBA_KERNEL


def backproject(filtered: np.ndarray, theta: np.ndarray, u0: float, xs: np.ndarray,
                ys: np.ndarray, weights=None) -> np.ndarray:
    """Back-project filtered sinograms onto a slice grid (numba, parallel over rows).

    Parameters
    ----------
    filtered : numpy.ndarray
        ``(n_angles, n_u)`` or ``(n_slices, n_angles, n_u)`` filtered sinogram(s).
    theta : numpy.ndarray
        Angles in radians.
    u0 : float
        Coordinate (pixels, relative to the axis) of sinogram column 0.
    xs, ys : numpy.ndarray
        Pixel-centre coordinates of the output columns and rows (see :func:`slice_grid`).
    weights : numpy.ndarray, optional
        Angular quadrature weights; default :func:`angle_weights`.

    Returns
    -------
    numpy.ndarray
        ``(ny, nx)`` or ``(n_slices, ny, nx)`` float32. Rays leaving the sinogram contribute 0.
    """
    single = filtered.ndim == 2
    sino = np.ascontiguousarray(filtered[None] if single else filtered, dtype=np.float32)
    theta = np.asarray(theta, dtype=np.float64)
    weights = angle_weights(theta) if weights is None else np.asarray(weights, np.float64)
    out = np.zeros((sino.shape[0], len(ys), len(xs)), dtype=np.float32)
    # the kernel computes u = x cos + y s with s = -sin(theta) (module docstring)
    _numba_kernel()(sino, np.cos(theta), -np.sin(theta), weights, float(u0),
                    np.asarray(xs, np.float64), np.asarray(ys, np.float64), out)
    return out[0] if single else out


METHODS = ("fourier", "linear")


def fbp(sino: np.ndarray, theta: np.ndarray, u0: float, *, n: int | None = None,
        roi=None, filter_name: str = "ramp", pad_factor: float = 2.0,
        method: str = "fourier") -> np.ndarray:
    """Filtered back-projection of a parallel-beam sinogram covering 180°.

    Parameters
    ----------
    sino : numpy.ndarray
        ``(n_angles, n_u)`` or ``(n_slices, n_angles, n_u)``, line integrals per pixel.
    theta : numpy.ndarray
        Angles (radians) spanning 180°. A full 360° set also works: the quadrature weights
        are scaled so they sum to pi (each line is then measured twice and averaged).
    u0 : float
        Axis-relative coordinate of sinogram column 0 (``-cor`` for a raw detector row).
    n : int, optional
        Slice size; default the sinogram width.
    roi : tuple, optional
        ``(x0, x1, y0, y1)`` sub-region of the ``n × n`` slice.
    filter_name, pad_factor
        See :func:`filter_response`.
    method : str
        ``"fourier"`` (default): the plane-wave sum on a non-uniform FFT
        (:mod:`~hipct.reconstruction.fbp_fourier`, 15–25× faster here); ``"linear"``: the direct
        back-projector with linear interpolation (:func:`backproject`), the reference.

    Returns
    -------
    numpy.ndarray
        Slice(s) in units of the sinogram per pixel, float32.
    """
    n = sino.shape[-1] if n is None else int(n)
    return backprojector(theta, u0, sino.shape[-1], n, roi, filter_name, pad_factor,
                         method)(sino)


def backprojector(theta, u0: float, n_cols: int, n: int, roi=None, filter_name: str = "ramp",
                  pad_factor: float = 2.0, method: str = "fourier", nthreads: int | None = None):
    """An FBP for one geometry, planned once and applied to many sinograms.

    Returns a callable ``sino → slice(s)`` with the arguments and result of :func:`fbp`.
    ``nthreads`` bounds the Fourier method's threads (each holds its own plan); the result
    does not depend on it.
    """
    if method not in METHODS:
        raise HipctError(f"fbp method: unknown {method!r}; allowed: {', '.join(METHODS)}")
    check_filter(filter_name)
    if method == "fourier":
        return FourierBackprojector(theta, u0, n_cols, n, roi, filter_name, pad_factor,
                                    nthreads)
    return lambda sino: _fbp_linear(sino, theta, u0, n, roi, filter_name, pad_factor)


def _fbp_linear(sino, theta, u0, n, roi, filter_name, pad_factor):
    xs, ys = slice_grid(n, roi)
    weights = angle_weights(theta)
    total = weights.sum()
    if total > 1.5 * np.pi:
        weights *= np.pi / total
    filtered = filter_sinogram(sino, filter_name, pad_factor)
    return backproject(filtered, theta, u0, xs, ys, weights)
