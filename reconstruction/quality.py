"""Image-quality metrics: contrast-to-noise, grey-level range, noise power, Fourier ring correlation.

* CNR between two labelled regions: |m_a − m_b| / sqrt((σ_a² + σ_b²) / 2).
* Detector range used by tissue: (median raw value behind the tissue − dark) / (saturation −
  dark), the measured counterpart of the planner's ``tissue_range_fraction``.
* Noise power spectrum (radially averaged): NPS(f) = Δx Δy / (N_x N_y) · ⟨|FFT(n − n̄)|²⟩
  (Dobbins 2000, *Handbook of Medical Imaging* vol. 1, ch. 3).
* Fourier ring correlation of two independent half-data reconstructions (Saxton & Baumeister
  1982; van Heel & Schatz 2005): FRC(r) = Re Σ F₁F₂* / sqrt(Σ|F₁|² Σ|F₂|²) over rings, with
  the fixed 1/7 threshold or the half-bit curve
  T(r) = (0.2071 + 1.9102/√n_r) / (1.2071 + 0.9102/√n_r), n_r the pixels in ring r.
  Resolution is the full period 1/f where the (3-ring smoothed) curve first falls below the
  threshold after having been above it: Paganin-filtered noise can dominate the lowest rings
  of a local tomography, which says nothing about fine detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["cnr", "region_masks", "detector_range_fraction", "range_fraction",
           "noise_power_spectrum", "FRCResult", "frc", "HALF_BIT", "ONE_SEVENTH"]

HALF_BIT = "half-bit"
ONE_SEVENTH = "1/7"


def cnr(image: np.ndarray, mask_a: np.ndarray, mask_b: np.ndarray) -> float:
    """Contrast-to-noise ratio of regions ``a`` and ``b`` of ``image``."""
    a = np.asarray(image)[mask_a]
    b = np.asarray(image)[mask_b]
    if a.size < 2 or b.size < 2:
        raise ValueError("cnr: each region needs at least two pixels")
    noise = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2.0)
    return float(abs(a.mean() - b.mean()) / noise) if noise > 0 else float("inf")


def region_masks(labels: np.ndarray, keys, erode_px: int = 3, within: np.ndarray | None = None):
    """Masks of the labelled regions ``keys``, eroded by ``erode_px`` (away from edges)."""
    out = []
    for k in keys:
        m = labels == k
        if erode_px > 0:
            m = ndimage.binary_erosion(m, iterations=erode_px, border_value=0)
        if within is not None:
            m &= within
        out.append(m)
    return out


def detector_range_fraction(raw: np.ndarray, dark: float, saturation: float) -> float:
    """Fraction of the detector's range [dark, saturation] used by the median raw signal."""
    return float((np.median(raw) - dark) / (saturation - dark))


def range_fraction(values: np.ndarray, lo: float, hi: float, tails: float = 0.01) -> float:
    """Width of the central ``1 − 2·tails`` of ``values`` as a fraction of ``[lo, hi]``."""
    p_lo, p_hi = np.quantile(values, [tails, 1 - tails])
    return float((p_hi - p_lo) / (hi - lo))


def _ring_index(shape, spacing: float = 1.0):
    ny, nx = shape
    fy = np.fft.fftfreq(ny)[:, None]
    fx = np.fft.fftfreq(nx)[None, :]
    r = np.sqrt(fx * fx + fy * fy)                  # cycles per pixel
    n = min(ny, nx)
    idx = np.rint(r * n).astype(int)                # ring width 1/n
    return idx, n // 2


def noise_power_spectrum(noise: np.ndarray, pixel_m: float = 1.0):
    """Radially averaged NPS of noise-only images (2-D or a stack of 2-D).

    Returns ``(f, nps)``: frequency in cycles per metre (per pixel when ``pixel_m`` is 1) and
    the NPS in (units² · m²).
    """
    stack = np.atleast_3d(np.asarray(noise, dtype=np.float64).T).T   # (k, ny, nx)
    k, ny, nx = stack.shape
    power = np.zeros((ny, nx))
    for img in stack:
        power += np.abs(np.fft.fft2(img - img.mean())) ** 2
    power *= pixel_m ** 2 / (nx * ny * k)
    idx, nr = _ring_index((ny, nx))
    sums = np.bincount(idx.ravel(), power.ravel(), minlength=nr + 1)[:nr + 1]
    counts = np.bincount(idx.ravel(), minlength=nr + 1)[:nr + 1]
    f = np.arange(nr + 1) / min(ny, nx) / pixel_m
    return f[1:], sums[1:] / np.maximum(counts[1:], 1)


@dataclass
class FRCResult:
    """FRC curve and the resolution where it crosses the threshold."""

    freq: np.ndarray            # cycles per pixel
    frc: np.ndarray
    threshold: np.ndarray
    resolution_px: float        # full period 1/f at the crossing (2 = Nyquist; inf: none)
    crossed: bool               # False: above threshold up to Nyquist (resolution ≤ 2 px)

    def resolution(self, pixel: float) -> float:
        """Resolution in the units of ``pixel``."""
        return self.resolution_px * pixel


def _apodise(shape, frac: float = 0.1):
    """Separable Tukey window: flat centre, cosine edges over ``frac`` of each side."""
    def tukey(n):
        w = np.ones(n)
        m = max(1, int(frac * n))
        ramp = 0.5 * (1 - np.cos(np.pi * (np.arange(m) + 0.5) / m))
        w[:m], w[-m:] = ramp, ramp[::-1]
        return w
    return tukey(shape[0])[:, None] * tukey(shape[1])[None, :]


def frc(a: np.ndarray, b: np.ndarray, threshold: str = HALF_BIT, smooth: int = 3) -> FRCResult:
    """Fourier ring correlation of two independent reconstructions of the same region.

    Parameters
    ----------
    a, b : numpy.ndarray
        2-D images, or stacks of 2-D slices (rings are summed over the stack).
    threshold : {'half-bit', '1/7'}
    smooth : int
        Width (rings) of a running mean applied to the curve before the crossing is sought.
    """
    if np.shape(a) != np.shape(b):
        raise ValueError(f"frc: images differ in shape {np.shape(a)} vs {np.shape(b)}")
    a3 = np.asarray(a, dtype=np.float64).reshape((-1,) + np.shape(a)[-2:])
    b3 = np.asarray(b, dtype=np.float64).reshape((-1,) + np.shape(b)[-2:])
    win = _apodise(a3.shape[1:])
    idx, nr = _ring_index(a3.shape[1:])
    num = np.zeros(nr + 1)
    d1 = np.zeros(nr + 1)
    d2 = np.zeros(nr + 1)
    for x, y in zip(a3, b3):
        f1 = np.fft.fft2((x - x.mean()) * win)
        f2 = np.fft.fft2((y - y.mean()) * win)
        num += np.bincount(idx.ravel(), (f1 * f2.conj()).real.ravel(), minlength=nr + 1)[:nr + 1]
        d1 += np.bincount(idx.ravel(), (np.abs(f1) ** 2).ravel(), minlength=nr + 1)[:nr + 1]
        d2 += np.bincount(idx.ravel(), (np.abs(f2) ** 2).ravel(), minlength=nr + 1)[:nr + 1]
    counts = np.bincount(idx.ravel(), minlength=nr + 1)[:nr + 1] * a3.shape[0]
    curve = num / np.sqrt(np.maximum(d1 * d2, 1e-300))
    f = np.arange(nr + 1) / min(a3.shape[1:])
    if threshold == HALF_BIT:
        s = np.sqrt(np.maximum(counts, 1))
        thr = (0.2071 + 1.9102 / s) / (1.2071 + 0.9102 / s)
    elif threshold == ONE_SEVENTH:
        thr = np.full_like(curve, 1.0 / 7.0)
    else:
        raise ValueError(f"frc: threshold must be {HALF_BIT!r} or {ONE_SEVENTH!r}")
    f, curve, thr = f[1:], curve[1:], thr[1:]
    sm = curve if smooth <= 1 else np.convolve(np.pad(curve, smooth // 2, mode="edge"),
                                               np.ones(smooth) / smooth, mode="valid")
    above = np.nonzero(sm >= thr)[0]
    if above.size == 0:          # no ring carries information: resolution undefined
        return FRCResult(f, curve, thr, float("inf"), True)
    below = np.nonzero(sm[above[0]:] < thr[above[0]:])[0]
    if below.size == 0:
        return FRCResult(f, curve, thr, 2.0, False)
    i = above[0] + below[0]
    # linear interpolation of the crossing between rings i-1 and i
    g0, g1 = sm[i - 1] - thr[i - 1], sm[i] - thr[i]
    fc = f[i - 1] + (f[i] - f[i - 1]) * g0 / (g0 - g1)
    return FRCResult(f, curve, thr, float(1.0 / fc), True)
