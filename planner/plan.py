"""The scan plan: a validated, typed description of one acquisition.

A plan is written in YAML (see ``examples/bm18_hemisphere_overview.yaml``); :func:`load_plan`
reads a file, :func:`parse_plan` a mapping. Every field is checked here, at the entry point,
with errors naming the field and what it allows; the physics downstream assumes valid input.
Unknown keys are errors that suggest the closest valid key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hipct.beamlines import Beamline, Source, builtin_beamlines, load_beamline, parse_monochromatic
from hipct.errors import PlanError
from hipct.fields import check_keys, number, read_yaml, whole
from hipct.physics.layers import parse_layer
from hipct.physics.materials import Material, resolve_material
from hipct.units import length_m as _length
from hipct.units import parse_quantity, to_float
from hipct.units import time_s as _time

__all__ = ["Plan", "DetectorPlan", "AcquisitionPlan", "SamplePlan", "load_plan", "parse_plan",
           "PLAN_KEYS", "plan_template"]

# key -> description; drives validation and `hipct plan --template`.
PLAN_KEYS = {
    "name": "free text",
    "beamline": "BM18, BM05 or a path to a beamline YAML file",
    "source": "overrides the beamline source, e.g. {type: monochromatic, energy: 11 keV, "
              "flux: 1e11 1/s, beam_size: 1 mm x 1 mm}",
    "ring_current": "storage-ring current, e.g. 200 mA (default: the beamline's)",
    "source_to_sample": "z1, e.g. 178 m (default: the beamline's)",
    "propagation_distance": "z2 sample-to-detector, e.g. 20 m (not needed without a detector)",
    "filters": "list of 'MATERIAL THICKNESS' or {material, thickness, density, rods, "
               "rod_diameter, beam_height}",
    "detector": "{camera, optic, scintillator, binning, magnification, roi}; omit for dose only",
    "voxel_size": "target voxel size, e.g. 20.07 um (solves a zoom optic's magnification)",
    "sample": "{layers: [...], tissue: NAME, height: LENGTH}",
    "acquisition": "{geometry, projections, subframe_time, subframes, latency, stages, "
                   "vertical_step, beam_height, n_ref, n_dark, overhead_per_scan, "
                   "scan_type (zseries or helical), pitch (helical: rise per turn)}",
    "delta_beta": "δ/β used for the Paganin length (default: the tissue's at the detected energy)",
    "target_fill": "flat-field fill of the full well to aim for (default 0.8)",
    "energy_grid": "{min, max, step} in keV (default 5-400 keV, 0.5 keV)",
}
_TEMPLATE = """\
# A hipct scan plan (YAML). Plan it with:  hipct plan THIS_FILE.yaml [--plot DIR]
# Lengths, times and currents carry units ('20 m', '12 ms', '200 mA'). Commented lines are
# optional; their defaults are stated. Fields: hipct plan --help and README.md.
name: my-scan                     # free text, names the report and the figures
beamline: BM18                    # {beamlines}, or a path to a beamline YAML file
# ring_current: 200 mA            # storage-ring current (default: the beamline's)
# source_to_sample: 178 m         # z1 (default: the beamline's)
propagation_distance: 5 m         # z2, sample to detector
filters: [sapphire 5 mm, Ag 0.1 mm]   # 'MATERIAL THICKNESS', first to last along the beam;
                                  # or {{material, thickness, density, rods: true}}
detector:                         # leave out for dose and time only
  camera: IRIS15                  # {cameras}
  optic: Fixed x1                 # {optics}
  scintillator: LuAG 100 um       # 'TYPE THICKNESS'; types: {scintillators}
  binning: 1
  # magnification: 1              # the optic magnification (a zoom optic: this or voxel_size)
  # roi: [5056, 2960]             # [width, height] read out, binned pixels (default: full)
# voxel_size: 4.25 um             # target voxel size (solves a zoom optic's magnification)
sample:
  layers: [PET 4 mm, ethanol 70% 40 mm, brain 70 mm, ethanol 70% 40 mm]   # along the beam
  # tissue: brain                 # the layer(s) imaged (default: the thickest non-medium)
  # medium: ethanol 70%           # what surrounds the tissue, for its contrast
  # height: 50 mm                 # sample height: sets the number of vertical stages
acquisition:
  geometry: half                  # full (180°), half (360°, axis near an edge) or quarter
  # projections: 6000             # default: (π/2) × reconstructed width
  # subframe_time: 12 ms          # default: fills the detector to target_fill
  subframes: 1                    # sub-frames accumulated per projection
  # stages: 1                     # vertical stages (default: from sample.height)
  # vertical_step: 5 mm           # between stages (default: the beamline's)
# delta_beta: 2000                # Paganin δ/β (default: the tissue's at the detected energy)
# target_fill: 0.8                # flat-field fill of the full well to aim for
"""


def plan_template() -> str:
    """A commented YAML plan that plans as printed, naming the built-in beamlines' cameras,
    optics and scintillator types (``hipct plan --template``)."""
    names = builtin_beamlines()
    beamlines = [load_beamline(n) for n in names]

    def union(attr):
        return ", ".join(dict.fromkeys(k for b in beamlines for k in getattr(b, attr)))
    return _TEMPLATE.format(beamlines=", ".join(names), cameras=union("cameras"),
                            optics=union("optics"), scintillators=union("scintillators"))


_DETECTOR_KEYS = ("camera", "optic", "scintillator", "binning", "magnification", "roi")
_SAMPLE_KEYS = ("layers", "tissue", "medium", "height")
_ACQ_KEYS = ("geometry", "projections", "subframe_time", "subframes", "latency", "stages",
             "vertical_step", "beam_height", "n_ref", "n_dark", "ref_groups",
             "overhead_per_scan", "overlap", "scan_range", "scan_type", "pitch")
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


def _check_keys(mapping, allowed, where: str):
    check_keys(mapping, allowed, where)


def _int(value, field: str, minimum: int = 1, maximum: int = 1_000_000) -> int:
    return whole(value, field, minimum, maximum)


# bounds of the energy grid: xraylib's cross sections end below 1000 keV; a grid of more
# points than this would take minutes per plan
E_GRID_MIN_KEV, E_GRID_MAX_KEV, E_GRID_MAX_POINTS = 1.0, 800.0, 20_000


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
    """Validate a plan mapping (as read from YAML) into a :class:`Plan`."""
    _check_keys(data, PLAN_KEYS, "")
    if "beamline" not in data and "source" not in data:
        raise PlanError("beamline: missing; name BM18 or BM05, a beamline YAML file, or give a "
                        "'source' ({type: monochromatic, ...})")
    beamline = load_beamline(str(data.get("beamline", "BM18")))
    source = beamline.source
    if "source" in data:
        s = data["source"]
        if not isinstance(s, dict) or s.get("type") != "monochromatic":
            raise PlanError("source: only {type: monochromatic, energy, flux, beam_size} may "
                            "replace the beamline source")
        _check_keys(s, ("type", "energy", "flux", "beam_size", "source_to_sample"), "source")
        source = parse_monochromatic(s, "source")
    current = source.ring_current_a
    if "ring_current" in data:
        current = to_float(parse_quantity(data["ring_current"], "current", "ring_current"), "A")
        if current > 0.5:
            raise PlanError(f"ring_current: {data['ring_current']!r} is out of range; ESRF-EBS "
                            f"runs at up to 200 mA")
    z1 = source.source_to_sample_m
    if "source_to_sample" in data:
        z1 = _length(data["source_to_sample"], "source_to_sample", bounds=(0.01, 10_000, "m"))
    if "propagation_distance" not in data and data.get("detector") is not None:
        raise PlanError("propagation_distance: missing; the sample-to-detector distance, "
                        "e.g. '5 m' (a dose-only plan, without a detector, needs none)")
    z2 = _length(data.get("propagation_distance", "0 m"), "propagation_distance",
                 allow_zero=True, bounds=(0, 1000, "m"))
    filters = data.get("filters") or []
    if not isinstance(filters, list):
        raise PlanError("filters: expected a list, e.g. [sapphire 10 mm, Ag 0.2 mm]")
    filter_layers = tuple(parse_layer(f, f"filters[{i}]", beamline.rod_filters)
                          for i, f in enumerate(filters))

    voxel = None
    if data.get("voxel_size") is not None:
        voxel = _length(data["voxel_size"], "voxel_size", bounds=(1e-9, 0.1, "m"))

    detector = None
    if data.get("detector") is not None:
        detector = _parse_detector(data["detector"], beamline)
    sample = _parse_sample(data.get("sample") or {})
    acq = _parse_acquisition(data.get("acquisition") or {})
    delta_beta = None
    if data.get("delta_beta") is not None:
        delta_beta = number(data["delta_beta"], "delta_beta", 0, 1e6)
    fill = number(data.get("target_fill", 0.8), "target_fill", 0, 1, open_lo=True)
    grid = data.get("energy_grid") or {}
    _check_keys(grid, ("min", "max", "step"), "energy_grid")
    g = tuple(to_float(parse_quantity(grid.get(k, d), "energy", f"energy_grid.{k}"), "keV")
              for k, d in (("min", "5 keV"), ("max", "400 keV"), ("step", "0.5 keV")))
    for key, value in zip(("min", "max"), g):
        if not E_GRID_MIN_KEV <= value <= E_GRID_MAX_KEV:
            raise PlanError(f"energy_grid.{key}: {value:g} keV is out of range; allowed: "
                            f"{E_GRID_MIN_KEV:g} to {E_GRID_MAX_KEV:g} keV (the cross-section "
                            "tables)")
    if g[1] <= g[0]:
        raise PlanError("energy_grid: max must exceed min")
    if (g[1] - g[0]) / g[2] > E_GRID_MAX_POINTS:
        raise PlanError(f"energy_grid.step: {g[2]:g} keV gives more than {E_GRID_MAX_POINTS} "
                        f"energies from {g[0]:g} to {g[1]:g} keV; allowed: >= "
                        f"{(g[1] - g[0]) / E_GRID_MAX_POINTS:.3g} keV")
    name = data.get("name", "plan")
    if not isinstance(name, (str, int, float)) or isinstance(name, bool) or len(str(name)) > 200:
        raise PlanError(f"name: expected text of at most 200 characters, got {str(name)[:40]!r}")
    return Plan(str(name), beamline, source, current, z1, z2, filter_layers,
                detector, voxel, sample, acq, delta_beta, fill, g, dict(data))


def _parse_detector(d, beamline: Beamline) -> DetectorPlan:
    _check_keys(d, _DETECTOR_KEYS, "detector")
    for key in ("camera", "optic", "scintillator"):
        if key not in d:
            raise PlanError(f"detector.{key}: missing (a detector needs camera, optic and "
                            f"scintillator)")
    camera = beamline.camera(str(d["camera"]))
    optic = beamline.optic(str(d["optic"]))
    screen = beamline.screen(str(d["scintillator"]))
    material = resolve_material(screen.kind.formula, screen.kind.density_g_cm3,
                                field="detector.scintillator")
    binning = _int(d.get("binning", 1), "detector.binning")
    if binning not in camera.binnings:
        raise PlanError(f"detector.binning: {binning} is not offered by {camera.name}; allowed: "
                        f"{', '.join(map(str, camera.binnings))}")
    mag = None
    if d.get("magnification") is not None:
        mag = optic.check_magnification(number(d["magnification"], "detector.magnification",
                                               0, 1e4, open_lo=True), "detector.magnification")
    roi = d.get("roi")
    if roi is None:
        roi_px = (camera.nx // binning, camera.ny // binning)
    else:
        if not isinstance(roi, (list, tuple)) or len(roi) != 2:
            raise PlanError("detector.roi: expected [width, height] in binned pixels")
        roi_px = (_int(roi[0], "detector.roi[0]"), _int(roi[1], "detector.roi[1]"))
        if roi_px[0] > camera.nx // binning or roi_px[1] > camera.ny // binning:
            raise PlanError(f"detector.roi: {list(roi_px)} exceeds the {camera.name} format "
                            f"{camera.nx // binning} x {camera.ny // binning} at binning {binning}")
    return DetectorPlan(camera, optic, screen, material, binning, mag, roi_px)


def _parse_sample(s) -> SamplePlan:
    _check_keys(s, _SAMPLE_KEYS, "sample")
    layers = s.get("layers") or []
    if not isinstance(layers, list):
        raise PlanError("sample.layers: expected a list, e.g. [PET 4 mm, brain 70 mm]")
    parsed = tuple(parse_layer(x, f"sample.layers[{i}]") for i, x in enumerate(layers))
    tissue_name = s.get("tissue")
    if tissue_name is not None:
        want = resolve_material(str(tissue_name), field="sample.tissue")
        tissue = tuple(i for i, l in enumerate(parsed) if l.material == want)
        if not tissue:
            raise PlanError(f"sample.tissue: {tissue_name!r} is not one of the sample layers")
    else:
        tissue = tuple(i for i, l in enumerate(parsed)
                       if any(h in l.material.name.lower() for h in _TISSUE_HINTS))
        if not tissue and parsed:
            tissue = (max(range(len(parsed)), key=lambda i: parsed[i].thickness_m),)
    medium = None
    if s.get("medium") is not None:
        medium = resolve_material(str(s["medium"]), field="sample.medium")
    else:
        others = [l for i, l in enumerate(parsed) if i not in tissue]
        if others:
            medium = max(others, key=lambda l: l.thickness_m).material
    height = (_length(s["height"], "sample.height", bounds=(None, 10, "m"))
              if s.get("height") is not None else None)
    return SamplePlan(parsed, tissue, medium, height)


def _parse_acquisition(a) -> AcquisitionPlan:
    _check_keys(a, _ACQ_KEYS, "acquisition")
    geometry = str(a.get("geometry", "half")).lower()
    if geometry not in ("full", "half", "quarter"):
        raise PlanError(f"acquisition.geometry: {a['geometry']!r} is not allowed; use full, "
                        f"half or quarter")
    kw = {"geometry": geometry}
    if a.get("projections") is not None:
        kw["projections"] = _int(a["projections"], "acquisition.projections")
    if a.get("subframe_time") is not None:
        kw["subframe_time_s"] = _time(a["subframe_time"], "acquisition.subframe_time",
                                      bounds=(1e-6, 3600, "s"))
    kw["subframes"] = _int(a.get("subframes", 1), "acquisition.subframes", maximum=10_000)
    if a.get("latency") is not None:
        kw["latency_s"] = _time(a["latency"], "acquisition.latency", allow_zero=True,
                                bounds=(0, 3600, "s"))
    if a.get("stages") is not None:
        kw["stages"] = _int(a["stages"], "acquisition.stages", maximum=100_000)
    for key, name in (("vertical_step", "vertical_step_m"), ("beam_height", "beam_height_m")):
        if a.get(key) is not None:
            kw[name] = _length(a[key], f"acquisition.{key}", bounds=(1e-7, 10, "m"))
    for key in ("n_ref", "n_dark", "ref_groups"):
        if a.get(key) is not None:
            kw[key] = _int(a[key], f"acquisition.{key}", minimum=0, maximum=100_000)
    if a.get("overhead_per_scan") is not None:
        kw["overhead_per_scan_s"] = _time(a["overhead_per_scan"], "acquisition.overhead_per_scan",
                                          allow_zero=True, bounds=(0, 86400, "s"))
    if a.get("overlap") is not None:
        kw["overlap_px"] = float(_int(a["overlap"], "acquisition.overlap", minimum=0,
                                      maximum=100_000))
    scan_type = str(a.get("scan_type", "zseries")).lower()
    if scan_type not in ("zseries", "helical"):
        raise PlanError(f"acquisition.scan_type: {a['scan_type']!r} is not allowed; use zseries "
                        "or helical")
    kw["scan_type"] = scan_type
    if a.get("scan_range") is not None:
        # a helical scan turns many times (up to 1000 turns); a tomogram at most 10 turns
        top = 360_000 if scan_type == "helical" else 3600
        rng = parse_quantity(a["scan_range"], "dimensionless", "acquisition.scan_range",
                             default_unit="degree", bounds=(1, top, "degree"))
        kw["scan_range_deg"] = float(rng.to("degree").magnitude)
        kw["scan_range_given"] = True
    if a.get("pitch") is not None:
        if scan_type != "helical":
            raise PlanError("acquisition.pitch: only for scan_type: helical")
        kw["pitch_m"] = _length(a["pitch"], "acquisition.pitch", bounds=(1e-7, 1, "m"))
    if scan_type == "helical":
        if kw.get("stages", 1) != 1 or a.get("vertical_step") is not None:
            raise PlanError("acquisition.stages/vertical_step: a helical scan has no stages; "
                            "give pitch (rise per turn) and scan_range or sample.height")
        if kw.get("scan_range_deg", 360.0) < 360.0 - 1e-6:
            raise PlanError("acquisition.scan_range: a helical scan needs at least one turn "
                            "(360 degrees)")
    if geometry in ("half", "quarter") and kw.get("scan_range_deg", 360.0) < 360.0 - 1e-6:
        raise PlanError(f"acquisition.scan_range: {geometry} acquisition needs 360 degrees")
    return AcquisitionPlan(**kw)
