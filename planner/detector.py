"""Detector chain: scintillator absorption, deposited energy, light, electrons, grey levels.

Energy-integrating detection: the signal of a pixel is proportional to the energy deposited
in the scintillator. Per incident photon of energy E the deposited energy is taken as

    E_dep(E) = E · (1 - exp(-μ(E) t)) · μen(E)/μ(E)

(absorbed fraction times the fraction of the interaction energy kept locally: fluorescence
and Compton photons escape; Hubbell & Seltzer 2004 definition of μen).

*Mean detected energy* is the mean of E weighted by the deposited energy spectrum
Φ(E)·T(E)·E_dep(E) — what an energy-integrating detector "sees". The photon-weighted mean
(weight Φ·T·(1 - exp(-μt))) is reported beside it.

Light: N_γ = E_dep[MeV] · LY; collected into the optic's object-side numerical aperture NA
from a medium of index n with efficiency η = NA² / (4 n²) (Koch et al. 1998, J. Opt. Soc. Am.
A 15, 1940, eq. 3, small-angle limit); electrons = N_γ · η · QE.

Scintillator blur (Koch et al. 1998, eq. 10): R_FWHM = sqrt((0.18 µm / NA)² + (0.075 · Δz · NA)²),
Δz the screen thickness in µm.
"""

from __future__ import annotations

import numpy as np

from .materials import Material, mu_per_cm, muen_rho, resolve_material

__all__ = ["screen_material", "absorbed_fraction", "deposited_energy_kev",
           "mean_detected_energy_kev", "photon_weighted_mean_energy_kev",
           "collection_efficiency", "electrons_per_pixel", "scintillator_blur_um",
           "snr_per_projection"]


def screen_material(formula: str, density_g_cm3: float) -> Material:
    """Material of a scintillator screen from its formula and density."""
    return resolve_material(formula, density_g_cm3, field="detector.scintillator")


def absorbed_fraction(material: Material, thickness_m: float, energy_kev) -> np.ndarray:
    """Fraction of incident photons interacting in the screen, 1 - exp(-μ t)."""
    return -np.expm1(-mu_per_cm(material, energy_kev) * thickness_m * 100.0)


def deposited_energy_kev(material: Material, thickness_m: float, energy_kev) -> np.ndarray:
    """Mean energy deposited per incident photon, E·(1 - e^{-μt})·μen/μ (keV)."""
    e = np.asarray(energy_kev, dtype=float)
    mu = mu_per_cm(material, e)
    ratio = muen_rho(material, e) * material.density_g_cm3 / mu
    return e * -np.expm1(-mu * thickness_m * 100.0) * np.minimum(ratio, 1.0)


def mean_detected_energy_kev(spectrum, e_dep_kev) -> float:
    """Deposited-energy weighted mean energy Σ E Φ E_dep / Σ Φ E_dep (keV)."""
    return spectrum.mean_energy_kev(e_dep_kev)


def photon_weighted_mean_energy_kev(spectrum, absorbed) -> float:
    """Mean energy of the photons absorbed in the screen, Σ E Φ A / Σ Φ A (keV)."""
    return spectrum.mean_energy_kev(absorbed)


def collection_efficiency(na: float, refractive_index: float) -> float:
    """Fraction of isotropically emitted light entering the optic, NA²/(4n²) (Koch 1998)."""
    return na ** 2 / (4.0 * refractive_index ** 2)


def electrons_per_pixel(spectrum, e_dep_kev, pixel_area_mm2: float, time_s: float,
                        light_yield_per_mev: float, efficiency: float) -> float:
    """Photo-electrons in one pixel: Σ Φ·E_dep · area · t · LY · η·QE.

    ``pixel_area_mm2`` is the pixel's footprint at the sample (voxel²): the photons that reach
    one camera pixel are those crossing that area at the sample plane.
    """
    dep_mev = float((spectrum.photons_per_s_mm2 * e_dep_kev).sum()) * 1e-3
    return dep_mev * pixel_area_mm2 * time_s * light_yield_per_mev * efficiency


def scintillator_blur_um(thickness_um: float, na: float) -> float:
    """Koch et al. (1998) resolution of a thick screen imaged at numerical aperture NA (µm FWHM)."""
    return float(np.hypot(0.18 / na, 0.075 * thickness_um * na))


def snr_per_projection(xray_photons: float, electrons_per_xray: float, read_noise_e: float,
                       n_reads: int) -> float:
    """SNR of one projection pixel (all sub-frames summed).

    Signal S = N·g; variance N·g²·(1 + 1/g) (Poisson X-rays, Poisson light gain g) plus
    n_reads·σ_read². Swank noise from the spectrum is neglected.
    """
    if xray_photons <= 0:
        return 0.0
    g = max(electrons_per_xray, 1e-12)
    signal = xray_photons * g
    var = xray_photons * g * g * (1.0 + 1.0 / g) + n_reads * read_noise_e ** 2
    return float(signal / np.sqrt(var))
