"""Fast filtered back-projection in the Fourier domain, on a non-uniform FFT.

Back-projection of a ramp-filtered sinogram is a sum of plane waves (Fourier-slice theorem;
Kak & Slaney 1988, §3.3, eq. 45)::

    f(x, y) = sum_a w_a sum_k Q_a(k) exp(2 pi i k (x cos(theta_a) - y sin(theta_a) - u_pad0) / N)

with ``Q_a = FFT(padded projection a) * ramp / N`` on the same ``N``-point padded grid as
:func:`hipct.reconstruction.fbp.filter_sinogram` and ``u_pad0`` the axis-relative coordinate of
the padded sample 0. The frequencies ``(k cos, k sin)`` lie on a polar grid, so the double sum
is one type-1 non-uniform FFT from polar points onto the Cartesian slice (Greengard & Lee,
*SIAM Rev.* 46, 443 (2004); finufft: Barnett et al., *SIAM J. Sci. Comput.* 41, C479 (2019)),
O(N_a N + n² log n) instead of the O(N_a n²) of a direct back-projector. The sinogram is real,
so only ``k >= 0`` is summed (Hermitian symmetry; the interior terms count twice) and the real
part is taken.

Two choices make the result an FBP rather than a new method:

* the ramp is the same band-limited Kak–Slaney ramp (:func:`~.ramp.filter_response`), applied
  exactly on the padded grid, apodisation windows included;
* the direct back-projector interpolates linearly, whose transfer function is
  ``sinc²(f)``; that factor is applied here too, so both estimate the same band-limited slice
  (without it, the exact plane-wave sum rings more at sharp edges: RMSE on the Shepp–Logan
  phantom 0.0152 instead of 0.0117 for 1024² × 1500).

A :class:`FourierBackprojector` holds the finufft plan and the per-geometry factors, so many
slices of one scan pay for them once. Results are deterministic: each slice is transformed by a
single-threaded plan (slices run in parallel, one per thread), because finufft's multithreaded
spreading adds the subgrids in a varying order (differences of ~1e-7 between two calls), so
the same slice gives the same bits whatever the number of threads or processes.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import fft as sfft

from hipct.errors import HipctError

from .ramp import angle_weights, filter_response, padded_length, slice_grid

__all__ = ["FourierBackprojector", "available_threads"]

_EPS = 1e-4          # finufft relative tolerance: 100x below FBP's own discretisation error
_UPSAMPLE = 1.25     # finufft's low-upsampling mode: a 1.25n grid instead of 2n, same accuracy


def available_threads(nthreads: int | None = None) -> int:
    """``nthreads`` when given, else the cores this process may use."""
    if nthreads:
        return int(nthreads)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class FourierBackprojector:
    """Filtered back-projection of one geometry through a cached non-uniform FFT plan.

    Parameters
    ----------
    theta : numpy.ndarray
        Projection angles in radians (any set; 360° sets are weighted down to pi as in
        :func:`~.fbp.fbp`).
    u0 : float
        Axis-relative coordinate (pixels) of sinogram column 0.
    n_cols : int
        Sinogram width.
    n : int
        Slice size (``n × n`` grid centred on the axis, :func:`~.fbp.slice_grid`).
    roi : tuple, optional
        ``(x0, x1, y0, y1)`` sub-region of that grid.
    filter_name : str
        Apodisation window (see :data:`~.ramp.FILTERS`).
    pad_factor : float
        Padded length ≥ this × ``n_cols``.
    nthreads : int, optional
        Threads (default: the cores this process may use).
    eps : float
        finufft tolerance.
    """

    def __init__(self, theta, u0: float, n_cols: int, n: int, roi=None,
                 filter_name: str = "ramp", pad_factor: float = 2.0,
                 nthreads: int | None = None, eps: float = _EPS):
        import finufft

        theta = np.asarray(theta, dtype=np.float64)
        weights = angle_weights(theta)
        total = weights.sum()
        if total > 1.5 * np.pi:
            weights *= np.pi / total
        response = filter_response(int(n_cols), filter_name, pad_factor).astype(np.float64)
        self.n_cols = int(n_cols)
        self.n_angles = theta.size
        self.n_pad = (response.size - 1) * 2
        self.left = (self.n_pad - self.n_cols) // 2
        xs, ys = slice_grid(int(n), roi)
        self.shape = (ys.size, xs.size)
        self.nthreads = available_threads(nthreads)

        k = np.arange(response.size)
        freq = k / self.n_pad                                   # cycles per pixel
        hermitian = np.full(k.size, 2.0)
        hermitian[0] = 1.0
        if self.n_pad % 2 == 0:
            hermitian[-1] = 1.0                                 # Nyquist term appears once
        radial = response * np.sinc(freq) ** 2 * hermitian / self.n_pad
        # output pixel (iy, ix) sits at (ys[0] + iy, xs[0] + ix); finufft's mode m_x runs from
        # -(nx // 2), so x = m_x + sx with sx = xs[0] + nx // 2 (likewise y)
        sx = xs[0] + self.shape[1] // 2
        sy = ys[0] + self.shape[0] // 2
        omega = 2 * np.pi * freq                                # radians per pixel
        # u = x cos(theta) - y sin(theta) (:mod:`~.fbp`): the y terms carry -sin(theta)
        cos_t, sin_t = np.cos(theta), -np.sin(theta)
        # phase per (angle, k): exp(i omega_k g_a), g_a = sx cos_t + sy sin_t - u_pad0, built as
        # powers of exp(2 pi i g_a / n_pad) (one complex exp per angle)
        g = sx * cos_t + sy * sin_t - (float(u0) - self.left)
        step = np.exp(2j * np.pi * g / self.n_pad)[:, None]
        phase = np.cumprod(np.broadcast_to(step, (theta.size, k.size - 1)), axis=1)
        phase = np.concatenate([np.ones((theta.size, 1)), phase], axis=1)
        self.factor = (phase * (weights[:, None] * radial[None, :])).astype(np.complex64)
        self._points = ((omega[None, :] * sin_t[:, None]).ravel().astype(np.float32),
                        (omega[None, :] * cos_t[:, None]).ravel().astype(np.float32))
        self._finufft = finufft
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pool = None
        self.eps = float(eps)

    @staticmethod
    def memory_bytes(n_angles: int, n_cols: int, n: int, nthreads: int | None = None,
                     pad_factor: float = 2.0) -> float:
        """Memory a backprojector holds: per-geometry factors and points (16 B per polar
        point), and per thread a plan (finufft's sort indices, 8 B per point, and its
        1.25n-oversampled complex64 grid), one slice's spectrum and the complex64 slice
        finufft returns (8 B per output pixel).

        For a 1024² slice from 1500 projections about 0.1 GB; for an 8000² slice from
        12 000 projections 4.4 GB with one thread, which the pipeline counts against
        ``--memory``.
        """
        points = float(n_angles) * (padded_length(n_cols, pad_factor) // 2 + 1)
        grid = (math.ceil(_UPSAMPLE * n) + 8) ** 2 * 8.0
        result = float(n) * n * 8.0
        return points * 16.0 + available_threads(nthreads) * (points * 16.0 + grid + result)

    def _plan(self):
        """This pool thread's single-threaded plan, made on its first slice and kept for the
        object's life (FFTW planning is serialised by a lock)."""
        plan = getattr(self._local, "plan", None)
        if plan is None:
            with self._lock:
                plan = self._finufft.Plan(1, self.shape, n_trans=1, eps=self.eps, isign=1,
                                          dtype="complex64", upsampfac=_UPSAMPLE, nthreads=1)
                plan.setpts(*self._points)
            self._local.plan = plan
        return plan

    def _one(self, sino: np.ndarray) -> np.ndarray:
        padded = np.pad(sino, ((0, 0), (self.left, self.n_pad - self.n_cols - self.left)),
                        mode="edge")
        spec = sfft.rfft(padded, axis=-1, workers=1).astype(np.complex64)
        spec *= self.factor
        return self._plan().execute(spec.ravel()).real.reshape(self.shape)

    def __call__(self, sino: np.ndarray) -> np.ndarray:
        """Reconstruct ``(n_angles, n_cols)`` or ``(n_slices, n_angles, n_cols)`` sinograms.

        Returns
        -------
        numpy.ndarray
            ``(ny, nx)`` or ``(n_slices, ny, nx)`` float32, per pixel like :func:`~.fbp.fbp`.
        """
        single = sino.ndim == 2
        data = np.asarray(sino[None] if single else sino, dtype=np.float32)
        if data.shape[1:] != (self.n_angles, self.n_cols):
            raise HipctError(f"fbp: sinogram shape {data.shape[1:]} does not match the "
                             f"planned ({self.n_angles}, {self.n_cols})")
        out = np.empty((data.shape[0],) + self.shape, np.float32)
        # slices always run on this object's own pool, whose threads keep their plans from
        # call to call: ``nthreads`` plans for the object's life, whoever calls it
        for s, res in enumerate(self._executor().map(self._one, data)):
            out[s] = res
        return out[0] if single else out

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.nthreads,
                                                thread_name_prefix="hipct-fbp")
            return self._pool

    def close(self) -> None:
        """Stop the threads and drop their plans (a later call starts new ones)."""
        with self._lock:
            pool, self._pool = self._pool, None
            self._local = threading.local()
        if pool is not None:
            pool.shutdown(wait=True)

    def __del__(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)
