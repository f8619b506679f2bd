"""Validation of input fields shared by every entry point (plan, beamline, sweep, sidecar, CLI).

Each helper raises a one-line :class:`~hipct.errors.PlanError` naming the field, the value
and what is allowed: :func:`number` (finite, within bounds), :func:`whole` (an integer
written as one: ``2.7`` and ``.nan`` are refused), :func:`check_keys` (unknown keys, with
the closest valid name), :func:`read_text` (a regular UTF-8 file of bounded size) and
:func:`load_yaml` (safe YAML with duplicate keys refused and bounded nesting).

The input files' schemas (pydantic models) are built from the field types here:
:func:`Quantity` (through :func:`hipct.units.parse_quantity`), :func:`Number`, :func:`Whole`,
:func:`Choice`, :func:`Text` and :func:`Items` validate with the helpers above, so each gives
the same one-line message in every file; :class:`Schema` refuses unknown keys with the closest
valid name; :func:`validate` turns the first problem into one :class:`PlanError` line naming
the field's path; :func:`field_rows` lists the fields for the reference page.
"""

from __future__ import annotations

import difflib
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, get_args, get_origin

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from .errors import PlanError

__all__ = ["MAX_FILE_BYTES", "MAX_DEPTH", "number", "whole", "check_keys", "read_text",
           "load_yaml", "read_yaml", "FieldSpec", "Quantity", "Number", "Whole", "Choice", "Text", "Items",
           "Schema", "checker", "validate", "field_rows"]

MAX_FILE_BYTES = 4 * 1024 * 1024     # plans, beamline and sweep files, sidecars
MAX_DEPTH = 32                       # nesting of YAML mappings and lists


def _bounds(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"from {lo:g} to {hi:g}"
    return f">= {lo:g}" if lo is not None else f"<= {hi:g}"


def number(value, field: str, lo: float | None = None, hi: float | None = None, *,
           error=PlanError, open_lo: bool = False) -> float:
    """A finite float within ``[lo, hi]`` (``(lo, hi]`` with ``open_lo``) from a YAML/CLI value.

    Numbers and numeric strings are accepted; booleans, ``None``, NaN and infinities are not.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise error(f"{field}: expected a number, got {value!r}")
    try:
        x = float(value)
    except (ValueError, OverflowError):
        raise error(f"{field}: expected a number, got {value!r}") from None
    if not math.isfinite(x):
        raise error(f"{field}: {value!r} is not a finite number")
    if (lo is not None and (x < lo or (open_lo and x == lo))) or (hi is not None and x > hi):
        allowed = _bounds(lo, hi) if not open_lo else f"> {lo:g}" + (
            f" and <= {hi:g}" if hi is not None else "")
        raise error(f"{field}: {value!r} is out of range; allowed: {allowed}")
    return x


def whole(value, field: str, lo: int | None = 1, hi: int | None = None, *,
          error=PlanError) -> int:
    """An integer within ``[lo, hi]``; ``2.7``, ``'3'``, booleans and non-finite values refused
    (``3.0`` is accepted as 3)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{field}: expected a whole number, got {value!r}")
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        raise error(f"{field}: expected a whole number, got {value!r}")
    n = int(value)
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise error(f"{field}: {value!r} is out of range; allowed: {_bounds(lo, hi)}")
    return n


def check_keys(mapping, allowed, where: str, *, error=PlanError) -> dict:
    """Refuse a non-mapping or unknown keys, suggesting the closest valid key."""
    if not isinstance(mapping, dict):
        raise error(f"{where}: expected a mapping, got {type(mapping).__name__}")
    allowed = list(allowed)
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
            prefix = f"{where}." if where else ""
            raise error(f"{prefix}{key}: unknown key; {hint}")
    return mapping


def read_text(path, what: str, *, error=PlanError, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes`` (devices, FIFOs and folders
    are refused before they are opened)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise error(f"{what}: cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what}: {path} is not a regular file")
    if st.st_size > max_bytes:
        raise error(f"{what}: {path} is {st.st_size / 1e6:.3g} MB; at most "
                    f"{max_bytes / 1e6:.3g} MB allowed")
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{what}: cannot read {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what}: {path} is not UTF-8 text (byte {exc.start})") from None


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys and deep nesting."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, f"a mapping key must be text or a number, got {key!r}",
                    key_node.start_mark) from None
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _depth(node, limit: int, max_nodes: int = 200_000) -> int:
    """Nesting depth of a YAML node graph (aliases followed; an oversized graph counts as
    too deep, so alias bombs stop here)."""
    stack = [(node, 1)]
    deepest = seen = 0
    while stack:
        n, d = stack.pop()
        deepest = max(deepest, d)
        seen += 1
        if deepest > limit or seen > max_nodes:
            return limit + 1
        if isinstance(n, yaml.SequenceNode):
            stack.extend((c, d + 1) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            stack.extend((v, d + 1) for _, v in n.value)
    return deepest


def load_yaml(text: str, what: str, path=None, *, error=PlanError):
    """Parse YAML text safely: syntax errors, duplicate keys and nesting deeper than
    :data:`MAX_DEPTH` become one-line errors naming ``what`` (the field), the file ``path``
    and the line."""
    where = f"{what}: {path}" if path is not None else what
    try:
        loader = _StrictLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _depth(node, MAX_DEPTH) > MAX_DEPTH:
                raise error(f"{where}: nested deeper than {MAX_DEPTH} levels or more than "
                            "200000 items (aliases included)")
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        syntax = isinstance(exc, (yaml.scanner.ScannerError, yaml.parser.ParserError))
        kind = "YAML syntax error" if syntax else "YAML error"
        inside = f" in {path}" if path is not None else ""
        raise error(f"{what}: {kind}{inside}{at}: {problem}") from None
    except RecursionError:
        raise error(f"{where}: nested too deeply") from None


def read_yaml(path, what: str, *, error=PlanError):
    """Read a YAML file (regular, UTF-8, bounded size; duplicate keys refused); every problem
    is a one-line :class:`PlanError` naming the file and, for syntax, the line."""
    text = read_text(path, what, error=error)
    return load_yaml(text, what, path, error=error)
# --- typed schemas -------------------------------------------------------------------------
# The input schemas (plan, beamline, sweep, simulate options, reconstruction parameters) are
# pydantic models built from the annotated types below. Each type validates with the helpers above (or hipct.units.parse_quantity), so a bad
# value gives the same one-line message wherever it is written, and carries a FieldSpec that
# the reference page and the plan template read.

@dataclass(frozen=True)
class FieldSpec:
    """What a schema field accepts, for the reference page: kind, unit and allowed range."""

    kind: str
    unit: str = ""
    allowed: str = ""


class _Located(PlanError):
    """A problem found by a model validator: ``key`` (relative to the model) and a message."""

    def __init__(self, key, text):
        super().__init__(f"{key}: {text}" if key else text)
        self.key, self.text = key, text


def checker(parse):
    """A pydantic before-validator from ``parse(value, field_name)``, which raises a
    :class:`PlanError` starting with ``field_name``; ``None`` (not given) passes through."""
    def run(value, info):
        return None if value is None else parse(value, info.field_name)
    return BeforeValidator(run)


def _n(x) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e7 else f"{x:g}"


def _allowed(lo, hi, unit="", *, open_lo=False) -> str:
    if lo is None and hi is None:
        return ""
    u = f" {unit}" if unit else ""
    if open_lo:
        return f"> {_n(lo)}" + (f" and <= {_n(hi)}" if hi is not None else "") + u
    if lo is not None and hi is not None:
        return f"from {_n(lo)} to {_n(hi)}{u}"
    return (f">= {_n(lo)}" if lo is not None else f"<= {_n(hi)}") + u


def Quantity(kind: str, unit: str, lo: float | None = None, hi: float | None = None, *,
             allow_zero: bool = False, default_unit: str | None = None):
    """A schema type: a quantity with a unit (``'20 m'``), stored as a float in ``unit``.

    Parsed by :func:`hipct.units.parse_quantity` (dimension, finiteness, sign, bounds in
    ``unit``); ``None`` stands for "not given".
    """
    bounds = None if lo is None and hi is None else (lo, hi, unit)

    def parse(value, name):
        from .units import parse_quantity, to_float   # pint loads on first use, not at import

        return to_float(parse_quantity(value, kind, name, default_unit=default_unit,
                                       allow_zero=allow_zero, bounds=bounds), unit)
    if lo is None and not allow_zero:
        allowed = _allowed(0, hi, unit, open_lo=True) if hi is not None else "> 0"
    else:
        allowed = _allowed(0 if lo is None else lo, hi, unit) or ">= 0"
    shown = "angle" if kind == "dimensionless" and unit == "degree" else kind.replace("_", " ")
    return Annotated[float, checker(parse), FieldSpec(shown, unit, allowed)]


def Number(lo: float | None = None, hi: float | None = None, *, open_lo: bool = False,
           unit: str = ""):
    """A schema type: a finite plain number within bounds (see :func:`number`); ``unit``
    documents the unit of a bare float of the Python API (``energy_kev``)."""
    return Annotated[float, checker(
        lambda v, name: number(v, name, lo, hi, open_lo=open_lo)),
        FieldSpec("number", unit, _allowed(lo, hi, unit, open_lo=open_lo))]


def Whole(lo: int | None = 1, hi: int | None = None):
    """A schema type: an integer within bounds (see :func:`whole`)."""
    return Annotated[int, checker(lambda v, name: whole(v, name, lo, hi)),
                     FieldSpec("integer", "", _allowed(lo, hi))]


def Choice(*options: str):
    """A schema type: one of ``options`` (case-insensitive), stored lower-case."""
    listed = (", ".join(options[:-1]) + " or " + options[-1]) if len(options) > 1 else options[0]

    def parse(value, name):
        text = str(value).lower()
        if isinstance(value, bool) or text not in options:
            raise PlanError(f"{name}: {value!r} is not allowed; use {listed}")
        return text
    return Annotated[str, checker(parse),
                     FieldSpec("choice", "", " | ".join(options))]


def Text(max_chars: int = 200):
    """A schema type: free text (a number is read as its text) of bounded length."""
    def parse(value, name):
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) \
                or len(str(value)) > max_chars:
            raise PlanError(f"{name}: expected text of at most {max_chars} characters, got "
                            f"{str(value)[:40]!r}")
        return str(value)
    return Annotated[str, checker(parse),
                     FieldSpec("text", "", f"at most {max_chars} characters")]


def Items(what: str, example: str, *, none_is_empty: bool = True):
    """A schema type: a list kept as written (its entries are parsed by the caller, e.g.
    :func:`hipct.physics.layers.parse_layer`); ``None`` (``filters:`` left empty) is an empty
    list, or stays ``None`` without ``none_is_empty``."""
    def parse(value, info):
        if value is None:
            return [] if none_is_empty else None
        if not isinstance(value, list):
            raise PlanError(f"{info.field_name}: expected a list, e.g. {example}")
        return list(value)
    return Annotated[list, BeforeValidator(parse), FieldSpec("list", "", what)]


class Schema(BaseModel):
    """Base of the file schemas: immutable, unknown keys refused with the closest valid name.

    A field's ``description`` says what it means; ``json_schema_extra`` may add ``example``
    (the value the plan template shows) and ``default_text`` (how a default that depends on
    other fields is found).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              arbitrary_types_allowed=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data):
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise _Located(None, f"expected a mapping, got {type(data).__name__}")
        allowed = [f.alias or name for name, f in cls.model_fields.items()]
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
                raise _Located(key, f"unknown key; {hint}")
        return data


_EXPECTED = {"dict_type": "a mapping", "list_type": "a list", "tuple_type": "a list",
             "string_type": "text", "bool_type": "true or false", "bool_parsing": "true or false",
             "int_type": "a whole number", "float_type": "a number"}


def _field_at(model, loc):
    """The FieldInfo at ``loc`` (keys, list indices and mapping names) inside ``model``."""
    info = None
    for part in loc:
        if model is None:
            return None
        hit = next((f for k, f in model.model_fields.items() if (f.alias or k) == part), None)
        if hit is None:
            continue                      # a list index or a NAME of a mapping of models
        info = hit
        models = _nested_model(hit.annotation)
        model = models[1] if models else None
    return info


def _same_name(a: str, b: str) -> bool:
    """A field's name and its key in the file (``from_``/``from``, ``z_step``/``--z-step``)."""
    return a.strip("-_").replace("_", "-") == b.strip("-_").replace("_", "-")


def _path(loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def validate(model: type[BaseModel], data, where: str = "", *, at: str = "",
             error=PlanError):
    """Validate ``data`` against ``model``; the first problem becomes one ``error`` line.

    ``where`` labels the message (``"beamline BM18"`` gives ``"beamline BM18:
    source.field: ..."``); ``at`` is the path of ``data`` in its file (``at="detector"``
    gives ``"detector.binning: ..."``).
    """
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith(
            "function-")))
        cause = (first.get("ctx") or {}).get("error")
        if isinstance(cause, _Located):
            loc = loc + ((cause.key,) if cause.key is not None else ())
            text = cause.text
        elif isinstance(cause, PlanError):
            text = str(cause)
            names = [p for p in loc if isinstance(p, str)]
            head = text.split(": ", 1)[0]
            if names and _same_name(head, names[-1]) and ": " in text:
                text = text.split(": ", 1)[1]
            else:
                loc = ()
        elif first["type"] == "missing":
            info = _field_at(model, loc)
            text = f"missing; {info.description}" if info and info.description else "missing"
        else:
            expected = _EXPECTED.get(first["type"])
            shown = repr(first.get("input"))
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            text = (f"expected {expected}, got {shown}" if expected else
                    f"{first['msg'][0].lower()}{first['msg'][1:]}, got {shown}")
        path = _path(((at,) if at else ()) + loc)
        prefix = f"{where}: " if where else ""
        if not path and not where:
            raise error(text) from None
        raise error(f"{prefix}{path}: {text}" if path else f"{where}: {text}") from None


def field_rows(model: type[BaseModel], prefix: str = ""):
    """``(path, kind, unit, allowed, default, description)`` of every field of ``model`` and
    of the models nested in it (a mapping of models appears as ``NAME.*``)."""
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{prefix}{key}"
        extra = info.json_schema_extra or {}
        nested = _nested_model(info.annotation)
        spec = next((m for m in info.metadata if isinstance(m, FieldSpec)), None)
        if spec is None:
            spec = _spec_of(info.annotation)
        if nested is not None:
            kind, sub = nested
            yield (path, kind, "", "", "", info.description or "")
            name = "NAME." if kind.startswith("mapping of NAME") else ""
            yield from field_rows(sub, f"{path}.{name}")
            continue
        default = extra.get("default_text")
        if default is None:
            default = ("required" if info.is_required() else
                       _show(info.default_factory() if info.default_factory else info.default))
        yield (path, spec.kind if spec else _plain_kind(info.annotation),
               spec.unit if spec else "",
               spec.allowed if spec else "", default, info.description or "")


def _plain_kind(annotation) -> str:
    names = {bool: "true or false", str: "text", list: "list", tuple: "list", dict: "mapping",
             int: "integer", float: "number"}
    kinds = [names.get(a, "path" if a is os.PathLike else None) for a in
             (get_args(annotation) or (annotation,)) if a is not type(None)]
    kinds = [k for k in dict.fromkeys(kinds) if k]
    return " or ".join(kinds) if kinds else "any"


def _spec_of(annotation):
    for m in getattr(annotation, "__metadata__", ()):
        if isinstance(m, FieldSpec):
            return m
    for arg in get_args(annotation):
        found = _spec_of(arg)
        if found is not None:
            return found
    return None


def _nested_model(annotation):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping", annotation
    args = get_args(annotation)
    if get_origin(annotation) is dict and len(args) == 2 and isinstance(args[1], type) \
            and issubclass(args[1], BaseModel):
        return "mapping of NAME: {...}", args[1]
    for arg in args:
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return "mapping", arg
    return None


def _show(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)
