"""Vectorised plan sweeps: filters × propagation distances × sub-frame times, ranked by a goal.

A full :func:`~hipct.planner.evaluate.evaluate` costs a few milliseconds, so 10 000 variants
one by one take a minute. The planner's quantities factorise in the sub-frame time, which a
sweep exploits:

* spectral and geometric quantities (detected energy, electrons and X-rays per pixel per
  second, dose rate, δ and β of tissue and medium; magnification, voxel size, projections,
  stages, exposures per voxel, effective distance) depend on the **filters** and the
  **distance** (the propagation medium over the distance changes the spectrum at the screen):
  one evaluation per filter set and distance;
* detector counts scale with the sub-frame time, dose with beam-on time, and the scan time is
  the planner's own time model, all broadcast over ``(filter, distance, time)`` arrays
  (:func:`~hipct.planner.timing.scan_time` is plain arithmetic).

So ``F × D`` evaluations cover ``F × D × T`` variants; the test suite checks random variants
against a full evaluation of the same plan.

The contrast figure of merit, per voxel of the reconstructed slice (:func:`tomographic_cnr`):

    CNR = C · a · sqrt(N_proj) / (pi · sigma_p · sqrt(G(L/a)))

* ``C = 2 k |delta_t - delta_m| / (delta_t / beta_t)``: tissue–medium contrast after Paganin
  retrieval with the tissue's δ/β, at feature sizes below the Paganin length (Paganin et al.
  2002; the retrieved image is ``mu_t`` times the projected δ relative to the tissue's);
* ``sigma_p = 1 / SNR`` per projection pixel (the planner's cascaded detector model) and ``a``
  the voxel size;
* ``(pi / sqrt(N_proj)) sigma_p sqrt(G)`` is the FBP noise of white projection noise
  (Kak & Slaney 1988, §5.1.3): ``G = ∫∫ |H(f_x)|² F(f_x, f_z)² df_x df_z`` over the Nyquist
  square, with ``H = |f| sinc²(f)`` the ramp and interpolation of
  :mod:`~hipct.reconstruction.fbp` and ``F = 1 / (1 + L² |f|²)`` the Paganin filter.
"""

from __future__ import annotations

import dataclasses
import math
import time
from itertools import product

import numpy as np

from hipct.errors import PlanError
from hipct.fields import validate
from hipct.physics.layers import parse_layer
from hipct.physics.materials import delta_beta as material_delta_beta
from hipct.physics.propagation import paganin_length_m

from .evaluate import evaluate
from .geometry import phase_retrieval_resolution_m, wavelength_m
from .plan import Plan
from .schema import AxisRangeModel, FilterGridModel, SweepModel

__all__ = ["SweepSpec", "SweepResult", "parse_sweep", "sweep", "paganin_noise_factor",
           "tomographic_cnr", "noise_integral", "GOALS"]

#: goal name -> (column, larger is better)
# bounds that keep a sweep to seconds and its arrays to megabytes
MAX_AXIS, MAX_FILTER_SETS, MAX_VARIANTS = 1000, 1000, 200_000

GOALS = {"cnr": ("cnr", True), "cnr-per-dose": ("cnr_per_sqrt_gy", True),
         "dose": ("dose_Gy", False), "time": ("scan_time_h", False),
         "range": ("tissue_range_fraction", True)}


@dataclasses.dataclass
class SweepSpec:
    """The axes of a sweep: filter sets, propagation distances (m), sub-frame times (s)."""

    filters: list            # list of (label, tuple of Layer)
    distances_m: np.ndarray
    subframe_times_s: np.ndarray

    @property
    def size(self) -> int:
        return len(self.filters) * self.distances_m.size * self.subframe_times_s.size


def _axis(spec, field: str, parse) -> np.ndarray:
    """A list of values, one value, or ``{from, to, num, spacing: linear|log}``
    (:class:`~.schema.AxisRangeModel`)."""
    if isinstance(spec, dict):
        missing = [k for k in ("from", "to", "num") if k not in spec]
        if missing:
            raise PlanError(f"{field}: missing {', '.join(missing)}; expected "
                            "{from: A, to: B, num: N, spacing: linear|log} or a list")
        r = validate(AxisRangeModel, spec, at=field)
        lo, hi = parse(r.from_, f"{field}.from"), parse(r.to, f"{field}.to")
        if r.spacing == "log":
            if not (lo > 0 and hi > 0):
                raise PlanError(f"{field}: log spacing needs from and to > 0, got "
                                f"{spec['from']!r} and {spec['to']!r}")
            return np.geomspace(lo, hi, r.num)
        return np.linspace(lo, hi, r.num)
    if isinstance(spec, (list, tuple)) and spec:
        if len(spec) > MAX_AXIS:
            raise PlanError(f"{field}: {len(spec)} values; at most {MAX_AXIS} allowed")
        return np.array([parse(v, f"{field}[{i}]") for i, v in enumerate(spec)], dtype=float)
    return np.array([parse(spec, field)], dtype=float)


def _filter_sets(spec, rod_defaults=None) -> list:
    """Filter sets: a list of lists, or ``{base: [...], grid: {MATERIAL: [thicknesses]}}``.

    ``rod_defaults``: the beamline's rod diameter and beam height at the filters (m).
    """
    if isinstance(spec, dict):
        if not isinstance(spec.get("grid"), dict) or not spec["grid"]:
            raise PlanError("sweep filters.grid: expected {MATERIAL: [thickness, ...]}")
        g = validate(FilterGridModel, spec, at="filters")
        base = [parse_layer(f, f"filters.base[{i}]", rod_defaults)
                for i, f in enumerate(g.base)]
        grid = g.grid
        if not grid:
            raise PlanError("sweep filters.grid: expected {MATERIAL: [thickness, ...]}")
        names = list(grid)
        options = []
        n_sets = 1
        for name in names:
            values = grid[name] if isinstance(grid[name], list) else [grid[name]]
            n_sets *= max(1, len(values))
            if n_sets > MAX_FILTER_SETS:
                raise PlanError(f"sweep filters.grid: more than {MAX_FILTER_SETS} filter sets; "
                                "sweep fewer materials or thicknesses")
            options.append([parse_layer(f"{name} {t}", f"filters.grid.{name}", rod_defaults)
                            if not _is_zero(t) else None for t in values])
        sets = []
        for combo in product(*options):
            layers = tuple(base) + tuple(c for c in combo if c is not None)
            label = " + ".join(_label(c) for c in combo if c is not None) or "base only"
            sets.append((label, layers))
        return sets
    if not isinstance(spec, list) or not spec:
        raise PlanError("sweep filters: expected a list of filter lists, or "
                        "{base: [...], grid: {MATERIAL: [thickness, ...]}}")
    if len(spec) > MAX_FILTER_SETS:
        raise PlanError(f"sweep filters: {len(spec)} filter sets; at most {MAX_FILTER_SETS}")
    sets = []
    for i, entry in enumerate(spec):
        entry = entry if isinstance(entry, list) else [entry]
        layers = tuple(parse_layer(f, f"filters[{i}]", rod_defaults) for f in entry)
        sets.append((", ".join(_label(l) for l in layers) or "none", layers))
    return sets


def _is_zero(t) -> bool:
    if isinstance(t, (int, float)):
        return t == 0
    return str(t).strip().split()[0] in ("0", "0.0", "none")


def _label(layer) -> str:
    return f"{layer.material.name} {layer.thickness_m * 1e3:.3g} mm"


def parse_sweep(data: dict, plan: Plan) -> SweepSpec:
    """Read a sweep description (see ``examples/sweep_voi_intact.yaml``; schema:
    :class:`~.schema.SweepModel`).

    Missing axes keep the plan's value: ``filters`` (the plan's own), ``propagation_distance``
    and ``subframe_time``.
    """
    from hipct.units import length_m, time_s

    if not isinstance(data, dict):
        raise PlanError("sweep: expected a mapping with filters, propagation_distance, "
                        "subframe_time")
    validate(SweepModel, data, "sweep")
    if plan.acquisition.scan_type == "helical":
        raise PlanError("--sweep: helical plans cannot be swept yet; sweep the z-series "
                        "plan of the same sample")
    if "filters" in data:
        filters = _filter_sets(data["filters"], plan.beamline.rod_filters)
    else:
        filters = [("plan filters", tuple(plan.filters))]
    z2 = (_axis(data["propagation_distance"], "propagation_distance",
                lambda v, f: length_m(v, f, default_unit="m", allow_zero=True,
                                      bounds=(0, 1000, "m")))
          if "propagation_distance" in data else np.array([plan.propagation_distance_m]))
    t_plan = plan.acquisition.subframe_time_s
    if t_plan is None and "subframe_time" not in data:
        if plan.detector is None:
            raise PlanError("subframe_time: missing in both the plan and the sweep")
        from .evaluate import evaluate  # the plan's default: the target fill
        t_plan = evaluate(plan, warn=False).values["subframe_time_s"]
    t = (_axis(data["subframe_time"], "subframe_time",
               lambda v, f: time_s(v, f, default_unit="ms", bounds=(1e-6, 3600, "s")))
         if "subframe_time" in data else np.array([t_plan]))
    size = len(filters) * z2.size * t.size
    if size > MAX_VARIANTS:
        raise PlanError(f"sweep: {size} variants; at most {MAX_VARIANTS} allowed (fewer filter "
                        "sets, distances or sub-frame times)")
    return SweepSpec(filters, z2, t)


# --- noise model ------------------------------------------------------------------------------

def noise_integral(length_px) -> np.ndarray:
    """``G(L)`` evaluated directly (see :func:`paganin_noise_factor`).

    The ``f_z`` integral of ``F²`` is closed-form (``∫ dz / (A + L² z²)²`` with
    ``A = 1 + L² f_x²``); the ``f_x`` integral is a trapezoid rule on a grid that is dense
    near zero, where the filter's structure (width ~1/L) sits.
    """
    x = np.unique(np.concatenate([np.linspace(0.0, 0.5, 4001), np.geomspace(1e-7, 0.5, 3000)]))
    weight = (x * np.sinc(x) ** 2) ** 2
    out = []
    for L in np.atleast_1d(np.asarray(length_px, dtype=float)):
        if L == 0:
            inner = np.full_like(x, 0.5)
        else:
            A = 1.0 + (L * x) ** 2
            z = 0.5
            inner = z / (2 * A * (A + (L * z) ** 2)) + np.arctan(L * z / np.sqrt(A)) / (
                2 * A ** 1.5 * L)
        out.append(4.0 * np.trapezoid(weight * inner, x))
    return np.array(out)


def _g_table():
    """``G`` on a log grid of Paganin lengths (pixels), for interpolation."""
    lengths = np.concatenate([[0.0], np.geomspace(1e-2, 1e5, 281)])
    return lengths, noise_integral(lengths)


_G = None


def paganin_noise_factor(length_px) -> np.ndarray:
    """``G(L)`` (see module docstring) for Paganin lengths ``L`` in pixels (0: no filter).

    ``G(0) = ∫ f² sinc⁴(f) df`` ≈ 0.0357 (1/12 without the interpolation's ``sinc²``); for
    ``L ≫ 1`` it falls as ``~ pi ln(L) / L⁴`` (the ramp weights the few frequencies the
    filter leaves). Interpolated from :func:`noise_integral` on a log grid.
    """
    global _G
    if _G is None:
        _G = _g_table()
    lengths, g = _G
    x = np.asarray(length_px, dtype=float)
    # interpolate log G against log(1 + L): smooth at both ends
    return np.exp(np.interp(np.log1p(x), np.log1p(lengths), np.log(g)))


def tomographic_cnr(contrast_per_m, voxel_m, n_proj, snr_projection, paganin_length_m):
    """Per-voxel CNR of a reconstructed slice (module docstring; broadcasts)."""
    length_px = np.asarray(paganin_length_m) / np.asarray(voxel_m)
    sigma_p = 1.0 / np.maximum(np.asarray(snr_projection, dtype=float), 1e-300)
    noise = math.pi / np.sqrt(n_proj) * sigma_p * np.sqrt(paganin_noise_factor(length_px))
    return np.asarray(contrast_per_m) * np.asarray(voxel_m) / noise


# --- the sweep --------------------------------------------------------------------------------

@dataclasses.dataclass
class SweepResult:
    """Columns over the flattened ``(filter, distance, time)`` grid, plus ranking helpers."""

    spec: SweepSpec
    columns: dict
    feasible: np.ndarray
    reasons: np.ndarray          # why a variant is out ("" if feasible)
    seconds: float
    plan_name: str = "plan"

    def ranked(self, goal: str = "cnr") -> np.ndarray:
        """Indices of feasible variants, best first."""
        if goal not in GOALS:
            raise PlanError(f"--goal: unknown {goal!r}; allowed: {', '.join(GOALS)}")
        col, larger = GOALS[goal]
        values = np.asarray(self.columns[col], dtype=float)
        idx = np.flatnonzero(self.feasible & np.isfinite(values))
        order = np.argsort(-values[idx] if larger else values[idx], kind="stable")
        return idx[order]

    def row(self, i: int) -> dict:
        out = {k: (v[i].item() if isinstance(v[i], np.generic) else v[i])
               for k, v in self.columns.items()}
        out["feasible"] = bool(self.feasible[i])
        out["excluded_by"] = str(self.reasons[i])
        return out


def _with(plan: Plan, **changes) -> Plan:
    return dataclasses.replace(plan, **changes)


def sweep(plan: Plan, spec: SweepSpec, *, max_dose_gy: float | None = None,
          max_time_s: float | None = None, min_range: float = 0.0,
          max_resolution_um: float | None = None) -> SweepResult:
    """Evaluate every variant of ``spec`` on ``plan``.

    A variant is infeasible when the flat field saturates the full well, the signal behind the
    sample starves (below the planner's threshold), the tissue range fraction is under
    ``min_range``, the dose, time or expected resolution exceeds its budget, or the geometry is impossible (e.g. a
    voxel size the optic cannot reach at that distance).
    """
    t0 = time.perf_counter()
    acq = plan.acquisition
    if acq.subframe_time_s is None:
        plan = _with(plan, acquisition=dataclasses.replace(
            acq, subframe_time_s=float(spec.subframe_times_s[0])))
        acq = plan.acquisition
    t_ref = acq.subframe_time_s
    if plan.detector is None:
        raise PlanError("sweep: the plan needs a detector")
    if not plan.sample.tissue:
        raise PlanError("sweep: the plan's sample needs a tissue layer (for contrast and dose)")

    # spectral and geometric part: one evaluation per filter set and distance (the distance
    # changes the spectrum at the screen through the propagation medium), at the plan's time
    F, D = len(spec.filters), spec.distances_m.size
    spectral = {k: np.full((F, D), np.nan) for k in ("energy", "flat_e", "sample_e", "xray",
                                                     "dose_rate", "contrast", "e_per_x",
                                                     "delta_beta", "edge_delta_beta")}
    medium = plan.sample.medium
    tissue = plan.sample.layers[plan.sample.tissue[0]].material
    geo = {k: np.full(D, np.nan) for k in ("voxel", "z_eff", "n_proj", "stages", "exposures",
                                            "scint", "pen")}
    geo_error = np.full(D, "", dtype=object)
    for j, z2 in enumerate(spec.distances_m):
        for i, (_, layers) in enumerate(spec.filters):
            try:
                v = evaluate(_with(plan, filters=tuple(layers), propagation_distance_m=float(z2)),
                             warn=False).values
            except PlanError as exc:  # impossible geometry: the same for every filter set
                geo_error[j] = str(exc).split(";")[0]
                break
            d = v["detector"]
            e = v["mean_detected_energy_sample_keV"] or v["mean_energy_incident_keV"]
            spectral["energy"][i, j] = e
            spectral["flat_e"][i, j] = d["flat_electrons"]
            spectral["sample_e"][i, j] = d["sample_electrons"]
            spectral["xray"][i, j] = d["xray_photons_per_pixel_projection"] / acq.subframes
            spectral["e_per_x"][i, j] = d["electrons_per_xray"]
            spectral["dose_rate"][i, j] = v["dose_rate_Gy_per_s"]
            db = v["delta_beta"]
            spectral["delta_beta"][i, j] = db
            spectral["edge_delta_beta"][i, j] = v.get("edge_delta_over_beta") or db
            dt, _ = material_delta_beta(tissue, [e])
            dm = material_delta_beta(medium, [e])[0] if medium is not None else np.zeros(1)
            k = 2 * math.pi / wavelength_m(e)
            spectral["contrast"][i, j] = 2 * k * abs(float(dt[0]) - float(dm[0])) / db
            if i == 0:
                geo["voxel"][j] = v["voxel_size_um"] * 1e-6
                geo["z_eff"][j] = v["effective_propagation_distance_m"]
                geo["n_proj"][j] = v["n_projections"]
                geo["stages"][j] = v["stages"]
                geo["exposures"][j] = v["exposures_per_voxel"]
                geo["scint"][j] = v["blur_um"]["scintillator"]
                geo["pen"][j] = v["blur_um"]["source_penumbra"]

    # broadcast over (filter, distance, time)
    t = spec.subframe_times_s[None, None, :]
    fs = plan.frame_settings()
    frame = acq.subframes * (t + fs.latency_s)
    n_proj = geo["n_proj"][None, :, None]
    stages = geo["stages"][None, :, None]
    scans = 2 if acq.geometry == "quarter" else 1
    n_ref, groups, n_dark = fs.n_ref, fs.ref_groups, fs.n_dark
    overhead = fs.overhead_per_scan_s
    beam_on = n_proj * frame                                       # timing.scan_time
    total_s = (beam_on + (n_ref * groups + n_dark) * frame + overhead) * scans * stages

    voxel = geo["voxel"][None, :, None]
    scale = t / t_ref                                              # counts ∝ time
    flat_e = spectral["flat_e"][:, :, None] * scale
    sample_e = spectral["sample_e"][:, :, None] * scale
    xray = spectral["xray"][:, :, None] * scale * acq.subframes
    g = np.maximum(spectral["e_per_x"][:, :, None], 1e-12)         # detector.snr_per_projection
    snr = xray * g / np.sqrt(xray * g * g * (1 + 1 / g)
                             + acq.subframes * plan.detector.camera.read_noise_e ** 2)
    dose = spectral["dose_rate"][:, :, None] * beam_on * geo["exposures"][None, :, None]
    energy = spectral["energy"][:, :, None]
    db = spectral["delta_beta"][:, :, None]
    z_eff = geo["z_eff"][None, :, None]
    paganin_m = paganin_length_m(energy, z_eff, db)
    cnr = tomographic_cnr(spectral["contrast"][:, :, None], voxel, n_proj, snr, paganin_m)
    full = plan.detector.camera.full_well_binned_e(plan.detector.binning)
    shape = (F, D, spec.subframe_times_s.size)
    phase_res = phase_retrieval_resolution_m(spectral["energy"], geo["z_eff"][None, :],
                                             spectral["delta_beta"],
                                             spectral["edge_delta_beta"])[:, :, None]
    res = np.sqrt((2 * voxel * 1e6) ** 2 + geo["scint"][None, :, None] ** 2
                  + geo["pen"][None, :, None] ** 2 + (phase_res * 1e6) ** 2)  # as evaluate()

    def full_grid(a):
        return np.broadcast_to(a, shape).ravel()

    columns = {
        "filters": full_grid(np.array([lab for lab, _ in spec.filters],
                                      dtype=object)[:, None, None]),
        "propagation_distance_m": full_grid(spec.distances_m[None, :, None]),
        "subframe_time_s": full_grid(t),
        "mean_detected_energy_keV": full_grid(energy),
        "voxel_size_um": full_grid(voxel * 1e6),
        "n_projections": full_grid(n_proj),
        "fill_fraction": full_grid(flat_e / full),
        "tissue_range_fraction": full_grid(np.minimum(sample_e, full) / full),
        "snr_per_projection": full_grid(snr),
        "paganin_length_um": full_grid(paganin_m * 1e6),
        "expected_resolution_um": full_grid(res),
        "dose_Gy": full_grid(dose),
        "scan_time_h": full_grid(total_s / 3600.0),
        "cnr": full_grid(cnr),
    }
    columns["cnr_per_sqrt_gy"] = columns["cnr"] / np.sqrt(np.maximum(columns["dose_Gy"], 1e-300))
    reasons = np.full(columns["cnr"].size, "", dtype=object)

    def exclude(mask, why):
        mask = mask & (reasons == "")
        reasons[mask] = why

    for j in np.flatnonzero(geo_error != ""):          # impossible geometry: the planner's words
        sel = full_grid(np.arange(D)[None, :, None] == j)
        reasons[sel] = geo_error[j]
    exclude(columns["fill_fraction"] > 1.0, "saturated")
    from .evaluate import STARVATION_FRACTION
    exclude(full_grid(sample_e < STARVATION_FRACTION * full), "starved")
    exclude(columns["tissue_range_fraction"] < min_range, "range below minimum")
    if max_dose_gy is not None:
        exclude(columns["dose_Gy"] > max_dose_gy, "dose over budget")
    if max_time_s is not None:
        exclude(columns["scan_time_h"] * 3600.0 > max_time_s, "time over budget")
    if max_resolution_um is not None:
        exclude(columns["expected_resolution_um"] > max_resolution_um, "resolution over budget")
    feasible = reasons == ""
    return SweepResult(spec, columns, feasible, reasons, time.perf_counter() - t0, plan.name)
