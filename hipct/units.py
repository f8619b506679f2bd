"""One pint registry for the whole package, and parsing of quantities at the boundary.

Plans and beamline files write quantities as strings (``"20 m"``, ``"0.2 mm"``,
``"77.3 mA"``). :func:`parse_quantity` turns them into pint Quantities and checks their
dimension, naming the offending field in the error. Physics kernels never see pint:
they receive plain floats in the SI-style unit written in the variable name.
"""

from __future__ import annotations

import math
import re

import pint

from .errors import PlanError

__all__ = ["ureg", "Q_", "parse_quantity", "to_float", "length_m", "time_s"]

def _registry() -> pint.UnitRegistry:
    # The parsed definitions are cached on disk (pint's own cache): start-up 0.3 s -> 0.05 s.
    try:
        return pint.UnitRegistry(cache_folder=":auto:")
    except Exception:  # read-only home, or a cache written by another pint version
        return pint.UnitRegistry()


ureg = _registry()
ureg.define("electron_count = [] = e-")
ureg.define("photon = [] = ph")
Q_ = ureg.Quantity

_DIMENSIONS = {
    "length": "[length]",
    "time": "[time]",
    "current": "[current]",
    "energy": "[mass] * [length] ** 2 / [time] ** 2",
    "density": "[mass] / [length] ** 3",
    "frequency": "1 / [time]",
    "magnetic_field": "[mass] / [current] / [time] ** 2",
    "dose": "[length] ** 2 / [time] ** 2",
    "dimensionless": "",
}

# "um" is accepted for micrometre as in the HOA catalogue ("LuAG:Ce 100um").
_UM = re.compile(r"(?<=[\d\s])um\b")


# an exponent applied to an exponent (``9**9**9``) or a large one would make pint compute a
# number with millions of digits: refused before parsing
_POWER = r"(?:\*\*|\^)"
_CHAINED_POWER = re.compile(_POWER + r"\s*[-+(]*\s*[\d.]+[\s)]*" + _POWER)
_BIG_POWER = re.compile(_POWER + r"\s*[-+(]*\s*(\d{3,}|[2-9]\d)")
_MAX_TEXT = 200


def parse_quantity(value, kind: str, field: str, *, default_unit: str | None = None,
                   positive: bool = True, allow_zero: bool = False, bounds=None):
    """Parse ``value`` into a pint Quantity of the dimension ``kind``.

    Parameters
    ----------
    value : str, number or pint.Quantity
        ``"20 m"``, ``"12 ms"``, a Quantity, or a bare number when ``default_unit`` is given.
    kind : str
        One of ``length, time, current, energy, density, frequency, magnetic_field,
        dimensionless``.
    field : str
        Name of the plan field, used in error messages.
    default_unit : str, optional
        Unit of a bare number. Without it a bare number is an error (units are never guessed).
    positive, allow_zero : bool
        Range checks; a negative value is always an error when ``positive``.
    bounds : tuple, optional
        ``(lo, hi, unit)``: the allowed range (either end ``None``) in ``unit``.

    Returns
    -------
    pint.Quantity

    Raises
    ------
    PlanError
        On syntax errors, unknown units, wrong dimension, non-finite or out-of-range values.
    """
    if isinstance(value, bool) or value is None:
        raise PlanError(f"{field}: expected a {kind} with a unit, got {value!r}")
    if isinstance(value, (int, float)):
        if isinstance(value, int) and abs(value) > 1e300 or not math.isfinite(float(value)):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise PlanError(f"{field}: {shown} is not finite; give a finite "
                            f"{kind.replace('_', ' ')} such as '1 {_EXAMPLE_UNIT[kind]}'")
        if default_unit is None:
            raise PlanError(f"{field}: {value!r} has no unit; write it as e.g. '{value} "
                            f"{_EXAMPLE_UNIT[kind]}'")
        q = Q_(float(value), default_unit)
    elif isinstance(value, pint.Quantity):
        q = value
    elif isinstance(value, str):
        text = _UM.sub("micrometer", value.strip())
        if len(text) > _MAX_TEXT or _CHAINED_POWER.search(text) or _BIG_POWER.search(text):
            raise PlanError(f"{field}: cannot read {value[:40]!r} as {_article(kind)} "
                            f"(e.g. '1.5 {_EXAMPLE_UNIT[kind]}'); write a plain number and unit")
        try:
            q = Q_(text)
        except Exception as exc:  # pint raises several unrelated classes
            raise PlanError(f"{field}: cannot read {value!r} as {_article(kind)} "
                            f"(e.g. '1.5 {_EXAMPLE_UNIT[kind]}'): {exc}") from None
        if not isinstance(q, pint.Quantity):
            q = Q_(float(q), default_unit or "")
        if q.dimensionless and kind != "dimensionless":
            if default_unit is None:
                raise PlanError(f"{field}: {value!r} has no unit; write it as e.g. "
                                f"'{value} {_EXAMPLE_UNIT[kind]}'")
            q = Q_(q.magnitude, default_unit)
    else:
        raise PlanError(f"{field}: expected {_article(kind)} such as '1 {_EXAMPLE_UNIT[kind]}', "
                        f"got {type(value).__name__}")
    if not q.check(_DIMENSIONS[kind]):
        raise PlanError(f"{field}: {value!r} is a {_describe(q)}, expected {_article(kind)} "
                        f"(e.g. '1 {_EXAMPLE_UNIT[kind]}')")
    try:
        mag = float(q.magnitude)
    except (TypeError, ValueError, OverflowError):
        raise PlanError(f"{field}: {value!r} is not a single finite number with a unit") \
            from None
    if not math.isfinite(mag):
        raise PlanError(f"{field}: {value!r} is not finite; give a finite {kind.replace('_', ' ')}")
    if positive and (mag < 0 or (mag == 0 and not allow_zero)):
        bound = ">= 0" if allow_zero else "> 0"
        raise PlanError(f"{field}: {value!r} is out of range; must be {bound}")
    if bounds is not None:
        lo, hi, unit = bounds
        x = float(q.to(unit).magnitude)
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            allowed = (f"{lo:g} to {hi:g} {unit}" if lo is not None and hi is not None
                       else f">= {lo:g} {unit}" if lo is not None else f"<= {hi:g} {unit}")
            raise PlanError(f"{field}: {value!r} is out of range; allowed: {allowed}")
    return q


_EXAMPLE_UNIT = {"dose": "kGy", "length": "mm", "time": "ms", "current": "mA", "energy": "keV",
                 "density": "g/cm^3", "frequency": "1/s", "magnetic_field": "T",
                 "dimensionless": ""}


def _describe(q) -> str:
    for name, dim in _DIMENSIONS.items():
        if dim and q.check(dim):
            return name
    return f"quantity in {q.units:~}" if not q.dimensionless else "plain number"


def _article(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind.replace("_", " ")


def to_float(q, unit: str) -> float:
    """Magnitude of ``q`` in ``unit`` as a plain float (for kernels)."""
    return float(q.to(unit).magnitude)


def length_m(value, field: str, **kw) -> float:
    """Parse a length (see :func:`parse_quantity`) and return it in metres."""
    return to_float(parse_quantity(value, "length", field, **kw), "m")


def time_s(value, field: str, **kw) -> float:
    """Parse a time (see :func:`parse_quantity`) and return it in seconds."""
    return to_float(parse_quantity(value, "time", field, **kw), "s")
