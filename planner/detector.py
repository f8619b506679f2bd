"""Detector chain: scintillator absorption, deposited energy, light, electrons, grey levels.

Energy-integrating detection: the signal of a pixel is proportional to the energy deposited
in the scintillator. The deposited energy per incident photon, E_dep(E), depends on the
screen's thickness t because the secondary photons may escape or be reabsorbed
(:func:`deposited_energy_kev`):

* photons enter at normal incidence and interact at depth x with density μ e^{-μx}, μ the
  photo-absorption plus Compton attenuation (Rayleigh scattering is forward-peaked and is
  treated as no interaction);
* photo-absorption on element Z emits a Kα, Kβ, Lα or Lβ photon with the probability
  σ_line/μ, σ_line xraylib's line production cross-section (Kissel photo-ionisation, with
  cascades); the rest of the photon's energy (photo-electron, Auger electrons, weaker lines)
  stays locally;
* Compton scattering leaves the Klein-Nishina mean electron energy T̄(E) locally and emits a
  photon of E - T̄;
* a secondary photon is emitted isotropically; it escapes from depth x with probability
  P_esc(x) = ½ [E₂(μ' x) + E₂(μ' (t - x))] (E₂ the exponential integral, μ' its attenuation;
  the isotropic point source in a slab, e.g. Chandrasekhar 1960 §II.11), otherwise it is
  absorbed where it interacts (one generation of secondaries).

Thin screens give E(1 - e^{-μt})·μtr/μ ≈ μen/μ (the Hubbell-Seltzer definition, which lets every
fluorescence photon escape); thick ones keep nearly all of it.

*Mean detected energy* is the mean of E weighted by the deposited energy spectrum
Φ(E)·T(E)·E_dep(E) — what an energy-integrating detector "sees". The photon-weighted mean
(weight Φ·T·(1 - exp(-μt))) is reported beside it; the HOA catalogue's recorded energies agree
with the first (BM05 2.75 %, BM18 5.0 % median error) and not with the second (8.5 %, 8.8 %
low; ``benchmarks/validate_hoa.py --candidates``).

Light: N_γ = E_dep[MeV] · LY; collected into the optic's object-side numerical aperture NA
from a medium of index n with efficiency η = NA² / (4 n²) (Koch et al. 1998, J. Opt. Soc. Am.
A 15, 1940, eq. 3, small-angle limit); electrons = N_γ · η · QE.

Scintillator blur (Koch et al. 1998, eq. 10): R_FWHM = sqrt((0.18 µm / NA)² + (0.075 · Δz · NA)²),
Δz the screen thickness in µm.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.constants as sc
import scipy.special
import xraylib

from hipct.physics.materials import Material, mu_per_cm, resolve_material

__all__ = ["screen_material", "absorbed_fraction", "ScreenInteractions", "screen_interactions",
           "klein_nishina_transfer_fraction", "slab_escape_probability", "deposited_energy_kev",
           "mean_detected_energy_kev", "photon_weighted_mean_energy_kev",
           "collection_efficiency", "electrons_per_pixel", "scintillator_blur_um",
           "snr_per_projection"]


def screen_material(formula: str, density_g_cm3: float) -> Material:
    """Material of a scintillator screen from its formula and density."""
    return resolve_material(formula, density_g_cm3, field="detector.scintillator")


def absorbed_fraction(material: Material, thickness_m: float, energy_kev) -> np.ndarray:
    """Fraction of incident photons interacting in the screen, 1 - exp(-μ t)."""
    return -np.expm1(-mu_per_cm(material, energy_kev) * thickness_m * 100.0)


def klein_nishina_transfer_fraction(energy_kev) -> np.ndarray:
    """Mean fraction of a photon's energy given to the Compton electron, σ_tr/σ (Klein-Nishina).

    Integrated numerically over the Klein-Nishina cross-section dσ/dΩ ∝ r² (r + 1/r - sin²θ),
    r = E'/E = 1 / (1 + k (1 - cos θ)), k = E / m_e c² (Attix 1986, §7.III).
    """
    k = np.atleast_1d(np.asarray(energy_kev, dtype=float)) / (
        sc.physical_constants["electron mass energy equivalent in MeV"][0] * 1e3)
    c, w = np.polynomial.legendre.leggauss(96)
    r = 1.0 / (1.0 + k[:, None] * (1.0 - c[None, :]))
    dsig = r ** 2 * (r + 1.0 / r - (1.0 - c[None, :] ** 2))
    return (dsig * (1.0 - r)) @ w / (dsig @ w)


def _read_only(a: np.ndarray) -> np.ndarray:
    """``a`` made read-only: a cached array is shared by every caller."""
    a.setflags(write=False)
    return a


@lru_cache(maxsize=4096)
def _cs_element(z: int, energy_key: tuple) -> tuple:
    e = energy_key
    photo = np.array([xraylib.CS_Photo(z, x) for x in e])
    compton = np.array([xraylib.CS_Compt(z, x) for x in e])
    return _read_only(photo), _read_only(compton)


def _mu_interaction(material: Material, energy_kev: np.ndarray):
    """Photo-absorption and Compton linear attenuation (1/cm) per element, on a grid."""
    key = tuple(float(x) for x in energy_kev)
    photo, compton = [], []
    for z, w in zip(material.z, material.mass_fractions):
        p, c = _cs_element(int(z), key)
        photo.append(w * material.density_g_cm3 * p)
        compton.append(w * material.density_g_cm3 * c)
    return np.array(photo), np.array(compton)


_LINES = (xraylib.KA_LINE, xraylib.KB_LINE, xraylib.LA_LINE, xraylib.LB_LINE)


@lru_cache(maxsize=4096)
def _fluor_line(z: int, line: int, energy_key: tuple) -> np.ndarray:
    """Fluorescence line production cross-section (cm²/g), cascades included (xraylib)."""
    out = np.zeros(len(energy_key))
    for i, x in enumerate(energy_key):
        try:
            out[i] = xraylib.CS_FluorLine_Kissel_Cascade(z, line, x)
        except ValueError:  # below the shell's edge, or no data for the line
            out[i] = 0.0
    return _read_only(out)


@dataclass(frozen=True)
class ScreenInteractions:
    """What happens where a photon interacts in a screen (arrays over the energy grid).

    Attributes
    ----------
    mu_per_cm : ndarray
        Photo-absorption + Compton linear attenuation μ (1/cm).
    local_kev : ndarray
        Energy left at the interaction point per interaction (keV).
    secondary_probability, secondary_kev, secondary_mu_per_cm : ndarray
        (n_secondary, n_energy): per interaction, the probability of emitting each secondary
        photon (K lines of each element, the Compton photon), its energy and its attenuation.
    """

    mu_per_cm: np.ndarray
    local_kev: np.ndarray
    secondary_probability: np.ndarray
    secondary_kev: np.ndarray
    secondary_mu_per_cm: np.ndarray


def screen_interactions(material: Material, energy_kev) -> ScreenInteractions:
    """Branching of a photon's interaction in ``material`` (see the module docstring).

    Parameters
    ----------
    material : Material
    energy_kev : array_like
        Incident photon energies (keV).
    """
    e = np.atleast_1d(np.asarray(energy_kev, dtype=float))
    photo, compton = _mu_interaction(material, e)
    mu = photo.sum(axis=0) + compton.sum(axis=0)
    safe = np.maximum(mu, 1e-300)
    probs, energies = [], []
    key = tuple(float(x) for x in e)
    for z, w in zip(material.z, material.mass_fractions):
        for line in _LINES:
            sigma = _fluor_line(int(z), line, key)
            if not sigma.any():
                continue
            probs.append(w * material.density_g_cm3 * sigma / safe)
            energies.append(np.full_like(e, xraylib.LineEnergy(int(z), line)))
    t_frac = klein_nishina_transfer_fraction(e)
    probs.append(compton.sum(axis=0) / safe)
    energies.append(e * (1.0 - t_frac))
    prob = np.array(probs)
    e_sec = np.array(energies)
    mu_sec = np.empty_like(e_sec)
    for j in range(e_sec.shape[0]):
        p, c = _mu_interaction(material, e_sec[j])
        mu_sec[j] = p.sum(axis=0) + c.sum(axis=0)
    local = e - (prob * e_sec).sum(axis=0)
    return ScreenInteractions(mu, local, prob, e_sec, mu_sec)


def slab_escape_probability(mu_per_cm, depth_m, thickness_m) -> np.ndarray:
    """Escape probability of a photon emitted isotropically at ``depth_m`` in a slab.

    P = ½ [E₂(μ x) + E₂(μ (t - x))], the uncollided fraction through either face.
    """
    mu = np.asarray(mu_per_cm, dtype=float) * 100.0
    x = np.asarray(depth_m, dtype=float)
    return 0.5 * (scipy.special.expn(2, mu * x) + scipy.special.expn(2, mu * (thickness_m - x)))


_DEPTH_NODES, _DEPTH_WEIGHTS = np.polynomial.legendre.leggauss(64)


def deposited_energy_kev(material: Material, thickness_m: float, energy_kev) -> np.ndarray:
    """Mean energy deposited in a screen per incident photon (keV), escape of secondaries included.

    E_dep = ∫₀ᵗ μ e^{-μx} [E_local + Σ_k p_k E_k (1 - P_esc,k(x))] dx (module docstring),
    integrated by Gauss-Legendre quadrature in the absorbed fraction u = (1 - e^{-μx}).

    Parameters
    ----------
    material : Material
    thickness_m : float
        Screen thickness (m).
    energy_kev : array_like
    """
    e = np.atleast_1d(np.asarray(energy_kev, dtype=float))
    return _deposited(material, float(thickness_m), tuple(e.tolist())).copy()


@lru_cache(maxsize=256)
def _deposited(material: Material, thickness_m: float, energy_key: tuple) -> np.ndarray:
    e = np.asarray(energy_key, dtype=float)
    it = screen_interactions(material, e)
    absorbed = -np.expm1(-it.mu_per_cm * thickness_m * 100.0)
    u = 0.5 * (_DEPTH_NODES + 1.0)
    # depth of the interaction for each quadrature node (n_energy, n_node)
    x = -np.log1p(-u[None, :] * absorbed[:, None]) / np.maximum(it.mu_per_cm, 1e-300)[:, None] / 100.0
    x = np.clip(x, 0.0, thickness_m)
    esc = slab_escape_probability(it.secondary_mu_per_cm[:, :, None], x[None, :, :], thickness_m)
    kept = ((1.0 - esc) @ (0.5 * _DEPTH_WEIGHTS))  # depth-averaged (n_secondary, n_energy)
    per_interaction = it.local_kev + (it.secondary_probability * it.secondary_kev * kept).sum(axis=0)
    return _read_only(absorbed * per_interaction)


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
