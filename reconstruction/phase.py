"""Single-distance Paganin phase retrieval and the unsharp mask, on projection stacks.

Paganin filter (Paganin et al., *J. Microsc.* 206, 33 (2002), eq. 10), applied to the
flat-corrected intensity ``I/I0``::

    F(f) = 1 / (1 + pi * lambda * z_eff * (delta/beta) * |f|^2),   f in cycles per metre
    result = -ln(IFFT(F * FFT(I/I0)))

The result is the projected attenuation ``mu * T`` (dimensionless, "−log" units) of a
homogeneous object; divide by ``mu`` for thickness. PyHST2's ``PAGANIN_Lmicron`` is
``L = sqrt(pi * lambda * z_eff * delta/beta)`` (:func:`paganin_length_m`), so
``F = 1 / (1 + L^2 |f|^2)``. Peers parametrise the same filter differently (tomopy's ``alpha``,
in cm and with angular frequencies, differs by factors of ``4 pi^2``): hipct only
takes delta/beta, energy, effective distance and pixel size, in SI units.

Unsharp mask: ``(1 + c) I - c G_sigma(I)``, a 2D Gaussian of ``sigma`` pixels.

Both steps are convolutions; :meth:`PaganinFilter.margin` and :func:`unsharp_margin` give the
rows a vertical chunk needs from its neighbours for the result to match the unchunked one.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from hipct.errors import HipctError
from hipct.physics.propagation import paganin_length_m, wavelength_m

__all__ = ["PaganinFilter", "paganin",
           "unsharp_mask", "unsharp_margin"]

_MARGIN_DECAY = 8.0  # margin = 8 kernel lengths: the K0 kernel has fallen by e^-8 ≈ 3e-4


@dataclass
class PaganinFilter:
    """A Paganin filter planned once for a projection shape, applied to many chunks.

    Parameters
    ----------
    energy_kev, distance_m, pixel_size_m, delta_beta : float
        Mean energy, *effective* propagation distance ``z1 z2 / (z1 + z2)``, pixel size at
        the sample and delta/beta.
    """

    energy_kev: float
    distance_m: float
    pixel_size_m: float
    delta_beta: float
    _cache: tuple | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        for name in ("energy_kev", "distance_m", "pixel_size_m", "delta_beta"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise HipctError(f"paganin: {name} must be a positive number, got {v!r}")

    @property
    def kernel_length_px(self) -> float:
        """Decay length of the real-space kernel (K0 Bessel), in pixels.

        ``1/(1 + (2 pi a f)^2)`` is the 2D transform of ``K0(r/a) / (2 pi a^2)``, with
        ``(2 pi a)^2 = pi lambda z delta/beta``.
        """
        a = paganin_length_m(self.energy_kev, self.distance_m, self.delta_beta) / (2 * math.pi)
        return a / self.pixel_size_m

    @property
    def margin(self) -> int:
        """Padding (pixels) each side needs so the result does not depend on the border."""
        return int(math.ceil(_MARGIN_DECAY * self.kernel_length_px)) + 1

    def response(self, shape) -> np.ndarray:
        """Filter on the ``rfft2`` grid of a padded ``shape``.

        The last response is kept as one ``(shape, array)`` tuple, read once and replaced in
        one assignment: threads asking for different shapes at once each get their own
        shape's response (at worst computed twice), never another's.
        """
        shape = tuple(int(s) for s in shape)
        cached = self._cache
        if cached is not None and cached[0] == shape:
            return cached[1]
        fy = sfft.fftfreq(shape[0], d=self.pixel_size_m)[:, None]
        fx = sfft.rfftfreq(shape[1], d=self.pixel_size_m)[None, :]
        lam = wavelength_m(self.energy_kev)
        resp = (1.0 / (1.0 + math.pi * lam * self.distance_m * self.delta_beta
                       * (fx * fx + fy * fy))).astype(np.float32)
        resp.setflags(write=False)
        self._cache = (shape, resp)
        return resp

    def apply(self, intensity: np.ndarray, pad_rows: tuple[int, int] | None = None,
              workers: int | None = None) -> np.ndarray:
        """Retrieve ``-ln`` of the filtered intensity for a stack of projections.

        Parameters
        ----------
        intensity : numpy.ndarray
            ``(n_proj, n_rows, n_cols)`` or ``(n_rows, n_cols)`` flat-corrected ``I/I0``.
        pad_rows : (int, int), optional
            Edge padding above and below. Default: the full margin on both sides. A vertical
            chunk that already carries real neighbour rows passes 0 on those sides.
        workers : int, optional
            FFT threads (default all cores).

        Returns
        -------
        numpy.ndarray
            ``-ln(filtered)``, float32, same shape.
        """
        single = intensity.ndim == 2
        data = np.asarray(intensity[None] if single else intensity, dtype=np.float32)
        m = self.margin
        top, bottom = (m, m) if pad_rows is None else pad_rows
        n_rows, n_cols = data.shape[1:]
        rows = sfft.next_fast_len(n_rows + top + bottom, real=True)
        cols = sfft.next_fast_len(n_cols + 2 * m, real=True)
        extra_r = rows - (n_rows + top + bottom)
        extra_c = cols - (n_cols + 2 * m)
        pad = ((top + extra_r // 2, bottom + extra_r - extra_r // 2),
               (m + extra_c // 2, m + extra_c - extra_c // 2))
        resp = self.response((rows, cols))
        r0, c0 = pad[0][0], pad[1][0]
        out = np.empty(data.shape, np.float32)
        floor = np.float32(1e-6)
        # one projection at a time: a padded float32 frame and its half spectrum stay in
        # cache-sized buffers (a whole batch at once is ~4x slower per projection)
        for k, frame in enumerate(data):
            padded = np.pad(frame, pad, mode="edge")
            spec = sfft.rfft2(padded, workers=workers or -1, overwrite_x=True)
            spec *= resp
            filtered = sfft.irfft2(spec, s=(rows, cols), workers=workers or -1,
                                   overwrite_x=True)[r0:r0 + n_rows, c0:c0 + n_cols]
            np.maximum(filtered, floor, out=out[k])
            np.log(out[k], out=out[k])
            np.negative(out[k], out=out[k])
        return out[0] if single else out


def paganin(intensity, energy_kev, distance_m, pixel_size_m, delta_beta) -> np.ndarray:
    """One-off Paganin retrieval; see :class:`PaganinFilter` (plan once for many chunks)."""
    return PaganinFilter(energy_kev, distance_m, pixel_size_m, delta_beta).apply(intensity)


def unsharp_margin(sigma_px: float) -> int:
    """Rows a chunk needs from each neighbour for :func:`unsharp_mask` (4 sigma)."""
    return int(math.ceil(4 * sigma_px)) + 1 if sigma_px > 0 else 0


def unsharp_mask(proj: np.ndarray, sigma_px: float, coeff: float) -> np.ndarray:
    """2D unsharp mask ``(1 + c) I - c G_sigma(I)`` of each projection.

    Parameters
    ----------
    proj : numpy.ndarray
        ``(n_proj, n_rows, n_cols)`` or ``(n_rows, n_cols)``.
    sigma_px : float
        Gaussian standard deviation in pixels (0 disables).
    coeff : float
        Strength ``c`` (0 disables).
    """
    if sigma_px < 0 or coeff < 0:
        raise HipctError(f"unsharp: sigma and coefficient must be >= 0, got {sigma_px}, {coeff}")
    if sigma_px == 0 or coeff == 0:
        return proj
    data = np.asarray(proj, dtype=np.float32)
    frames = data[None] if data.ndim == 2 else data
    out = np.empty(frames.shape, np.float32)
    gain, c = np.float32(1 + coeff), np.float32(coeff)

    def one(k):
        blurred = ndimage.gaussian_filter(frames[k], sigma_px, mode="nearest", truncate=4.0)
        np.multiply(frames[k], gain, out=out[k])
        blurred *= c
        out[k] -= blurred

    # scipy.ndimage releases the GIL: one frame per thread (a 3-D call is ~3x slower)
    threads = min(len(frames), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else os.cpu_count() or 1)
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(len(frames))))
    else:
        for k in range(len(frames)):
            one(k)
    return out[0] if data.ndim == 2 else out
