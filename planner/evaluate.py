"""Evaluate a :class:`~hipct.planner.plan.Plan`: from source to detector, dose and time.

This module only composes the physics modules (spectrum, layers, detector, geometry, dose,
timing); each formula and its source is documented where it is defined.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from hipct.errors import HipctWarning, PlanError
from hipct.physics import PhaseRetrieval, PlannedScan
from hipct.physics.layers import Layer, transmission
from hipct.physics.materials import delta_beta as material_delta_beta
from hipct.physics.materials import resolve_material

from . import detector as det
from . import geometry as geo
from .dose import dose_rate_gy_per_s, exposures_per_voxel
from .plan import Plan
from .spectrum import Spectrum, bending_magnet_spectrum_at_sample, default_energy_grid, monochromatic_spectrum
from .timing import scan_time

__all__ = ["PlanResult", "evaluate"]

STARVATION_FRACTION = 0.02  # behind-sample signal below 2 % of the full well: starved


@dataclass
class PlanResult:
    """Everything the planner predicts for one plan (SI-style units in the names)."""

    plan: Plan
    energy_kev: np.ndarray
    spectra: dict  # name -> Spectrum (source, filtered, sample, detected)
    transmission_curves: dict  # name -> array over energy
    values: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    phase_retrieval: PhaseRetrieval | None = None

    def to_json(self) -> dict:
        """The machine-readable report (``hipct plan --json``)."""
        out = {"name": self.plan.name, "beamline": self.plan.beamline.name}
        out.update(self.values)
        out["warnings"] = list(self.warnings)
        return out

    def planned_scan(self) -> PlannedScan:
        """The typed hand-off to the simulator, the reconstruction and the study."""
        v = self.values
        det = v.get("detector") or {}

        def opt(value, scale=1.0):
            return None if value is None else float(value) * scale

        return PlannedScan(
            name=self.plan.name,
            voxel_size_m=float(v["voxel_size_um"]) * 1e-6,
            open_beam_mean_energy_kev=opt(v.get("mean_detected_energy_keV")),
            behind_sample_mean_energy_kev=opt(v.get("mean_detected_energy_sample_keV")),
            effective_propagation_distance_m=opt(v.get("effective_propagation_distance_m")),
            projections=int(v["n_projections"]),
            stages=int(v.get("stages") or 1),
            scans_per_stage=int(v.get("scans_per_stage") or 1),
            vertical_step_m=opt(v.get("vertical_step_mm"), 1e-3),
            dose_gy=float(v["dose_Gy"]),
            flat_fill_fraction=opt(det.get("fill_fraction")),
            sample_fill_fraction=opt(det.get("sample_fill_fraction")),
            phase_retrieval=self.phase_retrieval,
            report=self.to_json())


def _spectrum_at_sample(plan: Plan, energy: np.ndarray) -> Spectrum:
    s = plan.source
    if s.type == "monochromatic":
        return monochromatic_spectrum(s.energy_kev, s.flux_per_s, s.beam_area_mm2)
    return bending_magnet_spectrum_at_sample(energy, s.field_t, s.electron_energy_gev,
                                             plan.ring_current_a, plan.source_to_sample_m)


def _helical(plan: Plan, n_proj: int, fov_h, notes: list) -> dict:
    """Turns, frames and coverage of a helical scan (``projections`` per 360° turn).

    The number of turns is the plan's ``scan_range`` / 360°, else what covers
    ``sample.height`` (see :func:`~hipct.planner.geometry.helical_coverage`). Without a
    ``pitch`` (HOA records do not give one) a voxel is taken to be in the beam for the
    turns it needs (pitch = beam height / turns needed): the least dose that reconstructs.
    """
    acq = plan.acquisition
    needed = 0.5 if acq.geometry == "full" else 1.0
    beam_h = acq.beam_height_m or fov_h
    pitch = acq.pitch_m
    if beam_h is None:
        raise PlanError("acquisition.beam_height: a helical scan needs the beam height (or a "
                        "detector and voxel size for the field of view)")
    if pitch is None:
        pitch = beam_h / needed
        notes.append(f"helical: no pitch given; taken as {pitch * 1e3:.4g} mm per turn "
                     "(each voxel in the beam for the turns it needs)")
    if acq.scan_range_given:
        turns = acq.scan_range_deg / 360.0
    elif plan.sample.height_m is not None:
        turns = max(2 * needed, (plan.sample.height_m - beam_h) / pitch + 2 * needed)
    else:
        raise PlanError("acquisition.scan_range: a helical scan needs scan_range (e.g. 1800 "
                        "deg) or sample.height to set its number of turns")
    covered, in_beam = geo.helical_coverage(turns, pitch, beam_h, needed)
    if in_beam < needed - 1e-9:
        notes.append(f"helical: pitch {pitch * 1e3:.4g} mm leaves each voxel {in_beam:.2f} "
                     f"turn(s) in the beam, fewer than the {needed:g} a slice needs")
    return {"pitch_mm": pitch * 1e3, "turns": turns, "frames": int(round(n_proj * turns)),
            "turns_in_beam_per_voxel": in_beam, "covered_height_mm": covered * 1e3,
            "travel_mm": turns * pitch * 1e3}


def evaluate(plan: Plan, *, warn: bool = True) -> PlanResult:
    """Predict energy, geometry, detector fill, dose and time for ``plan``.

    Parameters
    ----------
    plan : Plan
    warn : bool
        Also emit each warning as a :class:`~hipct.errors.HipctWarning` (the CLI collects them
        from the result instead).

    Returns
    -------
    PlanResult

    Notes
    -----
    A plan with a detector but no ``acquisition.subframe_time`` gets the sub-frame time that
    fills the detector to ``target_fill`` in the open beam (detector fill is linear in the
    sub-frame time); ``values["subframe_time_chosen"]`` is then True.
    """
    if plan.acquisition.subframe_time_s is None and plan.detector is not None:
        probe = _evaluate(_with_subframe(plan, 1e-3))
        t_fill = (probe.values.get("detector") or {}).get("recommended_subframe_time_s")
        if t_fill:
            result = _evaluate(_with_subframe(plan, t_fill), warn=warn)
            result.values["subframe_time_chosen"] = True
            return result
    result = _evaluate(plan, warn=warn)
    result.values["subframe_time_chosen"] = False
    return result


def _with_subframe(plan: Plan, t_sub_s: float) -> Plan:
    from dataclasses import replace
    return replace(plan, acquisition=replace(plan.acquisition, subframe_time_s=float(t_sub_s)))


def _evaluate(plan: Plan, *, warn: bool = False) -> PlanResult:
    notes: list[str] = []
    v: dict = {}
    if plan.source.type == "monochromatic":
        energy = np.array([plan.source.energy_kev])
    else:
        energy = default_energy_grid(*plan.energy_grid_kev)
    src = _spectrum_at_sample(plan, energy)
    t_filters = transmission(plan.beamline.beamline_filters + plan.filters, energy)
    layers = plan.sample.layers
    t_sample = transmission(layers, energy)
    filtered = src * t_filters
    behind = filtered * t_sample
    spectra = {"source": src, "filtered": filtered, "behind sample": behind}
    curves = {"filters": t_filters, "sample": t_sample}
    # The propagation distance is in the beamline's propagation medium (air unless the
    # beamline file says vacuum): Beer-Lambert over z2 between the sample and the screen.
    medium = plan.beamline.propagation_medium
    z2_m = plan.propagation_distance_m or 0.0
    if medium is not None and z2_m > 0:
        t_medium = transmission([Layer(resolve_material(medium), z2_m, z2_m, medium)], energy)
        curves[f"{medium} over the propagation distance"] = t_medium
    else:
        t_medium = np.ones_like(energy)
    at_screen = filtered * t_medium  # open beam at the screen
    behind_at_screen = behind * t_medium

    # --- detector: energy actually seen ------------------------------------------------------
    d = plan.detector
    if d is not None:
        e_dep = det.deposited_energy_kev(d.screen_material, d.screen.thickness_m, energy)
        absorbed = det.absorbed_fraction(d.screen_material, d.screen.thickness_m, energy)
        curves["scintillator absorption"] = absorbed
        dep_fraction = e_dep / np.maximum(energy, 1e-12)
        spectra["absorbed in screen x E_dep/E (open beam)"] = at_screen * dep_fraction
        spectra["absorbed in screen x E_dep/E (behind sample)"] = behind_at_screen * dep_fraction
        v["mean_detected_energy_keV"] = det.mean_detected_energy_kev(at_screen, e_dep)
        v["mean_detected_energy_sample_keV"] = det.mean_detected_energy_kev(behind_at_screen,
                                                                            e_dep)
        v["photon_mean_detected_energy_keV"] = det.photon_weighted_mean_energy_kev(at_screen,
                                                                                 absorbed)
        v["photon_mean_detected_energy_sample_keV"] = det.photon_weighted_mean_energy_kev(
            behind_at_screen, absorbed)
        signal_open = float((at_screen.photons_per_s_mm2 * e_dep).sum())
        signal_behind = float((behind_at_screen.photons_per_s_mm2 * e_dep).sum())
        v["sample_transmission"] = signal_behind / signal_open if signal_open > 0 else 0.0
    else:
        e_dep = None
        v["mean_detected_energy_keV"] = None
        v["mean_detected_energy_sample_keV"] = None
        v["sample_transmission"] = (behind.total / filtered.total) if filtered.total > 0 else 0.0
    v["mean_energy_incident_keV"] = filtered.mean_energy_kev()
    v["definition_mean_detected_energy"] = (
        "mean of E weighted by the energy deposited in the scintillator, Φ(E)·T(E)·E_dep(E), "
        "E_dep with escape or reabsorption of fluorescence and Compton photons in the screen; "
        "'photon_mean_*' weight by absorbed photons")

    # --- geometry ----------------------------------------------------------------------------
    z1, z2 = plan.source_to_sample_m, plan.propagation_distance_m or 0.0
    mag = geo.xray_magnification(z1, z2)
    z_eff = geo.effective_distance_m(z1, z2)
    v["xray_magnification"] = mag
    v["effective_propagation_distance_m"] = z_eff
    voxel = plan.voxel_size_m
    optic_mag = None
    if d is not None:
        if d.magnification is not None:
            optic_mag = d.magnification
        elif voxel is not None:
            optic_mag = geo.optic_magnification_for(voxel, d.camera.pixel_size_m, d.binning, mag)
            if d.optic.type == "fixed" and abs(optic_mag / d.optic.mag_max - 1) > 0.05:
                raise PlanError(
                    f"voxel_size: {voxel * 1e6:.4g} um needs an optic magnification of "
                    f"{optic_mag:.3g}x, but {d.optic.name} is fixed at {d.optic.mag_max:g}x "
                    f"(giving {geo.voxel_size_m(d.camera.pixel_size_m, d.binning, d.optic.mag_max, mag) * 1e6:.4g} um); "
                    f"change the optic, binning or distance")
            if d.optic.type == "fixed":
                optic_mag = d.optic.mag_max
            else:
                try:
                    d.optic.check_magnification(optic_mag, "voxel_size")
                except PlanError:
                    lo = geo.voxel_size_m(d.camera.pixel_size_m, d.binning, d.optic.mag_max, mag)
                    hi = geo.voxel_size_m(d.camera.pixel_size_m, d.binning, d.optic.mag_min, mag)
                    raise PlanError(
                        f"voxel_size: {voxel * 1e6:.4g} um cannot be reached with {d.optic.name} "
                        f"at binning {d.binning}: it gives {lo * 1e6:.4g}-{hi * 1e6:.4g} um "
                        f"({d.optic.mag_min:g}x-{d.optic.mag_max:g}x)") from None
        else:
            if d.optic.type != "fixed":
                raise PlanError(f"voxel_size: missing; {d.optic.name} is a zoom optic, so give "
                                f"voxel_size or detector.magnification")
            optic_mag = d.optic.mag_max
        computed = geo.voxel_size_m(d.camera.pixel_size_m, d.binning, optic_mag, mag)
        if voxel is not None and abs(computed / voxel - 1) > 0.01:
            notes.append(f"voxel_size {voxel * 1e6:.4g} um differs from camera pixel x binning / "
                         f"magnification = {computed * 1e6:.4g} um")
        if voxel is None or d.magnification is not None:
            voxel = computed
        v["optic_magnification"] = optic_mag
    v["voxel_size_um"] = voxel * 1e6 if voxel is not None else None

    acq = plan.acquisition
    defaults = plan.beamline.defaults
    scans_per_stage = 2 if acq.geometry == "quarter" else 1
    fov_w = fov_h = None
    if d is not None and voxel is not None:
        fov_w = geo.field_of_view_m(d.roi_px[0], voxel, acq.geometry, acq.overlap_px)
        fov_h = d.roi_px[1] * voxel
        v["field_of_view_mm"] = {"width": fov_w * 1e3, "height": fov_h * 1e3}
        v["detector_width_mm"] = d.roi_px[0] * voxel * 1e3
        n_rec = geo.recommended_projections(fov_w, voxel)
        v["recommended_projections"] = n_rec
        v["reconstructed_width_px"] = int(round(fov_w / voxel))
    else:
        n_rec = None
        v["field_of_view_mm"] = None
    n_proj = acq.projections or n_rec
    if n_proj is None:
        raise PlanError("acquisition.projections: missing; without a detector and voxel size it "
                        "cannot be recommended")
    if n_rec is not None and acq.projections is not None and acq.projections < n_rec:
        notes.append(f"{acq.projections} projections undersample the {v['reconstructed_width_px']}"
                     f"-pixel reconstruction: (π/2)·width asks for {n_rec}")
    v["n_projections"] = n_proj
    v["scans_per_stage"] = scans_per_stage

    step = acq.vertical_step_m or defaults.vertical_step_m
    helical = None
    if acq.scan_type == "helical":
        helical = _helical(plan, n_proj, fov_h, notes)
        stages = 1
    elif acq.stages is not None:
        stages = acq.stages
    elif plan.sample.height_m is not None and fov_h is not None:
        stages = geo.stages_for_height(plan.sample.height_m, min(fov_h, acq.beam_height_m or fov_h),
                                       step)
    else:
        stages = 1
    v["stages"] = stages
    v["vertical_step_mm"] = step * 1e3
    if fov_h is not None and stages > 1 and step > fov_h:
        notes.append(f"vertical_step {step * 1e3:.3g} mm exceeds the field of view height "
                     f"{fov_h * 1e3:.3g} mm: gaps between stages")
    if helical is not None:
        v["helical"] = helical
        v["covered_height_mm"] = helical["covered_height_mm"]
    elif fov_h is not None:
        v["covered_height_mm"] = ((stages - 1) * step + fov_h) * 1e3

    # --- time ---------------------------------------------------------------------------------
    t_sub = acq.subframe_time_s
    if t_sub is None:
        raise PlanError("acquisition.subframe_time: missing, e.g. '12 ms' (it defaults to the "
                        "target fill only with a detector and voxel size that receive signal)")
    # latency: the camera's read-out dead time (no camera, no read-out: a dose-only plan)
    fs = plan.frame_settings()
    t_lat = fs.latency_s
    times = scan_time(helical["frames"] if helical else n_proj, acq.subframes, t_sub, t_lat,
                      n_ref=fs.n_ref, ref_groups=fs.ref_groups, n_dark=fs.n_dark,
                      overhead_s=fs.overhead_per_scan_s,
                      scans_per_stage=scans_per_stage, stages=stages)
    v["scan_time_s"] = times.total_s
    v["scan_time_h"] = times.total_s / 3600.0
    v["time_per_tomogram_s"] = times.per_tomogram_s
    v["time_per_stage_s"] = times.per_stage_s
    v["latency_s"] = t_lat
    v["exposure_time_s"] = acq.subframes * t_sub
    # beam-on time of one tomogram (helical: of one turn) and how many of them a voxel sees
    beam_on_s = times.beam_on_per_tomogram_s
    if helical is not None:
        beam_on_s = n_proj * acq.subframes * (t_sub + t_lat)
        helical["time_per_turn_s"] = beam_on_s
    v["subframe_time_s"] = t_sub

    # --- dose ----------------------------------------------------------------------------------
    tissue_idx = plan.sample.tissue
    if tissue_idx:
        first = tissue_idx[0]
        before = transmission(layers[:first], energy)
        tissue = layers[first].material
        path = sum(layers[i].thickness_m for i in tissue_idx)
        entrance, mean = dose_rate_gy_per_s(filtered * before, tissue, path)
        beam_h = acq.beam_height_m or fov_h or step
        exposures = (helical["turns_in_beam_per_voxel"] * scans_per_stage if helical
                     else exposures_per_voxel(stages, beam_h, step, scans_per_stage))
        v["tissue"] = tissue.name
        v["tissue_path_mm"] = path * 1e3
        v["dose_rate_Gy_per_s"] = mean
        v["entrance_dose_rate_Gy_per_s"] = entrance
        v["exposures_per_voxel"] = exposures
        v["time_in_beam_per_voxel_s"] = beam_on_s * exposures
        v["dose_Gy"] = mean * beam_on_s * exposures
        v["entrance_dose_Gy"] = entrance * beam_on_s * exposures
    else:
        entrance, _ = dose_rate_gy_per_s(filtered, resolve_material("water"), 0.0)
        v["tissue"] = None
        v["dose_rate_Gy_per_s"] = entrance
        v["entrance_dose_rate_Gy_per_s"] = entrance
        exposures = (helical["turns_in_beam_per_voxel"] * scans_per_stage if helical
                     else scans_per_stage)
        v["time_in_beam_per_voxel_s"] = beam_on_s * exposures
        v["dose_Gy"] = entrance * beam_on_s * exposures
        v["entrance_dose_Gy"] = v["dose_Gy"]
        notes.append("no tissue layer: dose is the entrance dose to water")

    # --- detector dynamic range ----------------------------------------------------------------
    if d is not None and voxel is not None:
        pixel_area_mm2 = (voxel * 1e3) ** 2
        eff = det.collection_efficiency(d.optic.na_at(optic_mag), d.screen.kind.refractive_index) \
            * d.optic.transmission * d.camera.quantum_efficiency
        ly = d.screen.kind.light_yield_per_mev
        flat_e = det.electrons_per_pixel(at_screen, e_dep, pixel_area_mm2, t_sub, ly, eff)
        sample_e = det.electrons_per_pixel(behind_at_screen, e_dep, pixel_area_mm2, t_sub, ly,
                                           eff)
        full = d.camera.full_well_binned_e(d.binning)  # a binned pixel's well
        gain = d.camera.gain_e_per_adu
        fill = flat_e / full
        medium_e = None
        if tissue_idx and plan.sample.medium is not None:
            swapped = [Layer(plan.sample.medium, l.thickness_m, l.nominal_m, l.label)
                       if i in tissue_idx else l for i, l in enumerate(layers)]
            medium_only = at_screen * transmission(swapped, energy)
            medium_e = det.electrons_per_pixel(medium_only, e_dep, pixel_area_mm2, t_sub, ly, eff)
        grey_tissue = (abs(medium_e - sample_e) / gain) if medium_e is not None else None
        xray_flat = float((at_screen.photons_per_s_mm2 * absorbed).sum()) * pixel_area_mm2 * t_sub
        xray_behind = (float((behind_at_screen.photons_per_s_mm2 * absorbed).sum())
                       * pixel_area_mm2 * t_sub)
        e_per_x = flat_e / xray_flat if xray_flat > 0 else 0.0
        snr = det.snr_per_projection(xray_behind * acq.subframes, e_per_x, d.camera.read_noise_e,
                                     acq.subframes)
        v["detector"] = {
            "flat_electrons": flat_e,
            "sample_electrons": sample_e,
            "full_well_electrons": full,
            "fill_fraction": fill,
            "sample_fill_fraction": sample_e / full,
            "saturated": bool(flat_e > full),
            "starved": bool(sample_e < STARVATION_FRACTION * full),
            "gain_electrons_per_adu": gain,
            "flat_grey_levels": min(flat_e, full) / gain,
            "sample_grey_levels": min(sample_e, full) / gain,
            "grey_levels_tissue": grey_tissue,
            "tissue_range_fraction": min(sample_e, full) / full,
            "electrons_per_xray": e_per_x,
            "xray_photons_per_pixel_projection": xray_behind * acq.subframes,
            "snr_per_projection": snr,
            "recommended_subframe_time_s": t_sub * plan.target_fill / fill if fill > 0 else None,
            "collection_efficiency": eff,
        }
        v["tissue_range_fraction"] = min(sample_e, full) / full
        if flat_e > full:
            notes.append(f"detector saturates in the flat field: {flat_e:.3g} e- per sub-frame "
                         f"> full well {full:.3g} e-; shorten subframe_time to "
                         f"{v['detector']['recommended_subframe_time_s'] * 1e3:.3g} ms")
        elif sample_e < STARVATION_FRACTION * full:
            notes.append(f"detector starves behind the sample: {sample_e:.3g} e- per sub-frame is "
                         f"{sample_e / full:.2%} of the full well")
    else:
        v["detector"] = None
        v["tissue_range_fraction"] = None

    # --- propagation and resolution ------------------------------------------------------------
    e_ref = v["mean_detected_energy_sample_keV"] or v["mean_energy_incident_keV"]
    v["fresnel_number"] = None
    if tissue_idx and e_ref and math.isfinite(e_ref):
        dl, bt = material_delta_beta(layers[tissue_idx[0]].material, [e_ref])
        v["tissue_delta"] = float(dl[0])
        v["tissue_beta"] = float(bt[0])
        v["tissue_delta_over_beta"] = float(dl[0] / bt[0])
        # the edges imaged are tissue against its medium: their Δδ/Δβ sets how well the
        # filter's δ/β matches them (geometry.phase_retrieval_resolution_m)
        v["edge_delta_over_beta"] = v["tissue_delta_over_beta"]
        if plan.sample.medium is not None:
            dm, bm = material_delta_beta(plan.sample.medium, [e_ref])
            if bt[0] != bm[0]:
                v["edge_delta_over_beta"] = abs(float((dl[0] - dm[0]) / (bt[0] - bm[0])))
    db = plan.delta_beta if plan.delta_beta is not None else v.get("tissue_delta_over_beta")
    v["delta_beta"] = db
    phase = None
    if voxel is not None and e_ref and z2 > 0:
        v["fresnel_number"] = geo.fresnel_number(voxel, e_ref, z_eff)
        if db:
            basis = ("mean detected energy behind the sample"
                     if v["mean_detected_energy_sample_keV"] else
                     "mean incident energy behind the filters (no detector)")
            phase = PhaseRetrieval(float(e_ref), z_eff, voxel, float(db), basis)
            L = phase.paganin_length_m
            v["paganin_length_um"] = L * 1e6
            v["paganin_length_px"] = L / voxel
            v["phase_retrieval"] = phase.to_dict()
    if d is not None and voxel is not None:
        scint = det.scintillator_blur_um(d.screen.thickness_m * 1e6, d.optic.na_at(optic_mag)) / mag
        pen = geo.penumbral_blur_m(2.3548 * plan.source.size_rms_h_m, z1, z2) * 1e6
        pag = (geo.phase_retrieval_resolution_m(phase.energy_kev, phase.z_eff_m,
                                                phase.delta_beta,
                                                v.get("edge_delta_over_beta")) * 1e6
               if phase is not None else 0.0)
        res = math.sqrt((2 * voxel * 1e6) ** 2 + scint ** 2 + pen ** 2 + pag ** 2)
        v["blur_um"] = {"pixel_nyquist": 2 * voxel * 1e6, "scintillator": scint,
                        "source_penumbra": pen, "phase_retrieval": pag}
        v["expected_resolution_um"] = res

    result = PlanResult(plan, energy, spectra, curves, v, notes, phase)
    if warn:
        for n in notes:
            warnings.warn(n, HipctWarning, stacklevel=2)
    return result

