"""Validation of input fields shared by every entry point (plan, beamline, sweep, sidecar, CLI).

Each helper raises a one-line :class:`~hipct.errors.PlanError` naming the field, the value
and what is allowed: :func:`number` (finite, within bounds), :func:`whole` (an integer
written as one: ``2.7`` and ``.nan`` are refused), :func:`check_keys` (unknown keys, with
the closest valid name), :func:`read_text` (a regular UTF-8 file of bounded size) and
:func:`load_yaml` (safe YAML with duplicate keys refused and bounded nesting).
"""

from __future__ import annotations

import difflib
import math
import os
import stat
from pathlib import Path

import yaml

from .errors import PlanError

__all__ = ["MAX_FILE_BYTES", "MAX_DEPTH", "number", "whole", "check_keys", "read_text",
           "load_yaml", "read_yaml"]

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
