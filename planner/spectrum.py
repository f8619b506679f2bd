"""Source spectra: synchrotron bending magnet / wiggler pole, and a monochromatic beam.

Formulas (Kim, X-ray Data Booklet §2.1; Wiedemann, *Particle Accelerator Physics*):

* critical energy  Ec[keV] = 0.665 · E²[GeV] · B[T]
* vertically integrated, per mrad horizontal:
  dF/dθ = 2.4605e13 · I[A] · E[GeV] · G1(Ec/E… y = E/Ec),  G1(y) = y ∫_y^∞ K5/3(t) dt
* on axis, per mrad²:  d²F/dθdψ = 1.3264e13 · E²[GeV] · I[A] · H2(y),  H2(y) = y² K2/3(y/2)²

both in photons / s / 0.1 % bandwidth. At a distance D the on-axis flux density is
d²F/dθdψ / D[m]² per mm² (1 mrad at 1 m subtends 1 mm).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import kv

__all__ = ["critical_energy_kev", "g1", "h2", "bending_magnet_flux", "Spectrum",
           "bending_magnet_spectrum_at_sample", "monochromatic_spectrum", "default_energy_grid"]


def default_energy_grid(e_min_kev: float = 5.0, e_max_kev: float = 400.0,
                        step_kev: float = 0.5) -> np.ndarray:
    """Bin centres (keV) of the energy grid used by the planner."""
    return np.arange(e_min_kev, e_max_kev + step_kev / 2, step_kev)


def critical_energy_kev(field_t: float, electron_energy_gev: float) -> float:
    """Critical energy Ec = 0.665 E²[GeV] B[T] keV (X-ray Data Booklet eq. 2-2)."""
    return 0.665 * electron_energy_gev ** 2 * field_t


@lru_cache(maxsize=1)
def _k53_tail():
    # ∫_t^∞ K5/3 on a log grid, accurate to < 1e-4 relative for 1e-6 < y < 60.
    t = np.geomspace(1e-7, 80.0, 20001)
    k = kv(5.0 / 3.0, t)
    # Trapezoid sums from the top: tail[i] = ∫_{t_i}^{80} K5/3 (beyond 80, K5/3 < 1e-35).
    steps = 0.5 * (k[1:] + k[:-1]) * np.diff(t)
    tail = np.concatenate([np.cumsum(steps[::-1])[::-1], [0.0]])
    return np.log(t), np.log(tail + 1e-300)


def g1(y) -> np.ndarray:
    """G1(y) = y ∫_y^∞ K5/3(t) dt (vertically integrated bending-magnet spectrum shape)."""
    y = np.asarray(y, dtype=float)
    lt, lc = _k53_tail()
    return y * np.exp(np.interp(np.log(np.clip(y, 1e-6, 60.0)), lt, lc)) * (y <= 60.0)


def h2(y) -> np.ndarray:
    """H2(y) = y² K2/3(y/2)² (on-axis bending-magnet spectrum shape)."""
    y = np.asarray(y, dtype=float)
    return y ** 2 * kv(2.0 / 3.0, y / 2.0) ** 2


def bending_magnet_flux(energy_kev, field_t: float, electron_energy_gev: float,
                        current_a: float, mode: str = "on_axis") -> np.ndarray:
    """Bending-magnet photon flux in photons/s/0.1 %bw.

    Parameters
    ----------
    energy_kev : array_like
        Photon energies (keV).
    field_t, electron_energy_gev, current_a : float
        Magnetic field (T), electron energy (GeV), ring current (A).
    mode : {"on_axis", "integrated"}
        ``on_axis``: per mrad² on the orbit plane; ``integrated``: integrated over the vertical
        angle, per mrad horizontal.
    """
    y = np.asarray(energy_kev, dtype=float) / critical_energy_kev(field_t, electron_energy_gev)
    if mode == "on_axis":
        return 1.3264e13 * electron_energy_gev ** 2 * current_a * h2(y)
    if mode == "integrated":
        return 2.4605e13 * current_a * electron_energy_gev * g1(y)
    raise ValueError(f"mode must be 'on_axis' or 'integrated', not {mode!r}")


@dataclass(frozen=True)
class Spectrum:
    """Photon fluence rate in energy bins.

    Attributes
    ----------
    energy_kev : ndarray
        Bin centres (keV).
    photons_per_s_mm2 : ndarray
        Photons / s / mm² in each bin (already multiplied by the bin width).
    """

    energy_kev: np.ndarray
    photons_per_s_mm2: np.ndarray

    def __mul__(self, transmission) -> "Spectrum":
        return Spectrum(self.energy_kev, self.photons_per_s_mm2 * np.asarray(transmission))

    @property
    def total(self) -> float:
        """Total photons / s / mm²."""
        return float(self.photons_per_s_mm2.sum())

    def mean_energy_kev(self, weight=None) -> float:
        """Mean energy, weighted by the photon number times ``weight`` (default 1)."""
        w = self.photons_per_s_mm2 * (1.0 if weight is None else weight)
        s = w.sum()
        return float((self.energy_kev * w).sum() / s) if s > 0 else float("nan")

    def per_kev(self) -> np.ndarray:
        """Photons / s / mm² / keV (for plots)."""
        widths = np.gradient(self.energy_kev) if self.energy_kev.size > 1 else np.ones(1)
        return self.photons_per_s_mm2 / widths


def bending_magnet_spectrum_at_sample(energy_kev, field_t: float, electron_energy_gev: float,
                                      current_a: float, distance_m: float) -> Spectrum:
    """On-axis photon flux density at ``distance_m`` from a bending-magnet source.

    photons/s/mm²/keV = (d²F/dθdψ / D²) / (1e-3 · E), since 0.1 % bw = E/1000 keV.
    """
    e = np.asarray(energy_kev, dtype=float)
    per_01bw_mm2 = bending_magnet_flux(e, field_t, electron_energy_gev, current_a) / distance_m ** 2
    per_kev = per_01bw_mm2 / (1e-3 * e)
    widths = np.gradient(e) if e.size > 1 else np.ones(1)
    return Spectrum(e, per_kev * widths)


def monochromatic_spectrum(energy_kev: float, flux_per_s: float, beam_area_mm2: float) -> Spectrum:
    """A single-bin spectrum: ``flux_per_s`` photons spread uniformly over ``beam_area_mm2``."""
    return Spectrum(np.array([float(energy_kev)]), np.array([flux_per_s / beam_area_mm2]))
