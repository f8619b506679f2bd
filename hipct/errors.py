"""Exception and warning classes shared by every part of hipct.

Every error a user can cause (a bad plan, an unknown material, a corrupt file) is a
subclass of :class:`HipctError` *and* of the matching built-in, so callers can catch
either. The command line turns a :class:`HipctError` into a one-line message and exit
code 2; anything else is a bug and keeps its traceback.
"""

__all__ = ["HipctError", "PlanError", "MaterialError", "BeamlineError", "DataError", "HipctWarning"]


class HipctError(Exception):
    """Base class of every error caused by user input."""


class PlanError(HipctError, ValueError):
    """A scan plan field is missing, malformed or out of range."""


class MaterialError(PlanError, KeyError):
    """A material name cannot be resolved."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class BeamlineError(PlanError):
    """A beamline description is invalid or names unknown hardware."""


class DataError(HipctError, OSError):
    """An input data file is missing, truncated or inconsistent."""


class HipctWarning(UserWarning):
    """Legal but suspicious input (a saturating detector, an undersampled scan...)."""
