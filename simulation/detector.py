"""Detector response of the simulator: X-ray quanta, light gain, read noise, offset, clipping.

Cascaded counting model (the one behind :func:`hipct.planner.detector.snr_per_projection`):
the screen absorbs n ~ Poisson(N̄ · I) X-ray photons (N̄ for the open beam, I the normalised
intensity; drawn on the fine grid before the light spread blurs them, see
:mod:`.simulate`), each giving g photo-electrons on average with Poisson light statistics
(variance n·g, white); ``n_reads`` sub-frames each add Gaussian read noise σ_r and clip at the
full well; the camera reports ADU = electrons / gain + dark offset, rounded and clipped to
its bit depth. Swank noise of the polychromatic deposit is neglected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DetectorModel"]


@dataclass(frozen=True)
class DetectorModel:
    """Parameters of the counting model (see the module docstring)."""

    xrays_flat: float          # absorbed X-ray photons per pixel per projection, open beam
    electrons_per_xray: float
    read_noise_e: float
    n_reads: float             # sub-frames summed per projection
    full_well_e: float         # per sub-frame
    gain_e_per_adu: float
    dark_adu: float = 100.0
    bit_depth: int = 16

    @property
    def max_adu(self) -> float:
        """Largest value a projection can hold (sub-frames summed)."""
        return float(self.n_reads * (2 ** self.bit_depth - 1))

    @property
    def saturation_adu(self) -> float:
        """ADU at which the sub-frames are at full well (or at the top of the range)."""
        return min(self.max_adu, self.n_reads * self.full_well_e / self.gain_e_per_adu
                   + self.dark_adu)

    @property
    def dtype(self):
        return np.uint16 if self.max_adu <= 65535 else np.uint32

    def convert(self, xrays: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """ADU frame from absorbed X-ray photons per pixel; ``rng=None``: no light/read noise."""
        g = self.electrons_per_xray
        x = np.clip(xrays, 0.0, None)
        e = x * g
        if rng is not None:
            e = e + rng.normal(size=e.shape) * np.sqrt(e)
        e = np.minimum(e, self.n_reads * self.full_well_e)
        if rng is not None:
            e = e + rng.normal(size=e.shape) * self.read_noise_e * np.sqrt(self.n_reads)
        adu = np.clip(e / self.gain_e_per_adu + self.dark_adu, 0.0, self.max_adu)
        return np.rint(adu) if rng is not None else adu

    def dark(self, shape, rng: np.random.Generator | None) -> np.ndarray:
        """Dark frame in ADU."""
        if rng is None:
            return np.full(shape, self.dark_adu)
        e = rng.normal(size=shape) * self.read_noise_e * np.sqrt(self.n_reads)
        return np.rint(np.clip(e / self.gain_e_per_adu + self.dark_adu, 0.0, self.max_adu))
