"""The schema of a beamline file (``bm18.yaml``, ``bm05.yaml`` or a user's own).

Each field states its type, unit, allowed range, default and meaning; :mod:`.loader`
validates a file with :class:`BeamlineModel` and builds the typed hardware objects from it.
The same models drive the field reference (``hipct schema --markdown``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from hipct.errors import PlanError
from hipct.fields import (Choice, FieldSpec, Items, Number, Quantity, Schema, Text, Whole,
                          checker, number, whole)

__all__ = ["MonochromaticSourceModel", "SourceModel", "SourceSizeModel", "OpticModel",
           "CameraModel", "ScintillatorModel", "AcquisitionDefaultsModel", "RodFiltersModel",
           "BeamlineModel"]


def _names(value, name):
    if not isinstance(value, list) or not all(
            isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in value):
        raise PlanError(f"{name}: expected a list of names, got {value!r}")
    return [str(a) for a in value]


def _magnification(value, name):
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise PlanError(f"{name}: expected M or [MIN, MAX], got {value!r}")
        lo, hi = value
    else:
        lo = hi = value
    lo = number(lo, name, 0, 1e4, open_lo=True)
    return (lo, number(hi, name, lo, 1e4))


def _format(value, name):
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise PlanError(f"{name}: expected [WIDTH, HEIGHT] in pixels, got {value!r}")
    return tuple(whole(v, name, 1, 100_000) for v in value)


def _binnings(value, name):
    if not isinstance(value, (list, tuple)) or not value:
        raise PlanError(f"{name}: expected a list such as [1, 2, 4]")
    return tuple(whole(b, name, 1, 64) for b in value)


def _medium(value, name):
    if value is None:
        return None
    if not isinstance(value, str):
        raise PlanError(f"{name}: expected a material name (e.g. air) or vacuum, got {value!r}")
    return None if value.strip().lower() in ("vacuum", "none", "") else value


Names = Annotated[list, checker(_names), FieldSpec("list of text", "", "names")]
Magnification = Annotated[tuple, checker(_magnification),
                          FieldSpec("number or [MIN, MAX]", "", "> 0 and <= 10000")]
Format = Annotated[tuple, checker(_format),
                   FieldSpec("[WIDTH, HEIGHT]", "pixels", "1 to 100000 each")]
Binnings = Annotated[tuple, checker(_binnings),
                     FieldSpec("list of integers", "", "1 to 64 each")]
Medium = Annotated[Any, checker(_medium), FieldSpec("material or vacuum", "", "")]
_DISTANCE = Quantity("length", "m", 0.01, 10_000)


class MonochromaticSourceModel(Schema):
    """A monochromatic beam (a plan's ``source``, or a beamline's)."""

    type: Choice("monochromatic") = Field(
        "monochromatic", description="monochromatic: one energy, a flux and a beam size")
    energy: Quantity("energy", "keV", 1, 800) | None = Field(
        None, description="photon energy (monochromatic; required there)",
        json_schema_extra={"example": "11 keV"})
    flux: Quantity("frequency", "1/s", None, 1e20) | None = Field(
        None, description="photons per second in the beam (monochromatic; required there)",
        json_schema_extra={"example": "1e11 1/s"})
    beam_size: Text(100) | None = Field(
        None, description="beam 'WIDTH x HEIGHT' at the sample, e.g. '1 mm x 1 mm' "
                          "(monochromatic; required there)")
    source_to_sample: _DISTANCE | None = Field(
        None, description="z1, source to sample",
        json_schema_extra={"default_text": "50 m (monochromatic); required for a bending "
                                           "magnet"})


class SourceSizeModel(Schema):
    """The rms size of the electron source."""

    horizontal: Quantity("length", "m", 0, 0.01, allow_zero=True) = Field(
        "0 um", validate_default=True, description="rms source size, horizontal")
    vertical: Quantity("length", "m", 0, 0.01, allow_zero=True) = Field(
        "0 um", validate_default=True, description="rms source size, vertical")


class SourceModel(MonochromaticSourceModel):
    """A beamline's X-ray source: a bending magnet (or wiggler pole) or a monochromatic beam."""

    type: Choice("bending_magnet", "monochromatic") = Field(
        "bending_magnet", description="bending_magnet (field, electron energy, ring current) "
                                      "or monochromatic (energy, flux, beam_size)")
    field: Quantity("magnetic_field", "T", 1e-3, 20) | None = Field(
        None, description="magnetic field of the pole the beam comes from (bending_magnet; "
                          "required there)")
    electron_energy: Quantity("energy", "GeV", 0.1, 20) = Field(
        "6 GeV", validate_default=True, description="storage-ring electron energy")
    ring_current: Quantity("current", "A", None, 1) = Field(
        "200 mA", validate_default=True, description="storage-ring current (a plan may "
                                                     "override it)")
    source_size: SourceSizeModel = Field(default_factory=SourceSizeModel,
                                         description="rms source size {horizontal, vertical}")


class OpticModel(Schema):
    """A visible-light optic between the scintillator and the camera."""

    type: Choice("fixed", "zoom") = Field("fixed", description="fixed or zoom")
    magnification: Magnification = Field(
        description="optical magnification M, or [MIN, MAX] for a zoom")
    na: Number(0, 1.6, open_lo=True) = Field(
        0.1, description="object-side numerical aperture (used where a zoom's f_number "
                         "and magnification do not give it)")
    f_number: Number(0.5, 100) | None = Field(
        None, description="a zoom's f-number N: NA = M / (2 N (1 + M))")
    transmission: Number(0, 1, open_lo=True) | None = Field(
        None, description="fraction of the collected light reaching the camera",
        json_schema_extra={"default_text": "the beamline's optics_transmission"})
    aliases: Names = Field(default_factory=list, description="other names a plan may use")


class CameraModel(Schema):
    """A camera (sensor). Noise in electrons."""

    format: Format = Field(description="sensor [WIDTH, HEIGHT] in pixels")
    pixel_size: Quantity("length", "m", 1e-7, 1e-3) = Field(description="sensor pixel pitch")
    full_well: Number(1, 1e9) = Field(30000, description="full-well capacity (electrons)")
    read_noise: Number(0, 1e5) = Field(1.5, description="read noise (electrons rms)")
    bit_depth: Whole(1, 32) = Field(16, description="ADC bits of one pixel")
    quantum_efficiency: Number(0, 1, open_lo=True) = Field(
        0.7, description="fraction of the scintillator's light detected")
    binning: Binnings = Field((1, 2, 4), validate_default=True,
                              description="binning factors the camera offers")
    latency: Quantity("time", "s", 0, 60, allow_zero=True) = Field(
        "0 s", validate_default=True, description="read-out dead time per sub-frame")
    binned_bit_depth: Whole(1, 64) | None = Field(
        None, description="bits of the output word of a binned pixel",
        json_schema_extra={"default_text": "bit_depth"})
    aliases: Names = Field(default_factory=list, description="other names a plan may use")


class ScintillatorModel(Schema):
    """A scintillator material (a plan gives its thickness: 'LuAG 100 um')."""

    formula: Text(100) = Field(description="chemical formula, e.g. Lu3Al5O12")
    density: Quantity("density", "g/cm^3", 0.01, 30) = Field(description="mass density")
    light_yield: Number(0, 1e6, open_lo=True) = Field(
        20000, description="visible photons per MeV deposited")
    refractive_index: Number(1, 5) = Field(1.8, description="refractive index n")
    aliases: Names = Field(default_factory=list, description="other names a plan may use")


class AcquisitionDefaultsModel(Schema):
    """The beamline's habits, used where a plan is silent."""

    n_ref: Whole(0, 100_000) = Field(101, description="flat fields per reference group")
    ref_groups: Whole(0, 10_000) = Field(2, description="reference groups per scan (before "
                                                        "and after)")
    n_dark: Whole(0, 100_000) = Field(20, description="dark frames per scan")
    overhead_per_scan: Quantity("time", "s", 0, 86400, allow_zero=True) = Field(
        "120 s", validate_default=True, description="sample out/in for flats, vertical move "
                                                    "and rotation ramp, per scan")
    vertical_step: Quantity("length", "m", 1e-7, 10) = Field(
        "5 mm", validate_default=True, description="height between z-series stages")


class RodFiltersModel(Schema):
    """Geometry of rod filters ('SiO2 40mm rods 10x4mm')."""

    diameter: Quantity("length", "m", 1e-6, 1) = Field(
        description="rod diameter where a filter's text gives none")
    beam_height: Quantity("length", "m", 1e-6, 1) = Field(
        description="vertical beam size at the rods")


class BeamlineModel(Schema):
    """A beamline file: source, filters and the detector hardware a plan may name."""

    name: Text(200) | None = Field(None, description="beamline name",
                                   json_schema_extra={"default_text": "the file's name"})
    facility: Text(200) | None = Field(None, description="free text, e.g. ESRF-EBS")
    source: SourceModel = Field(description="the X-ray source")
    beamline_filters: Items("filters", "[Be 0.5 mm]") = Field(
        default_factory=list, description="fixed windows and filters before the sample, "
                                          "'MATERIAL THICKNESS' or {material, thickness, ...}")
    filter_materials: Items("materials", "[sapphire, silver]") = Field(
        default_factory=list, description="the filter materials at hand (documentation)")
    optics: dict[Any, OpticModel] = Field(default_factory=dict,
                                          description="optics by name")
    cameras: dict[Any, CameraModel] = Field(default_factory=dict,
                                            description="cameras by name")
    scintillators: dict[Any, ScintillatorModel] = Field(default_factory=dict,
                                                        description="scintillator types by "
                                                                    "name")
    acquisition_defaults: AcquisitionDefaultsModel = Field(
        default_factory=AcquisitionDefaultsModel, description="used where a plan is silent")
    optics_transmission: Number(0, 1, open_lo=True) = Field(
        1.0, description="fraction of the collected light reaching the camera, for every "
                         "optic without its own transmission")
    rod_filters: RodFiltersModel | None = Field(
        None, description="rod filter geometry {diameter, beam_height}")
    propagation_medium: Medium = Field(
        "air", validate_default=True,
        description="material between sample and screen (Beer-Lambert over the propagation "
                    "distance), or vacuum")

    @field_validator("optics", "cameras", "scintillators", mode="before")
    @classmethod
    def _empty_table(cls, value):
        return {} if value is None else value          # 'optics:' left empty: none
