"""The schema of the reconstruction parameters.

:class:`ReconParamsModel` states, for every field of
:class:`~hipct.reconstruction.pipeline.ReconParams`, its type, unit, allowed range, default
and meaning; :func:`check_params` validates a parameter set against it (one line naming the
field). ``hipct reconstruct`` checks its options first, under their option names; the check
here guards the Python API (the study, notebooks) with the same bounds.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from pydantic import Field

from hipct.errors import HipctError
from hipct.fields import Choice, Number, Schema, Whole, validate

__all__ = ["ReconParamsModel", "check_params", "FILTERS", "FORMATS"]

FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann")
FORMATS = ("ome-zarr", "ome-zarr-v3", "tiff", "hdf5")


def _opt(option: str, **kw) -> dict:
    return {"json_schema_extra": {"option": option, **kw}}


class ReconParamsModel(Schema):
    """Everything a reconstruction needs besides the data (SI units in the names; the
    ``hipct reconstruct`` option of each field in its description)."""

    inputs: list = Field(description="input scans (NXtomo, HDF5, TIFF stack); two for a "
                                     "quarter acquisition (INPUT arguments)")
    output: str | os.PathLike = Field(description="output path (-o)")
    cor: list | None = Field(None, description="rotation axis, absolute 0-based unbinned "
                                               "column, one per input (--cor)",
                             json_schema_extra={"default_text": "found from the data"})
    half_acquisition: bool | None = Field(
        None, description="360° scan with the axis near an edge (--half-acquisition)",
        json_schema_extra={"default_text": "from the file"})
    cor_side: Choice("left", "right") | None = Field(
        None, description="detector half holding the axis (--cor-side)",
        json_schema_extra={"default_text": "from the file, else from the data"})
    delta_beta: Number(0, 1e6) | None = Field(
        None, description="Paganin δ/β; 0: absorption, no phase retrieval (--delta-beta, "
                          "--no-phase)", json_schema_extra={"default_text": "the plan's"})
    energy_kev: Number(1, 800, unit="keV") | None = Field(
        None, description="mean energy of the phase retrieval (--energy)",
        json_schema_extra={"default_text": "the plan's, else the file's"})
    distance_m: Number(0, 1000, open_lo=True, unit="m") | None = Field(
        None, description="effective propagation distance z1 z2 / (z1 + z2) (--distance)",
        json_schema_extra={"default_text": "the plan's, else the file's"})
    pixel_size_m: Number(1e-9, 1e-2, unit="m") | None = Field(
        None, description="pixel size at the sample before binning (--pixel-size)",
        json_schema_extra={"default_text": "the plan's, else the file's"})
    filter_name: Choice(*FILTERS) = Field("ramp", description="FBP filter window (--filter)")
    unsharp_sigma_px: Number(0, 1000) = Field(0.0, description="unsharp mask σ in pixels "
                                                               "(--unsharp SIGMA,COEFF)")
    unsharp_coeff: Number(0, 100) = Field(0.0, description="unsharp mask coefficient; 0: off")
    ring_size: Whole(0, 1001) = Field(0, description="ring filter size in pixels; 0: off "
                                                     "(--rings)")
    rows: tuple | None = Field(None, description="detector rows (start, stop) before binning "
                                                 "(--rows)",
                               json_schema_extra={"default_text": "all"})
    binning: Whole(1, 64) = Field(1, description="binning of projections and slices (--bin)")
    width: Whole(1, 100_000) | None = Field(
        None, description="slice width in binned pixels (--width)",
        json_schema_extra={"default_text": "the field of view"})
    roi: tuple | None = Field(None, description="(x0, x1, y0, y1) region of the slice (--roi)",
                              json_schema_extra={"default_text": "the whole slice"})
    flat_source: Choice("file", "scan") = Field(
        "file", description="flat fields from the file, or the scan's own median (--flat-source)")
    fmt: Choice(*FORMATS) = Field("ome-zarr", description="output format (--format)")
    dtype: Choice("float32", "uint16") = Field("float32", description="output type (--dtype)")
    window: tuple | None = Field(None, description="(lo, hi) uint16 window in 1/cm (--window)",
                                 json_schema_extra={"default_text": "0.1-99.9 percentiles"})
    memory_bytes: Number(1e3, 1e13, unit="byte") = Field(
        4e9, description="memory budget per process (--memory)")
    fbp_method: Choice("fourier", "linear") = Field(
        "fourier", description="back-projector: non-uniform FFT or linear interpolation (--fbp)")
    fbp_threads: Whole(1, 4096) | None = Field(
        None, description="threads of the Fourier back-projector",
        json_schema_extra={"default_text": "as many as the memory budget allows"})
    scheduler: str | None = Field(None, description="dask.distributed scheduler address "
                                                    "(--scheduler)",
                                  json_schema_extra={"default_text": "this process"})
    origin_um: tuple | None = Field(None, description="(z, y, x) of the axis at the middle "
                                                      "row (um) (--origin)",
                                    json_schema_extra={"default_text": "the file's stage "
                                                                       "position"})
    z_positions_m: list | None = Field(None, description="sample height of each input (m) "
                                                         "(--z-positions, given in mm)",
                                       json_schema_extra={"default_text": "the files'"})
    refine_z: bool = Field(False, description="z-series: refine stage offsets on the "
                                              "overlaps (--refine-z)")
    resume: bool = Field(False, description="continue an interrupted output (--resume)")
    overwrite: bool = Field(False, description="replace an output hipct wrote (--overwrite)")
    plan: Any = Field(None, description="the evaluated plan (--plan): its phase retrieval "
                                        "and provenance")
    command: list | None = Field(None, description="the command line, kept in the provenance")
    preview: str | os.PathLike | None = Field(
        None, description="extra PNG of the mid-slices (--preview)")


def check_params(params) -> ReconParamsModel:
    """Validate a :class:`~hipct.reconstruction.pipeline.ReconParams` against
    :class:`ReconParamsModel` (a :class:`~hipct.errors.HipctError` naming the field)."""
    values = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    return validate(ReconParamsModel, values, "reconstruction parameters", error=HipctError)
