"""Materials: name resolution, attenuation, energy absorption, refractive index.

A :class:`Material` is a set of elements with mass fractions and a density. Names are
resolved, case-insensitively, from (in order): the friendly aliases below, xraylib's NIST
compound list (e.g. ``"Brain (ICRP)"``), element symbols or names, and chemical formulas
(with an explicit density). Conventions:

* μ/ρ: xraylib ``CS_Total`` (photo + Compton + Rayleigh; XCOM-based), mixture rule.
* μen/ρ: NIST Hubbell-Seltzer tables, mixture rule (see :mod:`hipct.physics.nist`).
* δ: high-energy limit δ = r_e λ² n_e / 2π (n_e the electron density), exact to < 0.1 %
  for Z ≤ 30 above 10 keV; β = μ λ / 4π with the *total* μ (the convention in which
  HiP-CT's δ/β = 2000 is quoted).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.constants as sc
import xraylib

from hipct.errors import MaterialError

from .nist import muen_rho_element

__all__ = ["Material", "resolve_material", "mu_rho", "mu_per_cm", "muen_rho", "delta_beta",
           "known_material_names", "ALIASES"]


@dataclass(frozen=True)
class Material:
    """A homogeneous material.

    Attributes
    ----------
    name : str
        Display name.
    z : tuple of int
        Atomic numbers.
    mass_fractions : tuple of float
        Mass fractions (sum to 1).
    density_g_cm3 : float
        Density in g/cm³.
    """

    name: str
    z: tuple
    mass_fractions: tuple
    density_g_cm3: float
    aliases: tuple = field(default=(), compare=False)

    def with_density(self, density_g_cm3: float) -> "Material":
        """Copy with another density (g/cm³)."""
        return Material(self.name, self.z, self.mass_fractions, float(density_g_cm3))


def _formula(formula: str):
    d = xraylib.CompoundParser(formula)
    return tuple(d["Elements"]), tuple(d["massFractions"])


def _nist(name: str):
    d = xraylib.GetCompoundDataNISTByName(name)
    return tuple(d["Elements"]), tuple(d["massFractions"]), float(d["density"])


def _mix(parts):
    """Mass-weighted mixture of (weight, (z, w)) pairs."""
    acc: dict[int, float] = {}
    for weight, (zs, ws) in parts:
        for z, w in zip(zs, ws):
            acc[z] = acc.get(z, 0.0) + weight * w
    zs = tuple(sorted(acc))
    return zs, tuple(acc[z] for z in zs)


# 70 % v/v ethanol = 62.4 % w/w, 0.885 g/cm³ (CRC density tables).
_ETHANOL = _nist("Ethyl Alcohol")[:2]
_WATER = _nist("Water, Liquid")[:2]


def _alias_table() -> dict[str, Material]:
    def m(name, comp, rho, *aliases):
        return Material(name, comp[0], comp[1], rho, aliases)

    table = [
        m("sapphire", _formula("Al2O3"), 3.98, "al2o3", "alumina"),
        m("glassy carbon", _formula("C"), 1.50, "glassy-carbon", "vitreous carbon"),
        # Carbon rods: graphite rods, density not published; 1.8 g/cm³ assumed.
        m("carbon rod", _formula("C"), 1.80, "carbon rods", "carbon"),
        m("sio2", _formula("SiO2"), 2.20, "fused silica", "silica", "quartz glass"),
        m("ethanol 70%", _mix([(0.624, _ETHANOL), (0.376, _WATER)]), 0.885,
          "ethanol70", "ethanol 70 %", "70% ethanol"),
        m("ethanol", _ETHANOL, 0.789, "ethyl alcohol"),
        m("water", _WATER, 1.00, "h2o"),
        # Agar gel is ~1-2 % agar in water (or in the ethanol medium): water within < 1 %.
        m("agar", _WATER, 1.00, "agar gel"),
        # Formalin (4 % formaldehyde): water within < 1 % in μ above 20 keV.
        m("formalin", _mix([(0.04, _formula("CH2O")), (0.96, _WATER)]), 1.01, "formaldehyde 4%"),
        m("brain", _nist("Brain (ICRP)")[:2], 1.03, "brain (icrp)", "brain tissue"),
        m("pet", _nist("Polyethylene Terephthalate (Mylar)")[:2], 1.38, "mylar",
          "polyethylene terephthalate"),
        m("pmma", _nist("Polymethyl Methacralate (Lucite, Perspex)")[:2], 1.19, "perspex",
          "lucite", "acrylic"),
        m("air", _nist("Air, Dry (near sea level)")[:2], 0.001205, "dry air"),
        m("silver", _formula("Ag"), 10.49, "ag"),
        m("aluminium", _formula("Al"), 2.70, "al", "aluminum"),
        m("copper", _formula("Cu"), 8.96, "cu"),
        m("molybdenum", _formula("Mo"), 10.22, "mo"),
        m("gagg", _formula("Gd3Al2Ga3O12"), 6.63, "gagg:ce"),
        m("luag", _formula("Lu3Al5O12"), 6.73, "luag:ce"),
        m("ggg", _formula("Gd3Ga5O12"), 7.08, "ggg:eu"),
        m("lso", _formula("Lu2SiO5"), 7.40, "lso:ce"),
        m("lyso", _formula("Lu1.8Y0.2SiO5"), 7.10, "lyso:ce", "lyso:ce"),
        m("gadox", _formula("Gd2O2S"), 7.44, "gos", "gd2o2s"),
        m("csi", _formula("CsI"), 4.51, "csi:tl"),
        m("diamond", _formula("C"), 3.52),
        m("beryllium", _formula("Be"), 1.85, "be"),
    ]
    out = {}
    for mat in table:
        for key in (mat.name, *mat.aliases):
            out[key.lower()] = mat
    return out


ALIASES = _alias_table()


@lru_cache(maxsize=None)
def _nist_names() -> dict[str, str]:
    return {n.lower(): n for n in xraylib.GetCompoundDataNISTList()}


def known_material_names() -> list[str]:
    """Every name :func:`resolve_material` accepts without a density (aliases, NIST, elements)."""
    elements = [xraylib.AtomicNumberToSymbol(z) for z in range(1, 93)]
    return sorted(set(ALIASES) | set(_nist_names().values()) | set(elements))


def resolve_material(name: str, density_g_cm3: float | None = None, *,
                     field: str = "material") -> Material:
    """Resolve a material name (case-insensitive) into a :class:`Material`.

    Parameters
    ----------
    name : str
        Alias (``"sapphire"``, ``"ethanol 70%"``, ``"brain"``...), NIST compound name
        (``"Polyethylene Terephthalate (Mylar)"``), element symbol (``"Ag"``) or chemical
        formula (``"Gd2O2S"``, which needs ``density_g_cm3``).
    density_g_cm3 : float, optional
        Overrides the tabulated density.
    field : str
        Plan field named in errors.

    Raises
    ------
    MaterialError
        Unknown name (with close matches), or a formula given without a density.
    """
    key = " ".join(str(name).strip().lower().split())
    mat = ALIASES.get(key)
    if mat is None and key in _nist_names():
        zs, ws, rho = _nist(_nist_names()[key])
        mat = Material(_nist_names()[key], zs, ws, rho)
    if mat is None:
        z = _element_z(name.strip())
        if z:
            rho = xraylib.ElementDensity(z)
            mat = Material(xraylib.AtomicNumberToSymbol(z), (z,), (1.0,), rho)
    if mat is None:
        try:
            zs, ws = _formula(name.strip())
        except ValueError:
            close = difflib.get_close_matches(key, [k.lower() for k in known_material_names()],
                                              n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else (
                "; use an alias (sapphire, glassy carbon, carbon rod, SiO2, ethanol 70%, brain, "
                "PET, agar, formalin, water), a NIST compound name, an element or a formula "
                "with a density")
            raise MaterialError(f"{field}: unknown material {name!r}{hint}") from None
        if density_g_cm3 is None:
            raise MaterialError(f"{field}: {name!r} is read as a chemical formula; give its "
                                f"density, e.g. {{material: {name}, thickness: 1 mm, "
                                f"density: 2.5 g/cm^3}}")
        mat = Material(name.strip(), zs, ws, float(density_g_cm3))
    if density_g_cm3 is not None:
        if not density_g_cm3 > 0:
            raise MaterialError(f"{field}: density of {name!r} must be > 0, got {density_g_cm3}")
        mat = mat.with_density(density_g_cm3)
    return mat


def _element_z(text: str) -> int:
    try:
        z = xraylib.SymbolToAtomicNumber(text[:1].upper() + text[1:].lower())
        return z if 0 < z <= 92 else 0
    except ValueError:
        return 0


@lru_cache(maxsize=512)
def _cs_total_element(z: int, grid_key: tuple) -> np.ndarray:
    e = np.asarray(grid_key, dtype=float)
    return np.array([xraylib.CS_Total(z, float(x)) for x in e])


def mu_rho(material: Material, energy_kev) -> np.ndarray:
    """Mass attenuation coefficient μ/ρ (cm²/g) on an energy grid (keV); xraylib CS_Total."""
    e = np.atleast_1d(np.asarray(energy_kev, dtype=float))
    key = tuple(e.tolist())
    return sum(w * _cs_total_element(z, key) for z, w in zip(material.z, material.mass_fractions))


def mu_per_cm(material: Material, energy_kev) -> np.ndarray:
    """Linear attenuation coefficient μ (1/cm)."""
    return mu_rho(material, energy_kev) * material.density_g_cm3


def muen_rho(material: Material, energy_kev) -> np.ndarray:
    """Mass energy-absorption coefficient μen/ρ (cm²/g); NIST tables, mixture rule."""
    e = np.atleast_1d(np.asarray(energy_kev, dtype=float))
    return sum(w * muen_rho_element(z, e) for z, w in zip(material.z, material.mass_fractions))


def electron_density_per_cm3(material: Material) -> float:
    """Electron density n_e (1/cm³) = ρ N_A Σ w_i Z_i / A_i."""
    za = sum(w * z / xraylib.AtomicWeight(z) for z, w in zip(material.z, material.mass_fractions))
    return material.density_g_cm3 * sc.N_A * za


def delta_beta(material: Material, energy_kev):
    """Refractive index decrement δ and absorption index β on an energy grid.

    δ = r_e λ² n_e / (2π) (high-energy limit of the atomic form factor, f1 → Z);
    β = μ λ / (4π) with the total linear attenuation μ (James 1962; Paganin 2006 §1.3).

    Returns
    -------
    delta, beta : ndarray
    """
    e = np.atleast_1d(np.asarray(energy_kev, dtype=float))
    lam_m = sc.h * sc.c / (e * 1e3 * sc.e)
    r_e = sc.physical_constants["classical electron radius"][0]
    n_e_m3 = electron_density_per_cm3(material) * 1e6
    delta = r_e * lam_m ** 2 * n_e_m3 / (2 * np.pi)
    beta = mu_per_cm(material, e) * 100.0 * lam_m / (4 * np.pi)
    return delta, beta
