"""The schema of the ``hipct simulate`` options.

Kept apart from :mod:`hipct.cli_simulate` so that building the parser (``hipct --help``)
does not import pydantic; the defaults live in :data:`hipct.simulation.defaults.DEFAULTS`.
"""

from __future__ import annotations

from pydantic import Field

from hipct.fields import Choice, Number, Quantity, Schema, Text, Whole, validate
from hipct.simulation.defaults import DEFAULTS

__all__ = ["SimulateOptions", "options"]


class SimulateOptions(Schema):
    """Options of ``hipct simulate``: the simulated detector window, exposure and noise, and
    (with ``--phantom``) the campaign's pixel size, position and stages."""

    width: Whole(8, 4096) = Field(DEFAULTS["width"], alias="--width",
                                  description="detector columns simulated (binned pixels)")
    rows: Whole(1, 512) = Field(DEFAULTS["rows"], alias="--rows",
                                description="detector rows simulated")
    projections: Whole(2, 20_000) | None = Field(
        None, alias="--projections", description="projections",
        json_schema_extra={"default_text": "the planner's rule for the simulated width"})
    geometry: Choice("full", "half", "quarter") | None = Field(
        None, alias="--geometry", description="full, half or (with --phantom) quarter",
        json_schema_extra={"default_text": "the plan's; with --phantom full"})
    energy_bins: Whole(1, 64) = Field(DEFAULTS["energy_bins"], alias="--energy-bins",
                                      description="energy bins of equal detected signal")
    oversample: Whole(1, 8) = Field(DEFAULTS["oversample"], alias="--oversample",
                                    description="sub-samples per pixel for projection and "
                                                "propagation")
    exposure_scale: Number(0, 1e6, open_lo=True) = Field(
        DEFAULTS["exposure_scale"], alias="--exposure-scale",
        description="scale of the plan's sub-frame time: counts and dose")
    blur: Quantity("length", "m", 0, 1e-3, allow_zero=True) = Field(
        DEFAULTS["blur"], alias="--blur", validate_default=True,
        description="extra Gaussian detector blur, FWHM at the sample")
    extruded: bool = Field(False, alias="--extruded",
                           description="phantom features as vertical columns")
    flats: Whole(1, 2000) = Field(DEFAULTS["flats"], alias="--flats",
                                  description="flat fields recorded")
    no_noise: bool = Field(False, alias="--no-noise", description="noise-free frames")
    seed: Whole(0, 2**32 - 1) = Field(DEFAULTS["seed"], alias="--seed",
                                      description="noise seed")
    phantom_seed: Whole(0, 2**32 - 1) = Field(DEFAULTS["phantom_seed"], alias="--phantom-seed",
                                              description="phantom layout seed")
    pixel_size: Quantity("length", "m", 1e-8, 1e-3, default_unit="um") = Field(
        DEFAULTS["pixel_size"], alias="--pixel-size", validate_default=True,
        description="--phantom: pixel size at the sample (a number: um)")
    position: Text(200) = Field(DEFAULTS["position"], alias="--position",
                                description="--phantom: stage position Z,Y,X (mm) of the "
                                            "first stage")
    stages: Whole(1, 200) = Field(DEFAULTS["stages"], alias="--stages",
                                  description="--phantom: z-series stages")
    z_step: Quantity("length", "m", 0, 1, allow_zero=True, default_unit="mm") = Field(
        DEFAULTS["z_step"], alias="--z-step", validate_default=True,
        description="--phantom: height between stages, downwards (a number: mm)")
    overlap: Whole(0, 2048) = Field(DEFAULTS["overlap"], alias="--overlap",
                                    description="--phantom: columns shared by the fields of "
                                                "half/quarter acquisition (at most --width/2)")


def options(args) -> SimulateOptions:
    """The parsed command line validated by :class:`SimulateOptions` (one line, exit 2)."""
    fields = SimulateOptions.model_fields
    return validate(SimulateOptions, {f.alias: getattr(args, k) for k, f in fields.items()})
