"""hipct — plan, reconstruct and compare HiP-CT scans at ESRF BM18 and BM05."""

from .errors import BeamlineError, DataError, HipctError, HipctWarning, MaterialError, PlanError
from .units import Q_, ureg

__version__ = "0.1.0"

__all__ = ["__version__", "ureg", "Q_", "HipctError", "PlanError", "MaterialError",
           "BeamlineError", "DataError", "HipctWarning"]
