"""hipct — plan, reconstruct and compare HiP-CT scans at ESRF BM18 and BM05.

The unit registry is imported lazily (``hipct.ureg``) so ``hipct --help`` starts fast.
"""

from .errors import BeamlineError, DataError, HipctError, HipctWarning, MaterialError, PlanError

__version__ = "0.1.0"

__all__ = ["__version__", "ureg", "Q_", "HipctError", "PlanError", "MaterialError",
           "BeamlineError", "DataError", "HipctWarning"]


def __getattr__(name):
    if name in ("ureg", "Q_"):
        from . import units
        return getattr(units, name)
    raise AttributeError(f"module 'hipct' has no attribute {name!r}")
