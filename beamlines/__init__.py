"""Beamline descriptions (YAML) and their loader."""

from .loader import (AcquisitionDefaults, Beamline, Camera, Optic, Screen, ScintillatorType,
                     Source, builtin_beamlines, load_beamline, parse_monochromatic)

__all__ = ["AcquisitionDefaults", "Beamline", "Camera", "Optic", "Screen", "ScintillatorType",
           "Source", "builtin_beamlines", "load_beamline", "parse_monochromatic"]
