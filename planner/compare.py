"""Side-by-side comparison of evaluated plans (``hipct compare``): rows of numbers, no I/O.

Each plan becomes one flat record of the planner's predictions, under the same keys as
``hipct plan --json``; :func:`comparison_table` lays the records out as text columns.
Simulated image quality (``--simulate``) is merged into the same records by the caller.
"""

from __future__ import annotations

__all__ = ["plan_record", "comparison_table", "ROWS"]

#: (record key, label, format) of the table rows; missing values print as '-'
ROWS = [
    ("beamline", "beamline", "{}"),
    ("voxel_size_um", "voxel size (um)", "{:.4g}"),
    ("mean_detected_energy_keV", "mean detected energy, open beam (keV)", "{:.1f}"),
    ("mean_detected_energy_sample_keV", "mean detected energy, behind sample (keV)", "{:.1f}"),
    ("tissue_path_mm", "tissue path (mm)", "{:.3g}"),
    ("sample_transmission", "sample transmission", "{:.2%}"),
    ("detector_fill_fraction", "detector fill, flat field", "{:.1%}"),
    ("tissue_range_fraction", "detector range used behind tissue", "{:.1%}"),
    ("grey_levels_tissue", "grey levels tissue vs medium", "{:.0f}"),
    ("snr_per_projection", "SNR per projection pixel", "{:.3g}"),
    ("delta_beta", "delta/beta (tissue)", "{:.0f}"),
    ("paganin_length_um", "Paganin length (um)", "{:.3g}"),
    ("expected_resolution_um", "predicted resolution (um)", "{:.3g}"),
    ("n_projections", "projections", "{:d}"),
    ("dose_Gy", "dose (Gy)", "{:.4g}"),
    ("scan_time_h", "scan time (h)", "{:.3g}"),
    ("cnr", "simulated CNR grey/white", "{:.3g}"),
    ("cnr_per_sqrt_dose", "simulated CNR per sqrt(Gy)", "{:.3g}"),
    ("frc_resolution_um", "simulated FRC resolution, half-bit (um)", "{:.3g}"),
    ("correlation", "simulated correlation with phantom", "{:.3f}"),
    ("simulated_tissue_range_fraction", "simulated detector range behind tissue", "{:.1%}"),
]


def plan_record(result, source: str | None = None) -> dict:
    """Flat record of one :class:`~hipct.planner.evaluate.PlanResult` (JSON-friendly)."""
    v = result.values
    det = v.get("detector") or {}
    rec = {"name": result.plan.name, "file": source, "beamline": result.plan.beamline.name}
    for key in ("voxel_size_um", "mean_detected_energy_keV", "mean_detected_energy_sample_keV",
                "tissue_path_mm", "sample_transmission", "tissue_range_fraction", "delta_beta",
                "paganin_length_um", "expected_resolution_um", "n_projections", "dose_Gy",
                "scan_time_s", "scan_time_h", "fresnel_number",
                "effective_propagation_distance_m"):
        rec[key] = v.get(key)
    rec["detector_fill_fraction"] = det.get("fill_fraction")
    rec["grey_levels_tissue"] = det.get("grey_levels_tissue")
    rec["snr_per_projection"] = det.get("snr_per_projection")
    rec["warnings"] = list(result.warnings)
    return rec


def comparison_table(records: list) -> str:
    """The records as a text table, one column per plan."""
    names = [r["name"] for r in records]
    label_w = max(len(lbl) for _, lbl, _ in ROWS)
    col_w = max(12, *(len(n) for n in names))
    lines = [" " * label_w + "  " + "  ".join(f"{n:>{col_w}}" for n in names)]
    for key, label, fmt in ROWS:
        vals = [r.get(key) for r in records]
        if all(v is None for v in vals):
            continue
        cells = []
        for v in vals:
            try:
                cells.append("-" if v is None else fmt.format(v))
            except (ValueError, TypeError):
                cells.append(str(v))
        lines.append(f"{label:<{label_w}}  " + "  ".join(f"{c:>{col_w}}" for c in cells))
    return "\n".join(lines)
