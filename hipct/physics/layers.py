"""Layers of matter in the beam (filters, container, medium, tissue) and their transmission.

A layer is a material and a thickness along the beam. Filters written as stacks of rods
(``"SiO2 40mm rods 10x4mm"``: ten 4 mm rods, 40 mm nominal) are not slabs. The rods lie
across the beam, one behind the other, their axes horizontal, and further rods are stacked
above and below with a period of one diameter d. A ray at height y from the rods' axes
crosses n = L/d rods along a chord of 2·sqrt(r² - y²) each (r = d/2, path L·sqrt(1 - (y/r)²));
a beam of height h centred on the axes transmits the average over its height
(:func:`rod_stack_transmission`)

    T(E) = (1/h) ∫_{-h/2}^{h/2} exp(-μ(E) L sqrt(1 - (y'/r)²)) dy',  y' = y folded into one period,

which is not Beer-Lambert on the mean chord π d/4: for h ≪ d the path is ≈ L, for h ≥ d the
thin paths between rods dominate the high-energy transmission. The beam height at the
filters and the rod diameter when the text does not give it are beamline defaults
(``rod_filters`` in the beamline YAML); a mapping may set them per layer
(``{material, thickness, rods: true, rod_diameter, beam_height}``) or force a slab of
``fill_factor`` × the nominal length instead.

Transmission: Beer-Lambert, T(E) = exp(-Σ μ_i(E) t_i), with a rod stack's optical depth
-ln T(E) of its beam-averaged transmission.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from hipct.errors import PlanError
from hipct.fields import number
from hipct.units import parse_quantity, to_float

from .materials import Material, mu_per_cm, resolve_material

MAX_THICKNESS_M = 10.0   # one layer or filter; thicker is a typing mistake, not a sample

__all__ = ["Layer", "parse_layer", "transmission", "attenuation_matrix", "rod_stack_transmission",
           "rod_stack_mean_path_m", "ROD_FILL_FACTOR", "ROD_DIAMETER_M", "ROD_BEAM_HEIGHT_M"]

ROD_FILL_FACTOR = math.pi / 4  # mean chord of a cylinder / diameter (a slab of equal areal mass)
# Used where neither the layer nor the beamline says (both unpublished): 4 mm is the diameter
# most HOA rod records state ("SiO2 40mm rods 10x4mm"); 2.2 mm is a BM05 z-step, the height
# of a field of view the slits shape the beam to.
ROD_DIAMETER_M = 4e-3
ROD_BEAM_HEIGHT_M = 2.2e-3

_PHI, _PHI_W = np.polynomial.legendre.leggauss(64)


def _rod_integral(g, b_m: float, r_m: float):
    """∫₀ᵇ g(sqrt(1 - (y/r)²)) dy for 0 ≤ b ≤ r, with y = r sin φ (smooth in φ)."""
    top = math.asin(min(b_m / r_m, 1.0))
    phi = 0.5 * top * (_PHI + 1.0)
    c = np.cos(phi)
    return (g(c) * (r_m * c)) @ (0.5 * top * _PHI_W)


def _rod_average(g, diameter_m: float, beam_height_m: float):
    """Average of g(path fraction) over a beam of height h centred on a rod stack."""
    r, d = diameter_m / 2.0, diameter_m
    half = beam_height_m / 2.0
    full = 2.0 * _rod_integral(g, r, r)           # ∫ over one period
    k, rest = divmod(half, d)
    if rest <= r:
        part = _rod_integral(g, rest, r)
    else:
        part = full - _rod_integral(g, d - rest, r)
    return (k * full + part) / half


def rod_stack_transmission(mu_per_cm, nominal_m: float, diameter_m: float,
                           beam_height_m: float) -> np.ndarray:
    """Beam-averaged transmission of a stack of rods (module docstring).

    Parameters
    ----------
    mu_per_cm : array_like
        Linear attenuation of the rod material on an energy grid (1/cm).
    nominal_m : float
        Nominal length: number of rods × diameter, the path through the rods' axes (m).
    diameter_m, beam_height_m : float
        Rod diameter and height of the beam at the rods (m).
    """
    mul = np.atleast_1d(np.asarray(mu_per_cm, dtype=float)) * nominal_m * 100.0
    return _rod_average(lambda c: np.exp(-mul[:, None] * c[None, :]), diameter_m, beam_height_m)


def rod_stack_mean_path_m(nominal_m: float, diameter_m: float, beam_height_m: float) -> float:
    """Mean path through the rods over the beam's height (same areal mass as a slab of it)."""
    return float(nominal_m * _rod_average(lambda c: c, diameter_m, beam_height_m))

_THICKNESS = re.compile(
    r"^(?P<material>.+?)\s+(?P<value>[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*(?P<unit>[a-zA-Zµμ]+)"
    r"(?P<rest>.*)$")
_RODS = re.compile(r"\brods?\b(?:\s+(?P<n>\d+)\s*[x×]\s*(?P<d>\d*\.?\d+)\s*(?P<du>[a-zA-Zµμ]+))?",
                   re.IGNORECASE)


@dataclass(frozen=True)
class Layer:
    """Material of a given effective thickness along the beam.

    Attributes
    ----------
    material : Material
    thickness_m : float
        Effective thickness used in Beer-Lambert (m).
    nominal_m : float
        Thickness as written (m); differs from ``thickness_m`` for rods.
    label : str
        Text as written by the user (for reports and HOA export).
    rods : bool
        True for a stack of rods.
    rod_diameter_m, beam_height_m : float or None
        For a rod stack modelled from its geometry: the rod diameter and the beam height at
        the rods (``thickness_m`` is then the mean path over the beam). None for a slab.
    """

    material: Material
    thickness_m: float
    nominal_m: float
    label: str
    rods: bool = False
    rod_diameter_m: float | None = None
    beam_height_m: float | None = None

    def mu_t(self, energy_kev) -> np.ndarray:
        """Optical depth on an energy grid: μ·t, or -ln of a rod stack's mean transmission."""
        mu = mu_per_cm(self.material, energy_kev)
        if self.rod_diameter_m is not None:
            t = rod_stack_transmission(mu, self.nominal_m, self.rod_diameter_m,
                                       self.beam_height_m)
            return -np.log(np.maximum(t, 1e-300))
        return mu * self.thickness_m * 100.0


def _rod_layer(mat, nominal, label, diameter_m, beam_height_m) -> Layer:
    path = rod_stack_mean_path_m(nominal, diameter_m, beam_height_m)
    return Layer(mat, path, nominal, label, True, diameter_m, beam_height_m)


def parse_layer(spec, field: str, rod_defaults: tuple | None = None) -> Layer:
    """Parse ``"MATERIAL THICKNESS [rods [NxD]]"`` or a mapping into a :class:`Layer`.

    Accepts the Human Organ Atlas spellings (``"Silver 0.1mm"``, ``"SiO2 40mm rods 10x4mm"``,
    ``"SiO2 20mm block"``, ``"Carbon rod 64mm"``) and mappings
    ``{material, thickness, density, rods, rod_diameter, beam_height, fill_factor}``.
    ``rod_defaults`` is the beamline's ``(rod diameter, beam height at the filters)`` in metres
    (default: ``ROD_DIAMETER_M``, ``ROD_BEAM_HEIGHT_M``).

    Raises
    ------
    PlanError
        Missing or non-positive thickness, a thickness that is not a length, unknown material.
    """
    rod_d, beam_h = rod_defaults or (ROD_DIAMETER_M, ROD_BEAM_HEIGHT_M)
    if isinstance(spec, dict):
        allowed = ("material", "thickness", "density", "rods", "rod_diameter", "beam_height",
                   "fill_factor")
        unknown = set(spec) - set(allowed)
        if unknown:
            raise PlanError(f"{field}: unknown key(s) {sorted(unknown)}; allowed: "
                            f"{', '.join(allowed)}")
        if "material" not in spec:
            raise PlanError(f"{field}: missing 'material'")
        if "thickness" not in spec:
            raise PlanError(f"{field}: missing 'thickness' for {spec['material']!r}")
        name = str(spec["material"])
        thick = parse_quantity(spec["thickness"], "length", f"{field}.thickness",
                               bounds=(None, MAX_THICKNESS_M, "m"))
        density = None
        if spec.get("density") is not None:
            density = to_float(parse_quantity(spec["density"], "density", f"{field}.density",
                                              bounds=(1e-6, 30, "g/cm^3")), "g/cm^3")
        rods = spec.get("rods", False)
        if not isinstance(rods, bool):
            raise PlanError(f"{field}.rods: expected true or false, got {rods!r}")
        mat = resolve_material(name, density, field=field)
        nominal = to_float(thick, "m")
        label = f"{name} {thick:~P}"
        if rods and spec.get("fill_factor") is None:
            if spec.get("rod_diameter") is not None:
                rod_d = to_float(parse_quantity(spec["rod_diameter"], "length",
                                                f"{field}.rod_diameter",
                                                bounds=(None, 1, "m")), "m")
            if spec.get("beam_height") is not None:
                beam_h = to_float(parse_quantity(spec["beam_height"], "length",
                                                 f"{field}.beam_height",
                                                 bounds=(None, 1, "m")), "m")
            if not (rod_d > 0 and beam_h > 0):
                raise PlanError(f"{field}: rod_diameter and beam_height must be > 0")
            return _rod_layer(mat, nominal, label, rod_d, beam_h)
        fill = number(spec.get("fill_factor", 1.0), f"{field}.fill_factor", 0, 1, open_lo=True)
        return Layer(mat, nominal * fill, nominal, label, rods)
    if not isinstance(spec, str):
        raise PlanError(f"{field}: expected 'MATERIAL THICKNESS' (e.g. 'Ag 0.2 mm') or a mapping, "
                        f"got {spec!r}")
    text = " ".join(spec.split())
    if len(text) > 200:
        raise PlanError(f"{field}: {text[:40]!r}... is too long for 'MATERIAL THICKNESS'")
    # HOA writes unrecognised hardware as "UNKNOWN sapphire 5mm": keep the material.
    text = re.sub(r"^unknown\s+", "", text, flags=re.IGNORECASE)
    rod_match = _RODS.search(text)
    rods = rod_match is not None
    core = text
    if rods:
        core = (text[:rod_match.start()] + text[rod_match.end():]).strip()
    core = re.sub(r"\s+block$", "", core, flags=re.IGNORECASE)
    m = _THICKNESS.match(core)
    if m is None:
        raise PlanError(f"{field}: {spec!r} has no thickness; write 'MATERIAL THICKNESS', "
                        f"e.g. 'sapphire 10 mm'")
    name = m.group("material").strip()
    if m.group("rest").strip():
        raise PlanError(f"{field}: cannot read {spec!r}; expected 'MATERIAL THICKNESS "
                        f"[rods NxD]', e.g. 'SiO2 40mm rods 10x4mm'")
    thick = parse_quantity(f"{m.group('value')} {m.group('unit')}", "length", field,
                           bounds=(None, MAX_THICKNESS_M, "m"))
    if rods and name.lower() in ("carbon", "carbon rod", "carbon rods"):
        name = "carbon rod"
    mat = resolve_material(name, field=field)
    nominal = to_float(thick, "m")
    if rods and rod_match.group("n"):
        n = int(rod_match.group("n"))
        d = to_float(parse_quantity(f"{rod_match.group('d')} {rod_match.group('du')}", "length",
                                    field), "m")
        if n <= 0 or abs(n * d - nominal) > 0.02 * nominal:
            raise PlanError(f"{field}: {spec!r}: {n} rods of {d * 1e3:g} mm do not make "
                            f"{nominal * 1e3:g} mm")
        rod_d = d
    if rods:
        return _rod_layer(mat, nominal, spec, rod_d, beam_h)
    return Layer(mat, nominal, nominal, spec, False)


def attenuation_matrix(layers, energy_kev) -> np.ndarray:
    """(n_layer, n_energy) matrix of optical depths μ_i(E)·t_i."""
    e = np.atleast_1d(np.asarray(energy_kev, dtype=float))
    if not layers:
        return np.zeros((0, e.size))
    return np.stack([layer.mu_t(e) for layer in layers])


def transmission(layers, energy_kev) -> np.ndarray:
    """Beer-Lambert transmission exp(-Σ μ_i t_i) of a stack of layers on an energy grid."""
    return np.exp(-attenuation_matrix(layers, energy_kev).sum(axis=0))
