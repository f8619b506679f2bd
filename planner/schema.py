"""The schemas of a scan plan and of a sweep file.

Each field states its type, unit, allowed range, default and meaning. :mod:`.plan` validates
a plan with :class:`PlanModel` and resolves what depends on the beamline (hardware names,
filters, beamline defaults); :mod:`.sweep` validates a sweep file with :class:`SweepModel`.
The same models drive ``hipct plan --template`` (:func:`plan_template`) and the field
reference (``hipct schema --markdown``). A field's ``json_schema_extra`` may carry
``example`` (the value the template shows), ``default_text`` (a default that depends on
other fields), ``template``: ``"set"`` (written uncommented) or ``"note"`` (described, not
written as ``key: value``, where switching it on alone would contradict the template), and
``names``: the built-in hardware the template lists (``cameras``, ``optics``,
``scintillators``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from hipct.beamlines.schema import MonochromaticSourceModel
from hipct.fields import Choice, Items, Number, Quantity, Schema, Text, Whole

__all__ = ["DetectorModel", "SampleModel", "AcquisitionModel", "EnergyGridModel", "PlanModel",
           "AxisRangeModel", "FilterGridModel", "SweepModel", "plan_template",
           "E_GRID_MIN_KEV", "E_GRID_MAX_KEV", "E_GRID_MAX_POINTS", "SCAN_RANGE_MAX_DEG"]

# bounds of the energy grid: xraylib's cross sections end below 1000 keV; a grid of more
# points than this would take minutes per plan
E_GRID_MIN_KEV, E_GRID_MAX_KEV, E_GRID_MAX_POINTS = 1.0, 800.0, 20_000
# a tomogram turns at most 10 times; a helical scan up to 1000 turns
SCAN_RANGE_MAX_DEG = {"zseries": 3600.0, "helical": 360_000.0}


def _extra(**kw) -> dict:
    return {"json_schema_extra": kw}


class DetectorModel(Schema):
    """The detector: camera, optic and scintillator of the beamline, and how they are used."""

    camera: Text(200) = Field(description="a camera of the beamline (name or alias)",
                              **_extra(example="IRIS15", template="set", names="cameras"))
    optic: Text(200) = Field(description="an optic of the beamline (name or alias)",
                             **_extra(example="Fixed x1", template="set", names="optics"))
    scintillator: Text(200) = Field(
        description="'TYPE THICKNESS' of a scintillator type of the beamline",
        **_extra(example="LuAG 100 um", template="set", names="scintillators"))
    binning: Whole(1, 1_000_000) = Field(1, description="camera binning (one the camera "
                                                        "offers)", **_extra(template="set"))
    magnification: Number(0, 1e4, open_lo=True) | None = Field(
        None, description="the optic's magnification (a zoom optic: this or voxel_size)",
        **_extra(example=1, default_text="the optic's (a fixed optic)"))
    roi: Items("[WIDTH, HEIGHT] in binned pixels", "[2048, 2048]",
               none_is_empty=False) | None = Field(
        None, description="[WIDTH, HEIGHT] read out, in binned pixels",
        **_extra(example=[5056, 2960], default_text="the full sensor"))


class SampleModel(Schema):
    """The sample as layers along the beam, and which of them is the tissue imaged."""

    layers: Items("layers", "[PET 4 mm, brain 70 mm]") = Field(
        default_factory=list, description="'MATERIAL THICKNESS' along the beam, first to last",
        **_extra(example=["PET 4 mm", "ethanol 70% 40 mm", "brain 70 mm", "ethanol 70% 40 mm"],
                 template="set"))
    tissue: Text(200) | None = Field(
        None, description="the layer material imaged",
        **_extra(example="brain", default_text="layers named like a tissue, else the thickest"))
    medium: Text(200) | None = Field(
        None, description="what surrounds the tissue, for its contrast",
        **_extra(example="ethanol 70%", default_text="the thickest other layer"))
    height: Quantity("length", "m", None, 10) | None = Field(
        None, description="sample height: sets the number of vertical stages",
        **_extra(example="50 mm"))


class AcquisitionModel(Schema):
    """How the scan is acquired: geometry, projections, exposure, stages, references."""

    geometry: Choice("full", "half", "quarter") = Field(
        "half", description="full (180°), half (360°, axis near an edge) or quarter "
                            "(two 360° rotations)", **_extra(template="set"))
    projections: Whole(1, 1_000_000) | None = Field(
        None, description="projections per rotation",
        **_extra(example=6000, default_text="(π/2) × reconstructed width"))
    subframe_time: Quantity("time", "s", 1e-6, 3600) | None = Field(
        None, description="exposure of one sub-frame",
        **_extra(example="12 ms", default_text="fills the detector to target_fill"))
    subframes: Whole(1, 10_000) = Field(1, description="sub-frames accumulated per projection",
                                        **_extra(template="set"))
    latency: Quantity("time", "s", 0, 3600, allow_zero=True) | None = Field(
        None, description="dead time between sub-frames (read-out, beam on)",
        **_extra(example="2 ms", default_text="the camera's"))
    stages: Whole(1, 100_000) | None = Field(
        None, description="vertical stages of a z-series",
        **_extra(example=1, default_text="from sample.height"))
    vertical_step: Quantity("length", "m", 1e-7, 10) | None = Field(
        None, description="height between stages",
        **_extra(example="5 mm", default_text="the beamline's"))
    beam_height: Quantity("length", "m", 1e-7, 10) | None = Field(
        None, description="vertical beam size at the sample",
        **_extra(example="2 mm", default_text="the field of view height"))
    n_ref: Whole(0, 100_000) | None = Field(
        None, description="flat fields per reference group",
        **_extra(example=101, default_text="the beamline's"))
    n_dark: Whole(0, 100_000) | None = Field(
        None, description="dark frames per scan", **_extra(example=20,
                                                           default_text="the beamline's"))
    ref_groups: Whole(0, 100_000) | None = Field(
        None, description="reference groups per scan",
        **_extra(example=2, default_text="the beamline's"))
    overhead_per_scan: Quantity("time", "s", 0, 86400, allow_zero=True) | None = Field(
        None, description="sample out/in, vertical move and rotation ramp per scan",
        **_extra(example="120 s", default_text="the beamline's"))
    overlap: Whole(0, 100_000) = Field(
        0, description="columns shared by the fields of half/quarter acquisition (binned "
                       "pixels)", **_extra(example=0))
    scan_range: Quantity("dimensionless", "degree", 1, SCAN_RANGE_MAX_DEG["helical"],
                         default_unit="degree") | None = Field(
        None, description="rotation range (a number: degrees); at most 3600 degrees for a "
                          "z-series", **_extra(example="360 degree", default_text="360 degree"))
    scan_type: Choice("zseries", "helical") = Field(
        "zseries", description="zseries (stages) or helical (one continuous scan)")
    pitch: Quantity("length", "m", 1e-7, 1) | None = Field(
        None, description="helical only: vertical travel per 360° turn",
        **_extra(example="5 mm", template="note"))


class EnergyGridModel(Schema):
    """The energy grid of the spectral calculation."""

    min: Quantity("energy", "keV", E_GRID_MIN_KEV, E_GRID_MAX_KEV) = Field(
        "5 keV", validate_default=True, description="lowest energy")
    max: Quantity("energy", "keV", E_GRID_MIN_KEV, E_GRID_MAX_KEV) = Field(
        "400 keV", validate_default=True, description="highest energy")
    step: Quantity("energy", "keV") = Field(
        "0.5 keV", validate_default=True,
        description=f"grid step (at most {E_GRID_MAX_POINTS} energies)")


class PlanModel(Schema):
    """A scan plan: beamline, distances, filters, detector, sample and acquisition."""

    name: Text(200) = Field("plan", description="free text, names the report and the figures",
                            **_extra(example="my-scan", template="set"))
    beamline: Text(1000) | None = Field(
        None, description="BM18, BM05 or a path to a beamline YAML file (relative to the plan)",
        **_extra(example="BM18", template="set", default_text="required unless source is "
                                                              "given (then BM18)"))
    source: MonochromaticSourceModel | None = Field(
        None, description="replaces the beamline source: {type: monochromatic, energy, flux, "
                          "beam_size, source_to_sample}", **_extra(template="note"))
    ring_current: Quantity("current", "A", None, 0.5) | None = Field(
        None, description="storage-ring current", **_extra(example="200 mA",
                                                           default_text="the beamline's"))
    source_to_sample: Quantity("length", "m", 0.01, 10_000) | None = Field(
        None, description="z1, source to sample", **_extra(example="178 m",
                                                           default_text="the beamline's"))
    propagation_distance: Quantity("length", "m", 0, 1000, allow_zero=True) | None = Field(
        None, description="z2, sample to detector",
        **_extra(example="5 m", template="set",
                 default_text="required with a detector; 0 m without"))
    filters: Items("filters", "[sapphire 10 mm, Ag 0.2 mm]") = Field(
        default_factory=list,
        description="'MATERIAL THICKNESS' (first to last along the beam) or {material, "
                    "thickness, density, rods, rod_diameter, beam_height}",
        **_extra(example=["sapphire 5 mm", "Ag 0.1 mm"], template="set"))
    detector: DetectorModel | None = Field(
        None, description="camera, optic, scintillator; leave out for dose and time only",
        **_extra(template="set"))
    voxel_size: Quantity("length", "m", 1e-9, 0.1) | None = Field(
        None, description="target voxel size (solves a zoom optic's magnification)",
        **_extra(example="4.25 um"))
    sample: SampleModel = Field(default_factory=SampleModel,
                                description="the sample along the beam",
                                **_extra(template="set"))
    acquisition: AcquisitionModel = Field(default_factory=AcquisitionModel,
                                          description="how the scan is acquired",
                                          **_extra(template="set"))
    delta_beta: Number(0, 1e6) | None = Field(
        None, description="δ/β of the Paganin phase retrieval",
        **_extra(example=2000, default_text="the tissue's at the detected energy"))
    target_fill: Number(0, 1, open_lo=True) = Field(
        0.8, description="flat-field fill of the full well to aim for")
    energy_grid: EnergyGridModel = Field(default_factory=EnergyGridModel,
                                         description="energy grid {min, max, step}")


class AxisRangeModel(Schema):
    """A swept axis written as a range; a list of values (or one value) is also allowed."""

    from_: Any = Field(alias="from", description="first value, with a unit")
    to: Any = Field(description="last value, with a unit")
    num: Whole(1, 1000) = Field(description="number of values")
    spacing: Choice("linear", "log") = Field("linear", description="linear or log")


class FilterGridModel(Schema):
    """Filter sets as a grid: every combination of the listed thicknesses on a base."""

    base: Items("filters", "[sapphire 5 mm]") = Field(
        default_factory=list, description="filters in every set")
    grid: dict = Field(description="{MATERIAL: [thickness, ...]}; a thickness 0 leaves the "
                                   "material out")


class SweepModel(Schema):
    """A sweep file: the axes varied around a plan (an axis left out keeps the plan's)."""

    filters: Any = Field(None, description="a list of filter lists, or {base, grid}",
                         **_extra(default_text="the plan's filters"))
    propagation_distance: Any = Field(
        None, description="distances: a list, one value or {from, to, num, spacing} "
                          "(a number: m)", **_extra(default_text="the plan's"))
    subframe_time: Any = Field(
        None, description="sub-frame times: a list, one value or {from, to, num, spacing} "
                          "(a number: ms)", **_extra(default_text="the plan's"))


def plan_template(beamlines: dict) -> str:
    """A commented YAML plan generated from :class:`PlanModel` that plans as printed.

    ``beamlines`` maps the built-in beamline names to their
    :class:`~hipct.beamlines.Beamline`; the template names their cameras, optics and
    scintillator types. Fields marked ``template: set`` are written with their example;
    the others are commented out with their example (or default), so that switching any
    of them on gives a valid plan too.
    """
    names = {attr: ", ".join(dict.fromkeys(k for b in beamlines.values()
                                           for k in getattr(b, attr)))
             for attr in ("cameras", "optics", "scintillators")}
    lines = ["# A hipct scan plan (YAML). Plan it with:  hipct plan THIS_FILE.yaml [--plot DIR]",
             "# Lengths, times and currents carry units ('20 m', '12 ms', '200 mA'). Commented",
             "# lines are optional, shown with an example or their default. Every field: "
             "docs/reference.md."]
    _template_lines(PlanModel, "", lines, names, ", ".join(beamlines))
    return "\n".join(lines) + "\n"


def _yaml_value(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _template_lines(model, indent: str, lines: list, names: dict, beamlines: str) -> None:
    for key, info in model.model_fields.items():
        key = info.alias or key
        extra = info.json_schema_extra or {}
        role = extra.get("template")
        note = info.description or ""
        if key == "beamline":
            note = f"{beamlines}, or a path to a beamline YAML file"
        if "names" in extra:
            note += f"; {extra['names']}: {names[extra['names']]}"
        sub = info.annotation
        nested = next((a for a in (sub, *getattr(sub, "__args__", ()))
                       if isinstance(a, type) and issubclass(a, Schema)), None)
        if nested is not None and role == "set":
            lines.append(_comment(f"{indent}{key}:", note))
            _template_lines(nested, indent + "  ", lines, names, beamlines)
            continue
        if role == "note":
            lines.append(f"{indent}# {key} — {note}")
            continue
        if nested is not None:              # an optional mapping: one commented flow line
            inner = ", ".join(f"{f.alias or k}: {_yaml_value(f.default)}"
                              for k, f in nested.model_fields.items())
            lines.append(_comment(f"{indent}# {key}: {{{inner}}}", note))
            continue
        if "example" in extra:
            value = extra["example"]
        else:
            value = info.default
        default = extra.get("default_text")
        if default is None and not info.is_required() and role != "set":
            default = "not set" if info.default is None else _yaml_value(info.default)
        text = f"{key}: {_yaml_value(value)}"
        if role != "set":
            text = f"# {text}"
            if default is not None:
                note += f" (default: {default})"
        lines.append(_comment(f"{indent}{text}", note))


def _comment(text: str, note: str) -> str:
    return f"{text:<33} # {note}" if note else text
