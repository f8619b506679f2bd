"""Free-space propagation: wavelength, effective distance, Fresnel number, Paganin length.

The one place of these formulas; the planner, the sweep, the simulator and the reconstruction
all call them. Every function works element-wise on NumPy arrays as well as on floats.

* λ = h c / E.
* z_eff = z1 z2 / (z1 + z2) (Fresnel scaling theorem, Paganin 2006 §2.4).
* Fresnel number N_F = a² / (λ z_eff), a the sample-plane pixel size.
* Paganin length L = sqrt(π λ z_eff δ/β) (PyHST2's PAGANIN_Lmicron; filter 1 / (1 + L² |f|²)
  with f in cycles per length).
"""

from __future__ import annotations

import numpy as np
import scipy.constants as sc

__all__ = ["wavelength_m", "effective_distance_m", "fresnel_number", "paganin_length_m"]



def wavelength_m(energy_kev):
    """X-ray wavelength λ = h c / E in metres for a photon energy in keV."""
    return sc.h * sc.c / (energy_kev * 1e3 * sc.e)


def effective_distance_m(z1_m, z2_m):
    """Effective propagation distance z1 z2 / (z1 + z2) of a point source at z1 (Paganin 2006 §2.4)."""
    return z1_m * z2_m / (z1_m + z2_m)


def fresnel_number(pixel_size_m, energy_kev, z_eff_m):
    """Fresnel number a² / (λ z_eff) of a sample-plane pixel a."""
    return pixel_size_m ** 2 / (wavelength_m(energy_kev) * z_eff_m)


def paganin_length_m(energy_kev, z_eff_m, delta_beta):
    """Paganin length L = sqrt(π λ z_eff δ/β) in metres (PyHST2's PAGANIN_Lmicron)."""
    out = np.sqrt(np.pi * wavelength_m(energy_kev) * z_eff_m * delta_beta)
    return float(out) if np.ndim(out) == 0 else out
