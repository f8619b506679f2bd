"""Layers of matter in the beam (filters, container, medium, tissue) and their transmission.

A layer is a material and a thickness along the beam. Filters written as stacks of rods
(``"SiO2 40mm rods 10x4mm"``: ten 4 mm rods, 40 mm nominal) are not slabs: a beam crossing
a cylinder of diameter d at a uniformly distributed lateral offset sees a mean chord of
π d / 4. Their effective thickness is therefore ``ROD_FILL_FACTOR`` = π/4 times the nominal
length (same areal mass as the rods; Beer-Lambert on the mean chord). The factor can be
changed per layer (``{material, thickness, rods: true, fill_factor: ...}``).

Transmission: Beer-Lambert, T(E) = exp(-Σ μ_i(E) t_i).
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

__all__ = ["Layer", "parse_layer", "transmission", "attenuation_matrix", "ROD_FILL_FACTOR"]

ROD_FILL_FACTOR = math.pi / 4

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
    """

    material: Material
    thickness_m: float
    nominal_m: float
    label: str
    rods: bool = False

    def mu_t(self, energy_kev) -> np.ndarray:
        """Optical depth μ·t on an energy grid."""
        return mu_per_cm(self.material, energy_kev) * self.thickness_m * 100.0


def parse_layer(spec, field: str) -> Layer:
    """Parse ``"MATERIAL THICKNESS [rods [NxD]]"`` or a mapping into a :class:`Layer`.

    Accepts the Human Organ Atlas spellings (``"Silver 0.1mm"``, ``"SiO2 40mm rods 10x4mm"``,
    ``"SiO2 20mm block"``, ``"Carbon rod 64mm"``) and mappings
    ``{material, thickness, density, rods, fill_factor}``.

    Raises
    ------
    PlanError
        Missing or non-positive thickness, a thickness that is not a length, unknown material.
    """
    if isinstance(spec, dict):
        unknown = set(spec) - {"material", "thickness", "density", "rods", "fill_factor"}
        if unknown:
            raise PlanError(f"{field}: unknown key(s) {sorted(unknown)}; allowed: material, "
                            f"thickness, density, rods, fill_factor")
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
        fill = number(spec.get("fill_factor", ROD_FILL_FACTOR if rods else 1.0),
                      f"{field}.fill_factor", 0, 1, open_lo=True)
        mat = resolve_material(name, density, field=field)
        nominal = to_float(thick, "m")
        return Layer(mat, nominal * fill, nominal, f"{name} {thick:~P}", rods)
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
    return Layer(mat, nominal * (ROD_FILL_FACTOR if rods else 1.0), nominal, spec, rods)


def attenuation_matrix(layers, energy_kev) -> np.ndarray:
    """(n_layer, n_energy) matrix of optical depths μ_i(E)·t_i."""
    e = np.atleast_1d(np.asarray(energy_kev, dtype=float))
    if not layers:
        return np.zeros((0, e.size))
    return np.stack([layer.mu_t(e) for layer in layers])


def transmission(layers, energy_kev) -> np.ndarray:
    """Beer-Lambert transmission exp(-Σ μ_i t_i) of a stack of layers on an energy grid."""
    return np.exp(-attenuation_matrix(layers, energy_kev).sum(axis=0))
