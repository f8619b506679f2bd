"""NIST XAAMDI tables (Hubbell & Seltzer 2004) for elements Z = 1-92.

Used for the mass energy-absorption coefficient μen/ρ, where xraylib's ``CS_Energy`` is
known to be low below ~80 keV (water: -30 % at 20 keV; xraylib issues #176, #255).
Compounds follow the mixture rule μen/ρ = Σ w_i (μen/ρ)_i (Hubbell & Seltzer 2004, §3),
interpolated log-log between tabulated energies within each edge segment.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

__all__ = ["muen_rho_element", "mu_rho_element_nist"]


@lru_cache(maxsize=None)
def _table() -> dict[int, np.ndarray]:
    text = resources.files("hipct.physics").joinpath("data/nist_xaamdi_elements.csv").read_text()
    rows = np.array([list(map(float, ln.split(","))) for ln in text.splitlines()
                     if ln and not ln.startswith(("#", "Z"))])
    out = {}
    for z in np.unique(rows[:, 0]).astype(int):
        r = rows[rows[:, 0] == z, 1:]
        e_kev = r[:, 0] * 1e3
        # Repeated energies mark absorption edges: shift the lower copy down by a hair so the
        # abscissa is strictly increasing and interpolation never straddles an edge.
        dup = np.flatnonzero(np.diff(e_kev) == 0)
        e_kev[dup] *= 1 - 1e-9
        out[int(z)] = np.column_stack([e_kev, r[:, 1], r[:, 2]])
    return out


def _loglog(z: int, energy_kev: np.ndarray, column: int) -> np.ndarray:
    try:
        t = _table()[z]
    except KeyError:
        raise ValueError(f"NIST tables cover Z = 1-92, not Z = {z}") from None
    e = np.asarray(energy_kev, dtype=float)
    return np.exp(np.interp(np.log(e), np.log(t[:, 0]), np.log(t[:, column])))


def muen_rho_element(z: int, energy_kev) -> np.ndarray:
    """Mass energy-absorption coefficient μen/ρ (cm²/g) of element ``z`` (NIST, log-log)."""
    return _loglog(z, energy_kev, 2)


def mu_rho_element_nist(z: int, energy_kev) -> np.ndarray:
    """Mass attenuation coefficient μ/ρ (cm²/g, coherent included) of element ``z`` (NIST)."""
    return _loglog(z, energy_kev, 1)
