"""Automatic centre-of-rotation estimation, with a confidence for every answer.

The result is always the *absolute 0-based detector column* of the rotation axis (the value
``--cor`` takes), whether the axis is near the middle (180°, 360°) or near an edge (half
acquisition), or off the detector (the outer rotation of a quarter acquisition).

Principles:

* **Opposite-projection matching** (:func:`find_cor_pairs`) for scans that contain
  projections 180° apart (every 360° scan, 180° scans that include both end points): the
  projection at ``theta + pi`` is the mirror image of the one at ``theta`` about the axis, so
  the axis is where the squared difference of the two over their overlap is smallest.
* **Half acquisition** (:func:`find_cor_half`): the axis near one edge is first placed by
  the normalised squared difference of opposite projections smoothed along the angle (a
  consistent low-pass: smoothing in angle commutes with the mirror symmetry). When it lies
  near an edge, every position within a quarter of the width of either edge is then scored by
  the correlation of the opposite strips with each strip's mean and linear trend removed,
  summed over every row given and every angle pair: a sample wider than the field of view
  looks the same at both edges in bulk, so only the texture the two projections share decides
  the side and the position. Before that, each detector column's mean over the turn is
  subtracted: the flat field's noise (and any ring) is the same in every projection and would
  otherwise correlate with itself wherever a column meets its own mirror image.
* **Sinogram consistency in Fourier space** (:func:`find_cor_fft`) for 180° scans: the
  sinogram completed to 360° with its own mirror image has a 2D spectrum confined to the double
  wedge ``|n| <= 2 pi r |k_u|`` only when the axis is right (Vo, Atwood & Drakopoulos,
  *Opt. Express* 22, 19078 (2014)); the energy outside the wedge is minimised.
* **Quarter acquisition** (:func:`find_cor_quarter`): the rotation whose axis lies on its
  detector is found as above and merged into a 180° sinogram; the other rotation's axis is the
  lateral shift that makes its projections match that sinogram where they overlap.

All search the half-pixel grid (``2 cor`` integer, where mirroring needs no interpolation) and
refine the best position with a parabola. :func:`estimate_cor` returns a :class:`CorEstimate`:
the column, the method, the candidates compared and a confidence in 0..1.

* For the trend-free correlation of a half acquisition the confidence is a *z-score*: each
  position's score is Fisher's transform of its correlation, ``atanh(r)``, times the square
  root of its overlap (columns), which gives every position the same spread where only noise
  correlates and a clear peak where the texture matches exactly; ``z`` is the best score
  minus the best score at least ``4`` px away (either side), in units of the robust spread
  (1.4826 × median absolute deviation) of the scores at least ``4`` px away. The confidence is
  ``1 - 0.9 Z_SURE / z`` (0 for ``z <= 0.9 Z_SURE``), so it crosses the threshold at
  ``z = Z_SURE``, calibrated on simulated scans so that no estimate off by more than 0.5 px
  was reported sure (``benchmarks/centre_accuracy.py``).
* Otherwise it is the smaller of the *mirror margin* ``1 - m_best / m_rival``, with
  ``m_rival`` the best metric at least ``4`` px away, and the *neighbour contrast*
  ``1 - m_best / mean(m(best ± 2 px))``, which is small when the metric is flat, i.e. noise
  decides the position.

Below :data:`CONFIDENCE_THRESHOLD` the estimate says so (``sure`` is False); the pipeline then
warns, naming the candidates and how to force one (``--cor``, ``--cor-side``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from hipct.errors import HipctError

from .acquisition import SubScan, interpolate_angles, is_full_turn, merge_to_180

__all__ = ["CorEstimate", "CONFIDENCE_THRESHOLD", "Z_SURE", "estimate_cor", "find_cor",
           "find_cor_pairs", "find_cor_fft", "find_cor_half", "find_cor_quarter"]

#: below this confidence an automatic centre is reported as unsure (see the module docstring)
CONFIDENCE_THRESHOLD = 0.1
_RIVAL_PX = 4.0        # a rival candidate lies at least this far from the best (pixels)
_NEIGHBOUR_PX = 2.0    # neighbours for the contrast of the minimum (pixels)
_SMOOTH_ANGLES = 2.0   # Gaussian sigma along the angle (projections) before matching
_CORR_PAIRS = 4096     # angle pairs (at most) for the trend-free correlation near an edge
#: z-score at which the half-acquisition correlation is reported sure (module docstring)
Z_SURE = 3.0


@dataclass(frozen=True)
class CorEstimate:
    """An automatic axis column with the evidence for it.

    Attributes
    ----------
    cor : float
        Absolute 0-based detector column of the axis.
    method : str
        How it was found.
    confidence : float
        ``min(mirror margin, neighbour contrast)`` in 0..1 (module docstring).
    candidates : dict
        Label → ``{"cor": column, "metric": value}`` for the best and its rivals.
    side : str or None
        ``"left"``/``"right"`` for half acquisition.
    """

    cor: float
    method: str
    confidence: float
    candidates: dict = field(default_factory=dict)
    side: str | None = None
    mirror_margin: float = 1.0
    neighbour_contrast: float = 1.0
    runner_up_margin: float = 1.0
    z_score: float | None = None

    @property
    def sure(self) -> bool:
        return self.confidence >= CONFIDENCE_THRESHOLD

    def as_dict(self) -> dict:
        """Plain-JSON form for provenance."""
        return {"cor": float(self.cor), "method": self.method,
                "confidence": round(float(self.confidence), 4),
                "mirror_margin": round(float(self.mirror_margin), 4),
                "neighbour_contrast": round(float(self.neighbour_contrast), 4),
                "runner_up_margin": round(float(self.runner_up_margin), 4),
                "z_score": None if self.z_score is None else round(float(self.z_score), 2),
                "threshold": CONFIDENCE_THRESHOLD, "side": self.side,
                "candidates": {k: {"cor": round(float(v["cor"]), 3),
                                   "metric": float(v["metric"])}
                               for k, v in self.candidates.items()}}

    def describe(self) -> str:
        """One line naming the candidates, for warnings."""
        cands = ", ".join(f"{k} {v['cor']:.2f} (metric {v['metric']:.4g})"
                          for k, v in self.candidates.items())
        z = "" if self.z_score is None else f", z-score {self.z_score:.1f} (sure from {Z_SURE})"
        return (f"{self.method}: confidence {self.confidence:.3f} (threshold "
                f"{CONFIDENCE_THRESHOLD}){z}; candidates: {cands}")


def _as_stack(sino) -> np.ndarray:
    """Sinograms as a float32 ``(row, angle, column)`` stack (one sinogram: one row)."""
    sino = np.ascontiguousarray(sino, dtype=np.float32)
    return sino[None] if sino.ndim == 2 else sino


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
        other = interpolate_angles(sino, theta, theta[pick] + np.pi, True)
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
    sino = _as_stack(sino)
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


def _find_cor_fft(sino, search):
    """:func:`find_cor_fft` and the metric on the coarse grid (for the confidence)."""
    sino = np.asarray(sino, dtype=np.float32)
    if sino.ndim == 3:
        sino = sino.mean(axis=0)
    k, w = sino.shape
    cor = find_cor_fft(sino, search=search)
    lo, hi = (w / 4, 3 * w / 4) if search is None else search
    factor = 1
    while w // factor > 256:
        factor *= 2
    coarse = sino[::max(1, k // 360), :w // factor * factor]
    coarse = coarse.reshape(coarse.shape[0], -1, factor).mean(axis=-1)
    s_c = np.arange(int(np.floor(2 * (lo - (factor - 1) / 2) / factor)),
                    int(np.ceil(2 * (hi - (factor - 1) / 2) / factor)) + 1)
    m = _fft_metrics(coarse, s_c, 0.5 * coarse.shape[1] / 2, 10)
    return cor, (factor * s_c / 2.0 + (factor - 1) / 2, m)


def find_cor(sino, theta, *, half_acquisition: bool | None = None, search=None,
             side: str | None = None) -> float:
    """Axis column for any single-rotation scan (see :func:`estimate_cor`)."""
    return estimate_cor(sino, theta, half_acquisition=half_acquisition, search=search,
                        side=side).cor


def estimate_cor(sino, theta, *, half_acquisition: bool | None = None, search=None,
                 side: str | None = None) -> CorEstimate:
    """Axis column of a single-rotation scan, with its confidence and candidates.

    360° scans go to :func:`find_cor_half` (which also serves an axis near the middle: the
    side is then immaterial), 180° scans with both end points to opposite-projection matching,
    other 180° scans to :func:`find_cor_fft`.

    Parameters
    ----------
    sino : numpy.ndarray
        ``(n_rows, n_angles, n_cols)`` or ``(n_angles, n_cols)`` line integrals (−log data).
    theta : numpy.ndarray
        Angles in radians.
    half_acquisition : bool, optional
        ``True``: the axis is near an edge (a 360° scan is required).
    search : (float, float), optional
        Columns to try.
    side : {"left", "right"}, optional
        Half acquisition: the detector half holding the axis, when known.

    Returns
    -------
    CorEstimate
    """
    sino = _as_stack(sino)
    if side not in (None, "left", "right"):
        raise HipctError(f"cor side: {side!r} is not allowed; use left or right")
    if is_full_turn(theta):
        return find_cor_half(sino, theta, side=side, search=search)
    if half_acquisition or side:
        raise HipctError("cor: half acquisition needs a 360° scan")
    a, _ = _pairs(sino, theta, 4)
    if a is not None:
        return _estimate_pairs_180(sino, theta, search)
    return _estimate_fft(sino, theta, search)


def _confidence(x, m, i, rival=None):
    """(mirror margin, neighbour contrast, rival index) of the minimum ``i`` of ``m(x)``."""
    finite = np.isfinite(m)
    if rival is None:
        rival = finite & (np.abs(x - x[i]) >= _RIVAL_PX)
    else:
        rival = rival & finite
    j = int(np.argmin(np.where(rival, m, np.inf))) if rival.any() else None
    best = float(m[i])
    margin = 1.0 if j is None else float(np.clip(1 - best / max(m[j], 1e-30), 0, 1))
    near = finite & (np.abs(np.abs(x - x[i]) - _NEIGHBOUR_PX) < 0.26)
    # a minimum not bracketed on both sides (at the end of the searched range) is no minimum
    both = (near & (x < x[i])).any() and (near & (x > x[i])).any()
    contrast = float(np.clip(1 - best / max(np.mean(m[near]), 1e-30), 0, 1)) if both else 0.0
    return margin, contrast, j


def _smooth_angles(sino, full_turn: bool):
    """Gaussian low-pass along the angle: commutes with the theta/theta+pi mirror symmetry."""
    return ndimage.gaussian_filter1d(sino, _SMOOTH_ANGLES, axis=-2,
                                     mode="wrap" if full_turn else "nearest")


def _mirror_correlation(a, b, s_values, chunk: int = 2048):
    """Trend-free correlation of strips ``a[:, j]`` and ``b[:, s - j]`` over their overlap.

    For every ``s`` (twice the axis column) the overlap is ``j0..j1`` with ``j0 + j1 = s``;
    each strip's mean and least-squares slope over it are removed and the residuals of all
    strips are correlated jointly (normalised cross-correlation, e.g. Lewis, *Fast normalized
    cross-correlation*, Vision Interface 1995). The products ``sum_j a(j) b(s - j)`` of all
    positions are one convolution (FFT); the sums the trend needs are running sums, so the
    cost is that of a few passes over the data.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The correlation and the overlap (columns) of every ``s``.
    """
    n_strips, w = a.shape
    s_values = np.asarray(s_values, dtype=np.int64)
    j0, j1 = np.maximum(0, s_values - (w - 1)), np.minimum(w - 1, s_values)
    i0, i1 = s_values - j1, s_values - j0
    n = (j1 - j0 + 1).astype(np.float64)
    half = s_values / 2.0
    col = np.arange(w, dtype=np.float64)
    size = sfft.next_fast_len(2 * w - 1)
    conv = np.zeros(2 * w - 1)
    zero = np.zeros(s_values.size)
    sab, tab, saa, sbb, taa, tbb, ea, eb = (zero.copy() for _ in range(8))

    def running(x):
        out = np.zeros(x.shape[:-1] + (w + 1,))
        np.cumsum(x, axis=-1, out=out[..., 1:])
        return out

    for c0 in range(0, n_strips, chunk):
        sa = a[c0:c0 + chunk].astype(np.float64)
        sb = b[c0:c0 + chunk].astype(np.float64)
        spec = sfft.rfft(sa, size, axis=-1, workers=-1) * sfft.rfft(sb, size, axis=-1, workers=-1)
        conv += sfft.irfft(spec.sum(axis=0), size)[:2 * w - 1]
        ca, cb = running(sa), running(sb)
        ja, jb = running(sa * col), running(sb * col)
        a2, b2 = running(sa * sa).sum(axis=0), running(sb * sb).sum(axis=0)
        sum_a = ca[:, j1 + 1] - ca[:, j0]
        sum_b = cb[:, i1 + 1] - cb[:, i0]
        # first moments about the overlap's centre s/2; b runs backwards over it
        mom_a = ja[:, j1 + 1] - ja[:, j0] - half * sum_a
        mom_b = half * sum_b - (jb[:, i1 + 1] - jb[:, i0])
        sab += np.einsum("ij,ij->j", sum_a, sum_b)
        tab += np.einsum("ij,ij->j", mom_a, mom_b)
        saa += np.einsum("ij,ij->j", sum_a, sum_a)
        sbb += np.einsum("ij,ij->j", sum_b, sum_b)
        taa += np.einsum("ij,ij->j", mom_a, mom_a)
        tbb += np.einsum("ij,ij->j", mom_b, mom_b)
        ea += a2[j1 + 1] - a2[j0]
        eb += b2[i1 + 1] - b2[i0]
    t2 = n * (n * n - 1) / 12.0                     # sum of (j - s/2)^2 over the overlap
    t2 = np.where(t2 > 0, t2, np.inf)
    num = conv[s_values] - sab / n - tab / t2
    da, db = ea - saa / n - taa / t2, eb - sbb / n - tbb / t2
    # an overlap whose residual is only rounding (air beside the sample in noise-free data)
    # has no texture to correlate: it is no candidate
    per_col = np.minimum(da, db) / n
    floor = 1e-6 * float(np.median(np.maximum(da, db) / n))
    ok = per_col > max(floor, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(ok, num / np.sqrt(np.where(ok, da * db, 1.0)), np.nan)
    return r, n


def _nmse_curve(a, b, w, search):
    """Normalised squared difference ``sum (a - b')^2 / sum (a^2 + b'^2)`` of the opposite
    strips (``b'`` mirrored about the axis) over their overlap, for every axis column on the
    half grid leaving ``max(16, n_cols // 25)`` columns of overlap, from one convolution and
    running sums."""
    min_overlap = max(16, w // 25)
    lo, hi = (0, 2 * (w - 1)) if search is None else (int(np.floor(2 * search[0])),
                                                      int(np.ceil(2 * search[1])))
    s_values = np.arange(max(lo, 0), min(hi, 2 * (w - 1)) + 1)
    j0, j1 = np.maximum(0, s_values - (w - 1)), np.minimum(w - 1, s_values)
    i0, i1 = s_values - j1, s_values - j0
    size = sfft.next_fast_len(2 * w - 1)
    conv = np.zeros(2 * w - 1)
    a2 = np.zeros(w + 1)
    b2 = np.zeros(w + 1)
    for c0 in range(0, a.shape[0], 2048):
        sa = a[c0:c0 + 2048].astype(np.float64)
        sb = b[c0:c0 + 2048].astype(np.float64)
        spec = sfft.rfft(sa, size, axis=-1, workers=-1) * sfft.rfft(sb, size, axis=-1, workers=-1)
        conv += sfft.irfft(spec.sum(axis=0), size)[:2 * w - 1]
        a2[1:] += np.cumsum((sa * sa).sum(axis=0))
        b2[1:] += np.cumsum((sb * sb).sum(axis=0))
    energy = a2[j1 + 1] - a2[j0] + b2[i1 + 1] - b2[i0]
    ok = (j1 - j0 + 1 >= min_overlap) & (energy > 0)
    m = np.full(s_values.size, np.inf)
    m[ok] = np.maximum(1 - 2 * conv[s_values[ok]] / energy[ok], 0.0)
    if not ok.any():
        raise HipctError("cor: the search range leaves no overlap between opposite projections")
    return s_values / 2.0, m


def _texture(smooth):
    """Angle-smoothed data (:func:`_smooth_angles`, full turn) less each detector column's
    mean over the turn.

    The mean removes what every projection shares (the flat field's noise, rings, the
    sample's rotationally symmetric part), which carries no evidence of the axis that the
    strips' trends do not; the Gaussian along the angle (sigma of 2 projections) keeps the
    slowly moving texture near the axis and drops noise. (Smoothing round the full turn
    keeps each column's mean, so the order of the two steps does not matter.)
    """
    return smooth - smooth.mean(axis=-2, keepdims=True, dtype=np.float64).astype(np.float32)


def find_cor_half(sino, theta, *, side: str | None = None, search=None,
                  max_pairs: int = 360, correlation: bool = True) -> CorEstimate:
    """Axis of a 360° scan (half acquisition or full field) from opposite projections.

    The data are smoothed along the angle (Gaussian, sigma of 2 projections),
    which reduces the noise without breaking the mirror symmetry. Every axis column leaving
    ``max(16, n_cols // 25)`` columns of overlap is scored by the normalised squared difference
    of the projections at theta and theta + pi (up to ``max_pairs`` pairs, all rows) over their
    overlap; the minimum (parabola-refined) is the axis, on the forced ``side`` if given.
    When that minimum lies within a quarter of the width from an edge, or a side is given (half
    acquisition), and ``correlation`` is true, every position that close to either edge is
    scored again by the trend-free correlation of the opposite strips (each column's mean
    over the turn removed first, every row and up to 4096 angle pairs; Fisher's transform of
    it times the square root of the overlap): the bulk of a sample wider than the field of
    view is then no evidence, only the texture that the two projections share is, and the
    noise, uncorrelated between them, adds nothing on average. The confidence is then the
    z-score of the module docstring; the evidence grows with the number of rows and angle
    pairs, so give many rows.

    Parameters
    ----------
    sino : numpy.ndarray
        ``(n_rows, n_angles, n_cols)`` or ``(n_angles, n_cols)`` −log data covering 360°.
    theta : numpy.ndarray
        Angles in radians.
    side : {"left", "right"}, optional
        Detector half (columns below / above the middle) that holds the axis.
    search : (float, float), optional
        Columns to try.
    max_pairs : int
        Angle pairs used by the squared difference (evenly spread over the first half-turn).
    correlation : bool
        Score an axis near an edge by the trend-free correlation (above); ``False`` keeps the
        normalised squared difference everywhere.

    Returns
    -------
    CorEstimate
    """
    sino = _as_stack(sino)
    if not is_full_turn(theta):
        raise HipctError("cor: half acquisition needs a 360° scan")
    smooth = _smooth_angles(sino, True)
    a, b = _pairs(smooth, theta, max_pairs)
    w = sino.shape[-1]
    a = a.reshape(-1, w)
    b = b.reshape(-1, w)
    x, m = _nmse_curve(a, b, w, search)
    mid = (w - 1) / 2
    left, right = x < mid, x > mid
    if side == "left":
        allowed = left
    elif side == "right":
        allowed = right
    else:
        allowed = np.ones(x.size, bool)
    if not np.isfinite(np.where(allowed, m, np.inf)).any():
        raise HipctError(f"cor: no axis position on the {side} side leaves enough overlap")
    i = int(np.argmin(np.where(allowed, m, np.inf)))
    near_edge = np.minimum(x, w - 1 - x) < w / 4
    correlated = correlation and (side is not None or near_edge[i])
    if correlated:
        return _half_by_correlation(smooth, theta, x, np.isfinite(m) & near_edge, allowed,
                                    side)
    chosen = "right" if x[i] > mid else "left"
    other = left if chosen == "right" else right
    margin, contrast, j = _confidence(x, m, i, other & (np.abs(x - x[i]) >= _RIVAL_PX))
    same = (~other) & (np.abs(x - x[i]) >= _RIVAL_PX)
    local, _, k_local = _confidence(x, m, i, same)
    cor = _parabola_min(x, m, i)
    cands = {"best": {"cor": cor, "metric": float(m[i])}}
    if j is not None:
        cands["mirror side"] = {"cor": float(x[j]), "metric": float(m[j])}
    if k_local is not None:
        cands["runner-up"] = {"cor": float(x[k_local]), "metric": float(m[k_local])}
    _add_neighbours(cands, x, m, i)
    edge = min(cor, w - 1 - cor) < w / 4
    method = ("half acquisition: opposite projections, side "
              + ("given" if side else "by the best match")) if edge else \
        "360°: opposite projections"
    return CorEstimate(cor=cor, method=method, confidence=min(margin, local, contrast),
                       candidates=cands, side=chosen if edge else None,
                       mirror_margin=margin, neighbour_contrast=contrast, runner_up_margin=local)


def _add_neighbours(cands, x, m, i):
    for d in (-_NEIGHBOUR_PX, _NEIGHBOUR_PX):
        k = int(np.argmin(np.abs(x - (x[i] + d))))
        if np.isfinite(m[k]) and abs(x[k] - x[i] - d) < 0.26:
            cands[f"best{d:+.0f} px"] = {"cor": float(x[k]), "metric": float(m[k])}


def _half_by_correlation(smooth, theta, x, usable, allowed, side) -> CorEstimate:
    """Half acquisition: trend-free correlation near both edges of the angle-smoothed data,
    with its z-score."""
    w = smooth.shape[-1]
    n_pairs = int(np.sum(np.asarray(theta) - theta[0] < np.pi - 1e-9))
    a, b = _pairs(_texture(smooth), theta, min(n_pairs, _CORR_PAIRS))
    r, n = _mirror_correlation(a.reshape(-1, w), b.reshape(-1, w),
                               np.round(2 * x[usable]).astype(np.int64))
    score = np.full(x.size, -np.inf)
    score[usable] = np.nan_to_num(np.arctanh(np.clip(r, -1 + 1e-9, 1 - 1e-9)) * np.sqrt(n),
                                  nan=-np.inf)
    pick = allowed & np.isfinite(score)
    if not pick.any():
        raise HipctError(f"cor: no axis position on the {side} side leaves enough overlap")
    i = int(np.argmax(np.where(pick, score, -np.inf)))
    mid = (w - 1) / 2
    chosen = "right" if x[i] > mid else "left"
    far = np.isfinite(score) & (np.abs(x - x[i]) >= _RIVAL_PX)
    rivals = far & pick
    other = np.isfinite(score) & ((x < mid) if chosen == "right" else (x > mid))
    best = float(score[i])
    if far.sum() >= 8 and rivals.any():
        ref = score[far]
        spread = 1.4826 * float(np.median(np.abs(ref - np.median(ref))))
        z = (best - float(score[rivals].max())) / spread if spread > 0 else np.inf
    else:
        z = 0.0                    # too few positions to judge the spread
    confidence = float(np.clip(1 - 0.9 * Z_SURE / z, 0, 1)) if z > 0 else 0.0
    m = -score                     # lower is better, as for the other metrics
    cor = _parabola_min(x, m, i)
    cands = {"best": {"cor": cor, "metric": float(m[i])}}
    mirror_margin = runner_up = 1.0
    if other.any():
        j = int(np.argmax(np.where(other, score, -np.inf)))
        cands["mirror side"] = {"cor": float(x[j]), "metric": float(m[j])}
        mirror_margin = float(np.clip(1 - max(score[j], 0) / best, 0, 1)) if best > 0 else 0.0
    same = np.isfinite(score) & ~other & (np.abs(x - x[i]) >= _RIVAL_PX)
    if same.any():
        k = int(np.argmax(np.where(same, score, -np.inf)))
        cands["runner-up"] = {"cor": float(x[k]), "metric": float(m[k])}
        runner_up = float(np.clip(1 - max(score[k], 0) / best, 0, 1)) if best > 0 else 0.0
    _add_neighbours(cands, x, m, i)
    method = ("half acquisition: opposite projections (trend-free correlation), side "
              + ("given" if side else "by the best match"))
    return CorEstimate(cor=cor, method=method, confidence=confidence, candidates=cands,
                       side=chosen, mirror_margin=mirror_margin, neighbour_contrast=1.0,
                       runner_up_margin=runner_up, z_score=float(z))


def _curve(a, b, w, search, metric, min_overlap=None, near=None):
    """Metric of the opposite strips ``a``, ``b`` for every axis column on the half grid
    (only where ``near``, a mask over those columns, is true, when given)."""
    min_overlap = max(16, w // 25) if min_overlap is None else int(min_overlap)
    lo, hi = (0, 2 * (w - 1)) if search is None else (int(np.floor(2 * search[0])),
                                                      int(np.ceil(2 * search[1])))
    s_values = np.arange(max(lo, 0), min(hi, 2 * (w - 1)) + 1)
    m = np.full(s_values.size, np.inf)
    for n, s in enumerate(s_values):
        j0, j1 = max(0, s - (w - 1)), min(w - 1, s)
        if j1 - j0 + 1 < min_overlap or (near is not None and not near[n]):
            continue
        m[n] = metric(a[:, j0:j1 + 1], b[:, s - j1:s - j0 + 1][:, ::-1])
    if not np.isfinite(m).any():
        raise HipctError("cor: the search range leaves no overlap between opposite projections")
    return s_values / 2.0, m


def _estimate_pairs_180(sino, theta, search) -> CorEstimate:
    a, b = _pairs(sino, theta, 32)
    w = sino.shape[-1]
    x, m = _curve(a.reshape(-1, w), b.reshape(-1, w), w, search, _mismatch)
    i = int(np.argmin(m))
    margin, contrast, j = _confidence(x, m, i)
    cor = _parabola_min(x, m, i)
    cands = {"best": {"cor": cor, "metric": float(m[i])}}
    if j is not None:
        cands["runner-up"] = {"cor": float(x[j]), "metric": float(m[j])}
    return CorEstimate(cor, "180° with end points: opposite projections",
                       min(margin, contrast), cands, None, margin, contrast)


def _estimate_fft(sino, theta, search) -> CorEstimate:
    cor, (x, m) = _find_cor_fft(sino, search)
    i = int(np.argmin(m))
    margin, contrast, j = _confidence(x, m, i)
    cands = {"best": {"cor": cor, "metric": float(m[i])}}
    if j is not None:
        cands["runner-up"] = {"cor": float(x[j]), "metric": float(m[j])}
    return CorEstimate(cor, "180°: sinogram double-wedge consistency (Vo et al. 2014)",
                       min(margin, contrast), cands, None, margin, contrast)


def find_cor_quarter(sinos, thetas, *, side: str | None = None) -> list:
    """Both axes of a quarter acquisition (two 360° rotations, detector shifted between them).

    The rotation whose own opposite projections match best (its axis is on its detector) is
    found with :func:`find_cor_half` and merged into a 180° sinogram; the other rotation's
    axis is the column at which its projections at theta and theta + pi (mirrored) match that
    sinogram best over their overlap (normalised squared difference, smoothed along the
    angle, parabola-refined).

    Parameters
    ----------
    sinos : sequence of two numpy.ndarray
        ``(n_rows, n_angles_i, n_cols)`` −log data of each rotation (same rows).
    thetas : sequence of two numpy.ndarray
        Their angles (radians), each covering 360°.
    side : {"left", "right"}, optional
        Side of the inner rotation's axis, if known.

    Returns
    -------
    list of CorEstimate
        In the order of the inputs.
    """
    if len(sinos) != 2 or len(thetas) != 2:
        raise HipctError("cor: quarter acquisition has exactly two rotations")
    sinos = [np.asarray(s, dtype=np.float32) for s in sinos]
    sinos = [s[None] if s.ndim == 2 else s for s in sinos]
    if not all(is_full_turn(t) for t in thetas):
        raise HipctError("cor: each rotation of a quarter acquisition must cover 360°")
    own = [find_cor_half(s, t, side=side, correlation=False) for s, t in zip(sinos, thetas)]
    inner = int(np.argmin([e.candidates["best"]["metric"] for e in own]))
    outer = 1 - inner
    est_in = find_cor_half(sinos[inner], thetas[inner], side=side)
    w_in = sinos[inner].shape[-1]
    merged, lay = merge_to_180([sinos[inner]], [SubScan(np.asarray(thetas[inner]), w_in,
                                                        est_in.cor)])
    ref = _smooth_angles(merged, False)                       # (rows, angles, n_u)
    sb = _smooth_angles(sinos[outer], True)
    tb = np.asarray(thetas[outer], dtype=np.float64)
    direct = interpolate_angles(sb, tb, lay.theta, True)           # the outer scan at theta
    opposite = interpolate_angles(sb, tb, lay.theta + np.pi, True)  # ... and at theta + pi
    w = sb.shape[-1]
    min_overlap = max(16, w // 25)
    cols = np.arange(w)
    # outer column j sees u = j - c (direct) and u = c - j (opposite); the merged grid holds
    # u0 + k, k = 0..n_u-1: every c leaving min_overlap columns in either view is tried
    c_lo = -(lay.u0 + lay.n_u - 1) - (w - 1) + min_overlap
    c_hi = (lay.u0 + lay.n_u - 1) + (w - 1) - min_overlap
    x = np.arange(np.floor(2 * c_lo), np.ceil(2 * c_hi) + 1) / 2.0
    m = np.full(x.size, np.inf)
    for n, c in enumerate(x):
        num = den = 0.0
        count = 0
        for view, u in ((direct, cols - c), (opposite, c - cols)):
            k = u - lay.u0
            ok = (k >= 0) & (k <= lay.n_u - 1)
            if ok.sum() < min_overlap:
                continue
            k0 = np.minimum(np.floor(k[ok]).astype(np.int64), lay.n_u - 2)
            f = (k[ok] - k0).astype(np.float32)
            r = ref[..., k0] * (1 - f) + ref[..., k0 + 1] * f
            v = view[..., ok]
            num += float(np.sum((v - r) ** 2))
            den += float(np.sum(v * v) + np.sum(r * r))
            count += ok.sum()
        if count >= min_overlap and den > 0:
            m[n] = num / den
    if not np.isfinite(m).any():
        raise HipctError("cor: the two rotations of the quarter acquisition never overlap")
    i = int(np.argmin(m))
    margin, contrast, j = _confidence(x, m, i)
    cor = _parabola_min(x, m, i)
    cands = {"best": {"cor": cor, "metric": float(m[i])}}
    if j is not None:
        cands["runner-up"] = {"cor": float(x[j]), "metric": float(m[j])}
    est_out = CorEstimate(cor, "quarter acquisition: outer rotation matched to the inner one's "
                               "180° sinogram", min(margin, contrast), cands, None, margin,
                          contrast)
    out = [None, None]
    out[inner], out[outer] = est_in, est_out
    return out


def _opposite_mismatch(a, b, s: int) -> float:
    """Mismatch of ``a`` and ``b`` mirrored about the axis column ``s / 2`` over their overlap."""
    w = a.shape[-1]
    j0, j1 = max(0, s - (w - 1)), min(w - 1, s)
    return _mismatch(a[:, j0:j1 + 1], b[:, s - j1:s - j0 + 1][:, ::-1])


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
