"""Helpers shared by the command-line modules: strict JSON output and option parsing."""

from __future__ import annotations

import json
import math

from hipct.errors import HipctError

__all__ = ["dumps_json", "parse_floats"]


def _finite(obj):
    """``obj`` with every NaN or infinity replaced by ``None`` (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def dumps_json(obj, **kw) -> str:
    """Strict JSON text of ``obj``: numpy scalars converted, NaN and infinities as null."""
    return json.dumps(_finite(json.loads(json.dumps(obj, default=_json_default))),
                      allow_nan=False, **kw)


def _json_default(o):
    import numpy as np
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def parse_floats(text: str, n: int | None, option: str) -> list[float]:
    """Parse the option value ``"1.5,2,3"`` into floats (exactly ``n`` of them unless ``None``).

    Raises
    ------
    HipctError
        Not numbers, the wrong count, or a non-finite value (one line naming ``option``).
    """
    try:
        values = [float(v) for v in str(text).split(",")]
    except ValueError:
        raise HipctError(f"{option}: expected comma-separated numbers, got {text!r}") from None
    if n is not None and len(values) != n:
        raise HipctError(f"{option}: expected {n} comma-separated numbers, got {text!r}")
    if not all(math.isfinite(v) for v in values):
        raise HipctError(f"{option}: expected finite numbers, got {text!r}")
    return values
