"""Ramp-family filters, angular quadrature and the slice grid shared by the back-projectors.

Filtering follows Kak & Slaney, *Principles of Computerized Tomographic Imaging* (1988), §3.3:
the ramp is the FFT of the band-limited real-space kernel ``h[0] = 1/4``,
``h[n odd] = -1/(pi n)^2``, ``h[n even] = 0`` on a zero-padded grid at least twice the
sinogram width, so the zero-frequency term is right (not a sampled ``|f|`` with a zero DC),
then multiplied by an apodisation window. Conventions: :mod:`~hipct.reconstruction.fbp`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft as sfft

from hipct.errors import HipctError

__all__ = ["FILTERS", "check_filter", "padded_length", "filter_response", "filter_sinogram",
           "angle_weights", "slice_grid"]

#: Apodisation windows on the ramp, as functions of frequency f in cycles per pixel (0..0.5).
FILTERS = {
    "ramp": lambda f: np.ones_like(f),
    "shepp-logan": lambda f: np.sinc(f),            # sin(pi f)/(pi f)
    "cosine": lambda f: np.cos(np.pi * f),
    "hamming": lambda f: 0.54 + 0.46 * np.cos(2 * np.pi * f),
    "hann": lambda f: 0.5 + 0.5 * np.cos(2 * np.pi * f),
}


def check_filter(name: str) -> str:
    """The canonical name of a ramp-family filter (one of :data:`FILTERS`), or a one-line
    error naming the allowed ones."""
    key = name.lower().replace("_", "-")
    if key == "shepp":
        key = "shepp-logan"
    if key not in FILTERS:
        raise HipctError(f"filter: unknown filter {name!r}; allowed: {', '.join(FILTERS)}")
    return key


def padded_length(n_cols: int, pad_factor: float = 2.0) -> int:
    """FFT length for filtering ``n_cols`` samples: at least ``pad_factor`` × width, fast size."""
    return sfft.next_fast_len(max(16, int(math.ceil(pad_factor * n_cols))), real=True)


def filter_response(n_cols: int, name: str = "ramp", pad_factor: float = 2.0) -> np.ndarray:
    """Frequency response (real, ``rfft`` layout) of a ramp-family filter.

    Kak & Slaney (1988) eq. 61: real-space ramp kernel, FFT'd on a padded grid.

    Parameters
    ----------
    n_cols : int
        Number of detector samples in the sinogram.
    name : str
        One of :data:`FILTERS`.
    pad_factor : float
        The padded length is at least this multiple of ``n_cols`` (≥ 2 avoids wrap-around).

    Returns
    -------
    numpy.ndarray
        float32 array of length ``n_pad // 2 + 1``.
    """
    key = check_filter(name)
    n_pad = padded_length(n_cols, pad_factor)
    k = np.arange(n_pad)
    k = np.where(k > n_pad // 2, k - n_pad, k)            # signed lag, FFT order
    h = np.zeros(n_pad)
    h[0] = 0.25
    odd = (k % 2) == 1
    h[odd] = -1.0 / (np.pi * k[odd]) ** 2
    response = sfft.rfft(h).real
    f = sfft.rfftfreq(n_pad)
    response = response * FILTERS[key](f)
    return response.astype(np.float32)


def filter_sinogram(sino: np.ndarray, name: str = "ramp", pad_factor: float = 2.0,
                    workers: int | None = None) -> np.ndarray:
    """Apply a ramp-family filter along the last axis, padding with edge values.

    Edge padding (not zeros) keeps truncated, local-tomography sinograms free of the bright
    rim a zero step would cause.

    Parameters
    ----------
    sino : numpy.ndarray
        ``(..., n_angles, n_cols)`` sinogram(s).
    name, pad_factor
        See :func:`filter_response`.
    workers : int, optional
        Threads for the FFT (``scipy.fft`` ``workers``); default all cores.

    Returns
    -------
    numpy.ndarray
        Filtered sinogram, same shape, float32.
    """
    sino = np.asarray(sino, dtype=np.float32)
    n = sino.shape[-1]
    response = filter_response(n, name, pad_factor)
    n_pad = (response.size - 1) * 2
    left = (n_pad - n) // 2
    pad = [(0, 0)] * (sino.ndim - 1) + [(left, n_pad - n - left)]
    padded = np.pad(sino, pad, mode="edge")
    spec = sfft.rfft(padded, axis=-1, workers=workers or -1)
    spec *= response
    out = sfft.irfft(spec, n=n_pad, axis=-1, workers=workers or -1)
    return np.ascontiguousarray(out[..., left:left + n], dtype=np.float32)


def angle_weights(theta: np.ndarray) -> np.ndarray:
    """Quadrature weights (radians) for the angular sum of back-projection.

    Each angle gets half the distance to its neighbours (the two end angles: the mean step),
    so an evenly sampled 180° scan gets ``pi / n`` for every angle.
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.size < 2:
        raise HipctError("angles: at least two projection angles are needed")
    order = np.argsort(theta)
    ts = theta[order]
    step = (ts[-1] - ts[0]) / (ts.size - 1)
    ext = np.concatenate([[ts[0] - step], ts, [ts[-1] + step]])
    w_sorted = 0.5 * (ext[2:] - ext[:-2])
    w = np.empty_like(w_sorted)
    w[order] = w_sorted
    return w


def slice_grid(n: int, roi: tuple[int, int, int, int] | None = None):
    """Pixel-centre coordinates (x, y) of an ``n × n`` slice centred on the axis.

    ``roi = (x0, x1, y0, y1)`` selects columns ``x0:x1`` and rows ``y0:y1`` of that grid.
    """
    c = (n - 1) / 2.0
    coords = np.arange(n, dtype=np.float64) - c
    if roi is None:
        return coords, coords
    x0, x1, y0, y1 = roi
    return coords[x0:x1], coords[y0:y1]
