"""Human-readable text report of a :class:`~hipct.planner.evaluate.PlanResult`."""

from __future__ import annotations

__all__ = ["format_report"]


def _f(x, fmt=".4g", unit=""):
    if x is None:
        return "—"
    return f"{x:{fmt}}{(' ' + unit) if unit else ''}"


def format_report(result) -> str:
    """Multi-line report with units, grouped as a beamline scientist reads a plan."""
    p, v = result.plan, result.values
    src = p.source
    where = (f"with a monochromatic source ({src.energy_kev:.4g} keV)"
             if src.type == "monochromatic" else f"on {p.beamline.name}")
    lines = [f"Plan '{p.name}' {where}", ""]
    if src.type == "monochromatic":
        lines.append(f"Source        monochromatic {src.energy_kev:.4g} keV, "
                     f"{src.flux_per_s:.3g} ph/s over {src.beam_area_mm2:.3g} mm²")
    else:
        lines.append(f"Source        bending magnet {src.field_t:g} T, {p.ring_current_a * 1e3:.4g} mA, "
                     f"z1 = {p.source_to_sample_m:g} m")
    if p.filters:
        lines.append("Filters       " + ", ".join(l.label + (" (rods: eff. "
                     f"{l.thickness_m * 1e3:.3g} mm)" if l.rods else "") for l in p.filters))
    if p.sample.layers:
        lines.append("Sample        " + ", ".join(l.label for l in p.sample.layers)
                     + (f"  [tissue: {v.get('tissue')}]" if v.get("tissue") else ""))
    lines += ["", "Energy"]
    lines.append(f"  mean detected energy, open beam     {_f(v['mean_detected_energy_keV'], '.1f', 'keV')}"
                 f"  (photon-weighted {_f(v.get('photon_mean_detected_energy_keV'), '.1f', 'keV')})")
    lines.append(f"  mean detected energy, behind sample {_f(v['mean_detected_energy_sample_keV'], '.1f', 'keV')}"
                 f"  (photon-weighted {_f(v.get('photon_mean_detected_energy_sample_keV'), '.1f', 'keV')})")
    lines.append(f"  sample transmission (detector signal) {_f(v['sample_transmission'], '.3%')}")
    lines += ["", "Geometry"]
    lines.append(f"  voxel size            {_f(v['voxel_size_um'], '.4g', 'µm')}"
                 + (f"  (optic {v['optic_magnification']:.4g}x)" if v.get("optic_magnification") else ""))
    lines.append(f"  X-ray magnification   {v['xray_magnification']:.5g}   effective distance "
                 f"{v['effective_propagation_distance_m']:.4g} m   Fresnel number "
                 f"{_f(v.get('fresnel_number'), '.3g')}")
    if v.get("paganin_length_um"):
        lines.append(f"  Paganin length (δ/β = {v['delta_beta']:.0f})  {v['paganin_length_um']:.4g} µm"
                     f" = {v['paganin_length_px']:.3g} px")
    fov = v.get("field_of_view_mm")
    if fov:
        hel = v.get("helical")
        cover = (f"helical, {hel['turns']:.4g} turns of {hel['pitch_mm']:.4g} mm cover"
                 if hel else f"{v['stages']} stage(s) cover")
        lines.append(f"  field of view ({p.acquisition.geometry})  {fov['width']:.4g} mm wide x "
                     f"{fov['height']:.4g} mm high; {cover} {v['covered_height_mm']:.4g} mm")
    if v.get("expected_resolution_um"):
        b = v["blur_um"]
        lines.append(f"  expected resolution   {v['expected_resolution_um']:.3g} µm  (2 voxels "
                     f"{b['pixel_nyquist']:.3g}, scintillator {b['scintillator']:.3g}, source "
                     f"{b['source_penumbra']:.3g}, phase retrieval {b['phase_retrieval']:.3g} µm)")
    lines.append(f"  projections           {v['n_projections']}"
                 + (f" (recommended ≥ {v['recommended_projections']})"
                    if v.get("recommended_projections") else ""))
    dd = v.get("detector")
    if dd:
        lines += ["", "Detector (per sub-frame)"]
        lines.append(f"  flat field        {dd['flat_electrons']:.4g} e-  = {dd['fill_fraction']:.1%} "
                     f"of the {dd['full_well_electrons']:.4g} e- full well"
                     + ("  SATURATED" if dd["saturated"] else ""))
        lines.append(f"  behind sample     {dd['sample_electrons']:.4g} e-  = "
                     f"{dd['sample_fill_fraction']:.1%}" + ("  STARVED" if dd["starved"] else ""))
        if dd["grey_levels_tissue"] is not None:
            lines.append(f"  tissue vs medium  {dd['grey_levels_tissue']:.4g} grey levels")
        t_fill = dd["recommended_subframe_time_s"]
        lines.append(f"  SNR per projection {dd['snr_per_projection']:.4g}   sub-frame for "
                     f"{p.target_fill:.0%} fill: "
                     + (f"{t_fill * 1e3:.3g} ms" if t_fill else "— (no signal)"))
    lines += ["", "Dose and time"]
    lines.append(f"  dose rate (depth-averaged)  {v['dose_rate_Gy_per_s']:.4g} Gy/s   entrance "
                 f"{v['entrance_dose_rate_Gy_per_s']:.4g} Gy/s")
    lines.append(f"  total dose                  {v['dose_Gy']:.4g} Gy   entrance "
                 f"{v['entrance_dose_Gy']:.4g} Gy")
    if v.get("subframe_time_s"):
        lines.append(f"  sub-frame time              {v['subframe_time_s'] * 1e3:.3g} ms × "
                     f"{p.acquisition.subframes}"
                     + (f"  (chosen: fills the detector to the {p.target_fill:.0%} target)"
                        if v.get("subframe_time_chosen") else ""))
    lines.append(f"  scan time                   {v['scan_time_h']:.3g} h  ({v['scan_time_s']:.0f} s;"
                 f" {v['time_per_tomogram_s']:.1f} s per tomogram, {v['scans_per_stage']} per stage)")
    if result.warnings:
        lines += ["", "Warnings"] + [f"  ! {w}" for w in result.warnings]
    return "\n".join(lines)
