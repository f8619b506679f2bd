"""The scan plan: a validated, typed description of one acquisition.

A plan is written in YAML (see ``examples/bm18_hemisphere_overview.yaml``); :func:`load_plan`
reads a file, :func:`parse_plan` a mapping. Every field is checked at this entry point: its
type, unit and range by the schema (:class:`~hipct.planner.schema.PlanModel`), then here what
depends on the beamline (hardware names, filters, its defaults) and on other fields; errors
name the field and what it allows, and unknown keys suggest the closest valid key. The
physics downstream assumes valid input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hipct.beamlines import Beamline, Source, builtin_beamlines, load_beamline, parse_monochromatic
from hipct.errors import PlanError
from hipct.fields import read_yaml, validate, whole
from hipct.physics.layers import parse_layer
from hipct.physics.materials import Material, resolve_material

from .schema import (E_GRID_MAX_POINTS, SCAN_RANGE_MAX_DEG, AcquisitionModel, DetectorModel,
                     PlanModel, SampleModel)
from .schema import plan_template as _template

__all__ = ["Plan", "DetectorPlan", "AcquisitionPlan", "SamplePlan", "FrameSettings",
           "load_plan", "parse_plan", "PLAN_KEYS", "plan_template"]

# key -> description (from the schema)
PLAN_KEYS = {(f.alias or k): f.description for k, f in PlanModel.model_fields.items()}


def plan_template() -> str:
    """A commented YAML plan that plans as printed, naming the built-in beamlines' cameras,
    optics and scintillator types (``hipct plan --template``), generated from the schema
    (:func:`~hipct.planner.schema.plan_template`)."""
    return _template({n: load_beamline(n) for n in builtin_beamlines()})


_TISSUE_HINTS = ("brain", "tissue", "muscle", "lung", "adipose", "blood", "bone", "skin",
                 "breast", "eye", "ovary", "testis", "heart", "kidney", "liver")


@dataclass(frozen=True)
class DetectorPlan:
    camera: object
    optic: object
    screen: object
    screen_material: Material
    binning: int
    magnification: float | None
    roi_px: tuple


@dataclass(frozen=True)
class SamplePlan:
    layers: tuple
    tissue: tuple  # indices of tissue layers
    medium: Material | None
    height_m: float | None


@dataclass(frozen=True)
class AcquisitionPlan:
    geometry: str = "half"
    projections: int | None = None
    subframe_time_s: float | None = None
    subframes: int = 1
    latency_s: float | None = None
    stages: int | None = None
    vertical_step_m: float | None = None
    beam_height_m: float | None = None
    n_ref: int | None = None
    n_dark: int | None = None
    ref_groups: int | None = None
    overhead_per_scan_s: float | None = None
    overlap_px: float = 0.0
    scan_range_deg: float = 360.0
    scan_type: str = "zseries"             # or 'helical': one continuous scan, no stages
    pitch_m: float | None = None           # helical: vertical travel per 360° turn
    scan_range_given: bool = False


@dataclass(frozen=True)
class FrameSettings:
    """The read-out latency and reference frames of a plan: its own values, else the
    beamline's defaults (the camera's latency; none without a camera)."""

    latency_s: float
    n_ref: int
    ref_groups: int
    n_dark: int
    overhead_per_scan_s: float


@dataclass(frozen=True)
class Plan:
    """A validated scan plan. Lengths in metres, times in seconds, current in amperes."""

    name: str
    beamline: Beamline
    source: Source
    ring_current_a: float
    source_to_sample_m: float
    propagation_distance_m: float
    filters: tuple
    detector: DetectorPlan | None
    voxel_size_m: float | None
    sample: SamplePlan
    acquisition: AcquisitionPlan
    delta_beta: float | None = None
    target_fill: float = 0.8
    energy_grid_kev: tuple = (5.0, 400.0, 0.5)
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    def frame_settings(self) -> FrameSettings:
        """Latency, flats, darks and overhead: the plan's, else the beamline's defaults."""
        acq, defaults = self.acquisition, self.beamline.defaults

        def pick(value, default):
            return default if value is None else value
        camera_latency = self.detector.camera.latency_s if self.detector is not None else 0.0
        return FrameSettings(pick(acq.latency_s, camera_latency), pick(acq.n_ref, defaults.n_ref),
                             pick(acq.ref_groups, defaults.ref_groups),
                             pick(acq.n_dark, defaults.n_dark),
                             pick(acq.overhead_per_scan_s, defaults.overhead_per_scan_s))


def load_plan(path) -> Plan:
    """Read and validate a plan YAML file (errors are one-line :class:`PlanError`)."""
    data = read_yaml(Path(path), "plan")
    if not isinstance(data, dict):
        raise PlanError(f"plan: {path} must hold a mapping of plan fields (name, beamline, ...)")
    base = Path(path).parent
    bl = data.get("beamline")
    if isinstance(bl, str) and bl.lower().endswith((".yaml", ".yml")) and not Path(bl).is_absolute():
        data = {**data, "beamline": str(base / bl)}
    return parse_plan(data)


def parse_plan(data: dict) -> Plan:
    """Validate a plan mapping (as read from YAML; schema:
    :class:`~hipct.planner.schema.PlanModel`) into a :class:`Plan`."""
    m = validate(PlanModel, data)
    if m.beamline is None and m.source is None:
        raise PlanError("beamline: missing; name BM18 or BM05, a beamline YAML file, or give a "
                        "'source' ({type: monochromatic, ...})")
    beamline = load_beamline(m.beamline or "BM18")
    source = beamline.source
    if m.source is not None:
        source = parse_monochromatic(data["source"], "source")
    current = source.ring_current_a if m.ring_current is None else m.ring_current
    z1 = source.source_to_sample_m if m.source_to_sample is None else m.source_to_sample
    if m.propagation_distance is None and m.detector is not None:
        raise PlanError("propagation_distance: missing; the sample-to-detector distance, "
                        "e.g. '5 m' (a dose-only plan, without a detector, needs none)")
    z2 = m.propagation_distance or 0.0
    filter_layers = tuple(parse_layer(f, f"filters[{i}]", beamline.rod_filters)
                          for i, f in enumerate(m.filters))
    detector = None if m.detector is None else _parse_detector(m.detector, beamline)
    sample = _parse_sample(m.sample)
    acq = _parse_acquisition(m.acquisition)
    grid = m.energy_grid
    g = (grid.min, grid.max, grid.step)
    if g[1] <= g[0]:
        raise PlanError("energy_grid: max must exceed min")
    if (g[1] - g[0]) / g[2] > E_GRID_MAX_POINTS:
        raise PlanError(f"energy_grid.step: {g[2]:g} keV gives more than {E_GRID_MAX_POINTS} "
                        f"energies from {g[0]:g} to {g[1]:g} keV; allowed: >= "
                        f"{(g[1] - g[0]) / E_GRID_MAX_POINTS:.3g} keV")
    return Plan(m.name, beamline, source, current, z1, z2, filter_layers,
                detector, m.voxel_size, sample, acq, m.delta_beta, m.target_fill, g, dict(data))


def _parse_detector(d: DetectorModel, beamline: Beamline) -> DetectorPlan:
    camera = beamline.camera(d.camera)
    optic = beamline.optic(d.optic)
    screen = beamline.screen(d.scintillator)
    material = resolve_material(screen.kind.formula, screen.kind.density_g_cm3,
                                field="detector.scintillator")
    binning = d.binning
    if binning not in camera.binnings:
        raise PlanError(f"detector.binning: {binning} is not offered by {camera.name}; allowed: "
                        f"{', '.join(map(str, camera.binnings))}")
    mag = None
    if d.magnification is not None:
        mag = optic.check_magnification(d.magnification, "detector.magnification")
    roi = d.roi
    if roi is None:
        roi_px = (camera.nx // binning, camera.ny // binning)
    else:
        if len(roi) != 2:
            raise PlanError("detector.roi: expected [width, height] in binned pixels")
        roi_px = (whole(roi[0], "detector.roi[0]", 1, 1_000_000),
                  whole(roi[1], "detector.roi[1]", 1, 1_000_000))
        if roi_px[0] > camera.nx // binning or roi_px[1] > camera.ny // binning:
            raise PlanError(f"detector.roi: {list(roi_px)} exceeds the {camera.name} format "
                            f"{camera.nx // binning} x {camera.ny // binning} at binning {binning}")
    return DetectorPlan(camera, optic, screen, material, binning, mag, roi_px)


def _parse_sample(s: SampleModel) -> SamplePlan:
    parsed = tuple(parse_layer(x, f"sample.layers[{i}]") for i, x in enumerate(s.layers))
    if s.tissue is not None:
        want = resolve_material(s.tissue, field="sample.tissue")
        tissue = tuple(i for i, l in enumerate(parsed) if l.material == want)
        if not tissue:
            raise PlanError(f"sample.tissue: {s.tissue!r} is not one of the sample layers")
    else:
        tissue = tuple(i for i, l in enumerate(parsed)
                       if any(h in l.material.name.lower() for h in _TISSUE_HINTS))
        if not tissue and parsed:
            tissue = (max(range(len(parsed)), key=lambda i: parsed[i].thickness_m),)
    medium = None
    if s.medium is not None:
        medium = resolve_material(s.medium, field="sample.medium")
    else:
        others = [l for i, l in enumerate(parsed) if i not in tissue]
        if others:
            medium = max(others, key=lambda l: l.thickness_m).material
    return SamplePlan(parsed, tissue, medium, s.height)


def _parse_acquisition(a: AcquisitionModel) -> AcquisitionPlan:
    kw = {"geometry": a.geometry, "projections": a.projections,
          "subframe_time_s": a.subframe_time, "subframes": a.subframes, "latency_s": a.latency,
          "stages": a.stages, "vertical_step_m": a.vertical_step, "beam_height_m": a.beam_height,
          "n_ref": a.n_ref, "n_dark": a.n_dark, "ref_groups": a.ref_groups,
          "overhead_per_scan_s": a.overhead_per_scan, "overlap_px": float(a.overlap),
          "scan_type": a.scan_type, "pitch_m": a.pitch}
    if a.scan_range is not None:
        top = SCAN_RANGE_MAX_DEG[a.scan_type]
        if a.scan_range > top:
            raise PlanError(f"acquisition.scan_range: {a.scan_range:g} degree is out of range; "
                            f"allowed: 1 to {top:g} degree for scan_type {a.scan_type}")
        kw["scan_range_deg"] = a.scan_range
        kw["scan_range_given"] = True
    if a.pitch is not None and a.scan_type != "helical":
        raise PlanError("acquisition.pitch: only for scan_type: helical")
    if a.scan_type == "helical":
        if (a.stages or 1) != 1 or a.vertical_step is not None:
            raise PlanError("acquisition.stages/vertical_step: a helical scan has no stages; "
                            "give pitch (rise per turn) and scan_range or sample.height")
        if kw.get("scan_range_deg", 360.0) < 360.0 - 1e-6:
            raise PlanError("acquisition.scan_range: a helical scan needs at least one turn "
                            "(360 degrees)")
    if a.geometry in ("half", "quarter") and kw.get("scan_range_deg", 360.0) < 360.0 - 1e-6:
        raise PlanError(f"acquisition.scan_range: {a.geometry} acquisition needs 360 degrees")
    return AcquisitionPlan(**kw)
