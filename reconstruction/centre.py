"""Automatic centre-of-rotation estimation.

The result is always the *absolute 0-based detector column* of the rotation axis (the value
``--cor`` takes), whether the axis is near the middle (180°, 360°) or near an edge (half
acquisition).

Two independent principles are used:

* **Opposite-projection matching** (:func:`find_cor_pairs`) for scans that contain
  projections 180° apart (every 360° scan, 180° scans that include both end points): the
  projection at ``theta + pi`` is the mirror image of the one at ``theta`` about the axis, so
  the axis is where the squared difference of the two over their overlap is smallest. With the
  overlap restricted to the detector, this also finds the axis of half-acquisition scans.
* **Sinogram consistency in Fourier space** (:func:`find_cor_fft`) for 180° scans: the sinogram
  completed to 360° with its own mirror image has a 2D spectrum confined to the double wedge
  ``|n| <= 2 pi r |k_u|`` only when the axis is right (Vo, Atwood & Drakopoulos,
  *Opt. Express* 22, 19078 (2014)); the energy outside the wedge is minimised.

Both search the half-pixel grid (``2 cor`` integer, where mirroring needs no interpolation) and
refine the minimum with a parabola.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from hipct.errors import HipctError

from .acquisition import _angle_interp, is_full_turn

__all__ = ["find_cor", "find_cor_pairs", "find_cor_fft"]


def _parabola_min(x, y, i):
    if 0 < i < len(y) - 1 and np.isfinite(y[i - 1]) and np.isfinite(y[i + 1]):
        denom = y[i - 1] - 2 * y[i] + y[i + 1]
        if denom > 0:
            return x[i] + 0.5 * (x[1] - x[0]) * (y[i - 1] - y[i + 1]) / denom
    return float(x[i])


def _pairs(sino, theta, max_pairs):
    """Projections at theta_k (first half-turn) and the matching ones at theta_k + pi."""
    theta = np.asarray(theta, dtype=np.float64)
    first = np.nonzero(theta - theta[0] < np.pi - 1e-9)[0]
    if is_full_turn(theta):
        pick = first[np.linspace(0, first.size - 1, min(max_pairs, first.size)).astype(int)]
        other = _angle_interp(sino, theta, theta[pick] + np.pi, True)
        return sino[:, pick], other
    # 180° scan: only exact opposite pairs (within a quarter step) are usable
    step = np.pi / max(theta.size - 1, 1)
    a, b = [], []
    for k, t in enumerate(theta):
        j = int(np.argmin(np.abs(theta - (t + np.pi))))
        if abs(theta[j] - t - np.pi) < 0.25 * step:
            a.append(k)
            b.append(j)
    if not a:
        return None, None
    return sino[:, a], sino[:, b]


def find_cor_pairs(sino, theta, *, search=None, min_overlap=None, max_pairs=32) -> float:
    """Axis column from projections 180° apart (works for half acquisition).

    Parameters
    ----------
    sino : numpy.ndarray
        ``(n_rows, n_angles, n_cols)`` or ``(n_angles, n_cols)`` line integrals (−log data).
    theta : numpy.ndarray
        Angles in radians.
    search : (float, float), optional
        Range of axis columns to try; default every position leaving ``min_overlap`` columns
        of overlap.
    min_overlap : int, optional
        Smallest overlap (columns) compared; default ``max(16, n_cols // 25)``.
    max_pairs : int
        Number of angle pairs used.

    Returns
    -------
    float
        Absolute 0-based detector column of the axis.
    """
    sino = np.asarray(sino, dtype=np.float32)
    if sino.ndim == 2:
        sino = sino[None]
    a, b = _pairs(sino, theta, max_pairs)
    if a is None:
        raise HipctError("cor: no projections 180° apart in this scan; "
                         "use the sinogram method or give --cor")
    w = sino.shape[-1]
    a = a.reshape(-1, w)
    b = b.reshape(-1, w)
    min_overlap = max(16, w // 25) if min_overlap is None else int(min_overlap)
    lo, hi = (0, 2 * (w - 1)) if search is None else (int(np.floor(2 * search[0])),
                                                      int(np.ceil(2 * search[1])))
    s_values = np.arange(max(lo, 0), min(hi, 2 * (w - 1)) + 1)
    metric = np.full(s_values.size, np.inf)
    for n, s in enumerate(s_values):
        if min(w - 1, s) - max(0, s - (w - 1)) + 1 < min_overlap:
            continue
        metric[n] = _opposite_mismatch(a, b, s)
    if not np.isfinite(metric).any():
        raise HipctError("cor: the search range leaves no overlap between opposite projections")
    i = int(np.argmin(metric))
    return _parabola_min(s_values / 2.0, metric, i)


def _wedge_mask(n_rows, n_cols, radius, drop):
    n = np.abs(sfft.fftfreq(n_rows) * n_rows)[:, None]
    ku = np.abs(sfft.fftfreq(n_cols))[None, :]
    mask = n > 2 * np.pi * radius * ku
    mask &= n > drop
    return mask


def _fft_metrics(sino, s_values, radius, drop):
    k, w = sino.shape
    full = np.empty((2 * k, w), dtype=np.float32)
    full[:k] = sino
    mask = _wedge_mask(2 * k, w, radius, drop)
    reversed_ = sino[::-1]
    cols = np.arange(w)
    out = np.empty(len(s_values))
    for n, s in enumerate(s_values):
        src = s - cols
        ok = (src >= 0) & (src < w)
        full[k:] = reversed_
        full[k:, ok] = sino[:, src[ok]]
        out[n] = float(np.sum(np.abs(sfft.fft2(full, workers=-1))[mask]))
    return out


def find_cor_fft(sino, theta=None, *, search=None, ratio: float = 0.5, drop: int = 10) -> float:
    """Axis column of a 180° scan from sinogram consistency (Vo et al. 2014).

    Parameters
    ----------
    sino : numpy.ndarray
        ``(n_angles, n_cols)`` sinogram (or ``(n_rows, n_angles, n_cols)``, rows averaged)
        covering 180°, −log data.
    theta : numpy.ndarray, optional
        Angles; only used to check the range.
    search : (float, float), optional
        Columns to try; default the middle half of the detector.
    ratio : float
        Object radius as a fraction of the half-width, for the wedge mask.
    drop : int
        Lowest angular harmonics left out of the metric.

    Returns
    -------
    float
        Absolute 0-based detector column of the axis.
    """
    sino = np.asarray(sino, dtype=np.float32)
    if sino.ndim == 3:
        sino = sino.mean(axis=0)
    k, w = sino.shape
    lo, hi = (w / 4, 3 * w / 4) if search is None else search
    # coarse search on a 2×-binned sinogram when wide, then fine at full resolution
    coarse = sino
    factor = 1
    while coarse.shape[1] > 256:
        coarse = 0.5 * (coarse[:, 0:coarse.shape[1] // 2 * 2:2] + coarse[:, 1:coarse.shape[1] // 2 * 2:2])
        factor *= 2
    step = max(1, k // 360)
    coarse = coarse[::step]
    # binned column j covers original columns factor*j .. factor*j+factor-1: centre factor*j+(factor-1)/2
    s_c = np.arange(int(np.floor(2 * ((lo - (factor - 1) / 2) / factor))),
                    int(np.ceil(2 * ((hi - (factor - 1) / 2) / factor))) + 1)
    m = _fft_metrics(coarse, s_c, ratio * coarse.shape[1] / 2, drop)
    cor = factor * (s_c[int(np.argmin(m))] / 2.0) + (factor - 1) / 2
    s_f = np.arange(int(np.floor(2 * cor - 2 * factor)), int(np.ceil(2 * cor + 2 * factor)) + 1)
    s_f = s_f[(s_f >= 0) & (s_f <= 2 * (w - 1))]
    fine_step = max(1, k // 1440)
    m = _fft_metrics(sino[::fine_step], s_f, ratio * w / 2, drop)
    return _parabola_min(s_f / 2.0, m, int(np.argmin(m)))


def find_cor(sino, theta, *, half_acquisition: bool | None = None, search=None) -> float:
    """Axis column for any single-rotation scan: the right method for its geometry.

    360° scans (full field or half acquisition) and 180° scans with both end points use
    :func:`find_cor_pairs`; other 180° scans use :func:`find_cor_fft`.
    ``half_acquisition=True`` searches only the outer quarters of the detector.
    """
    sino = np.asarray(sino, dtype=np.float32)
    if sino.ndim == 2:
        sino = sino[None]
    w = sino.shape[-1]
    if half_acquisition and search is None:
        left = find_cor_pairs(sino, theta, search=(0, w / 4))
        right = find_cor_pairs(sino, theta, search=(3 * w / 4, w - 1))
        # keep the better of the two sides
        return min((left, right), key=lambda c: find_cor_pairs_metric(sino, theta, c))
    a, _ = _pairs(sino, theta, 4)
    if a is not None:
        return find_cor_pairs(sino, theta, search=search)
    if half_acquisition:
        raise HipctError("cor: half acquisition needs a 360° scan")
    return find_cor_fft(sino, theta, search=search)


def _opposite_mismatch(a, b, s: int) -> float:
    """Mismatch of ``a`` and ``b`` mirrored about the axis column ``s / 2`` over their overlap."""
    w = a.shape[-1]
    j0, j1 = max(0, s - (w - 1)), min(w - 1, s)
    return _mismatch(a[:, j0:j1 + 1], b[:, s - j1:s - j0 + 1][:, ::-1])


def find_cor_pairs_metric(sino, theta, cor) -> float:
    """Relative gradient mismatch of opposite projections for one axis column."""
    sino = np.asarray(sino, dtype=np.float32)
    a, b = _pairs(sino if sino.ndim == 3 else sino[None], theta, 32)
    w = a.shape[-1]
    return _opposite_mismatch(a.reshape(-1, w), b.reshape(-1, w), int(round(2 * cor)))


def _mismatch(a, b) -> float:
    """Relative mismatch of the gradients of two aligned strips (0: identical).

    Gradients along the detector make the metric blind to offsets (local tomography) and
    normalising by their energy stops featureless strips (air beside the object) from
    looking like a perfect match.
    """
    da = np.diff(a, axis=-1)
    db = np.diff(b, axis=-1)
    energy = float(np.sum(da * da) + np.sum(db * db))
    if energy <= 0:
        return np.inf
    return float(np.sum((da - db) ** 2)) / energy
