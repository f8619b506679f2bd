"""Human Organ Atlas (HOA) metadata: read a record into a plan, write a plan as a ``scan`` block.

The HOA schema (``hoa-tools``, metadata version 1.1) records distances in mm, pixel size in µm,
times in s and the ring current in mA. The public catalogue ships inside ``hoa-tools``; it is
read here straight from the package's data folder (importing ``hoa_tools`` itself pulls in
pandas, xarray and dask and takes seconds).
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import json
import math
from pathlib import Path

from hipct.errors import PlanError

__all__ = ["catalogue_dir", "catalogue_names", "load_hoa_record", "plan_dict_from_hoa",
           "exposure_is_per_subframe", "hoa_scan_block"]

_HOA_SENSOR = {"IRIS15": "Iris15"}
_HOA_SCINTILLATOR = {"LuAG": "LuAG:Ce", "LSO": "LSO:Ce", "LYSO": "LySO:Ce"}


def _hoa_screen(screen) -> str:
    """HOA spelling of a screen: keep the user's text if it is already 'NAME 100um...'."""
    if "um" in screen.label.replace(" um", "um") and " um" not in screen.label:
        return screen.label
    name = _HOA_SCINTILLATOR.get(screen.kind.name, screen.kind.name)
    return f"{name} {screen.thickness_m * 1e6:g}um"


def catalogue_dir() -> Path | None:
    """Folder of the public HOA metadata JSON files shipped with ``hoa-tools``, if installed."""
    spec = importlib.util.find_spec("hoa_tools")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "metadata" / "metadata"
    return path if path.is_dir() else None


def catalogue_names() -> list[str]:
    """Names of every dataset in the installed HOA catalogue (empty without ``hoa-tools``)."""
    folder = catalogue_dir()
    return sorted(p.stem for p in folder.glob("*.json")) if folder else []


def load_hoa_record(name_or_path: str) -> dict:
    """Load one HOA metadata record from a JSON path or a catalogue dataset name.

    Raises
    ------
    PlanError
        Missing file, invalid JSON, or an unknown dataset name (with close names).
    """
    path = Path(name_or_path)
    if path.suffix.lower() == ".json" or path.exists():
        try:
            return json.loads(path.read_text())
        except OSError as exc:
            raise PlanError(f"--from-hoa: cannot read {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise PlanError(f"--from-hoa: {path} is not valid JSON (line {exc.lineno}: "
                            f"{exc.msg})") from None
    folder = catalogue_dir()
    if folder is None:
        raise PlanError(f"--from-hoa: {name_or_path!r} is not a JSON file, and dataset names need "
                        f"hoa-tools (pip install hoa-tools)")
    f = folder / f"{name_or_path}.json"
    if not f.is_file():
        import difflib
        close = difflib.get_close_matches(name_or_path, catalogue_names(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise PlanError(f"--from-hoa: no dataset {name_or_path!r} in the HOA catalogue{hint}")
    return json.loads(f.read_text())


def exposure_is_per_subframe(scan: dict) -> bool:
    """Whether a record without ``subframe_time`` gives ``exposure_time`` per sub-frame.

    Records without a sub-frame time (BM05, PCO edge) mix two conventions: the exposure of a
    whole frame or of one of its ``n_subframes`` sub-frames. The record's own timing decides:
    a frame lasts n (t_exp + t_lat) under the second, t_exp + t_lat under the first, and the
    recorded ``scan_time / n_frames`` (frames plus flats, darks and motions, so never shorter
    than a frame) is matched to the nearer one (in log ratio) that it does not undercut by
    more than 10 %. Without the timing, or with one sub-frame, the whole-frame convention.
    """
    n_sub = int(scan.get("n_subframes") or 1)
    t_exp, n_frames, total = scan.get("exposure_time"), scan.get("n_frames"), scan.get("scan_time")
    if n_sub <= 1 or not (t_exp and n_frames and total):
        return False
    per_frame = float(total) / float(n_frames)
    t_lat = float(scan.get("latency_time") or 0.0)
    per_sub = n_sub * (t_exp + t_lat)
    whole = t_exp + t_lat
    if per_sub > 1.1 * per_frame:
        return False
    return abs(math.log(per_frame / per_sub)) < abs(math.log(per_frame / whole))


def plan_dict_from_hoa(record: dict) -> dict:
    """Translate an HOA record (or its ``scan`` block) into a plan mapping for ``parse_plan``.

    The HOA schema has no sample geometry: the plan is an open-beam plan (no sample layers).
    """
    scan = record.get("scan", record)
    if not isinstance(scan, dict) or "beamline" not in scan:
        raise PlanError("--from-hoa: the record has no 'scan' block with a 'beamline'")

    def need(key):
        if scan.get(key) is None:
            raise PlanError(f"--from-hoa: scan.{key} is missing in {record.get('name', 'record')}")
        return scan[key]

    plan: dict = {"name": record.get("name", "hoa-scan"), "beamline": scan["beamline"]}
    if scan.get("current_start"):
        plan["ring_current"] = f"{scan['current_start']} mA"
    if scan.get("distance_source_sample"):
        plan["source_to_sample"] = f"{scan['distance_source_sample']} mm"
    plan["propagation_distance"] = f"{need('distance_sample_detector')} mm"
    plan["filters"] = list(scan.get("filters") or [])
    if scan.get("sensor_name") and scan.get("optic") and scan.get("scintillator"):
        binning = int((scan.get("sensor_binning") or [1, 1])[0])
        det = {"camera": scan["sensor_name"], "optic": scan["optic"],
               "scintillator": scan["scintillator"], "binning": binning}
        if scan.get("optic_magnification"):
            det["magnification"] = float(scan["optic_magnification"])
        if scan.get("sensor_roi_x_size") and scan.get("sensor_roi_y_size"):
            det["roi"] = [int(scan["sensor_roi_x_size"]), int(scan["sensor_roi_y_size"])]
        plan["detector"] = det
    if scan.get("pixel_size"):
        plan["voxel_size"] = f"{scan['pixel_size']} um"
    acq: dict = {"geometry": scan.get("acquisition") or "half"}
    helical = scan.get("scan_type") == "helical"
    if scan.get("n_frames"):
        acq["projections"] = int(scan["n_frames"])
        if helical and scan.get("scan_range"):
            # a helical record counts the frames of all turns; the plan counts one turn
            acq["projections"] = int(round(scan["n_frames"] * 360.0 / scan["scan_range"]))
    if helical:
        acq["scan_type"] = "helical"
        if scan.get("scan_range"):
            acq["scan_range"] = f"{scan['scan_range']} deg"
    n_sub = int(scan.get("n_subframes") or 1)
    t_sub = scan.get("subframe_time")
    latency = scan.get("latency_time")
    if t_sub is None and scan.get("exposure_time"):
        if exposure_is_per_subframe(scan):
            t_sub = scan["exposure_time"]
        else:
            # The frame's exposure and one latency per frame: t_frame = exposure + latency.
            # Spread both over the sub-frames.
            t_sub = scan["exposure_time"] / n_sub
            if latency is not None:
                latency = latency / n_sub
    acq["subframe_time"] = f"{need('subframe_time') if t_sub is None else t_sub} s"
    acq["subframes"] = n_sub
    if latency is not None:
        acq["latency"] = f"{latency} s"
    if scan.get("n_scans") and not helical:
        acq["stages"] = int(scan["n_scans"])
    if scan.get("z_step") and not helical:
        acq["vertical_step"] = f"{scan['z_step']} mm"
    for key in ("n_ref", "n_dark"):
        if scan.get(key) is not None:
            acq[key] = int(scan[key])
    plan["acquisition"] = acq
    return plan


def hoa_scan_block(result, date: str | None = None) -> dict:
    """The plan and its predictions as an HOA-schema ``scan`` block (metadata version 1.1)."""
    p, v = result.plan, result.values
    acq, d = p.acquisition, p.detector
    t_lat = v["latency_s"]
    block = {
        "date": date or _dt.date.today().isoformat(),
        "beamline": p.beamline.name,
        "energy": round(v["mean_detected_energy_keV"], 1) if v.get("mean_detected_energy_keV")
        else None,
        "current_start": round(p.ring_current_a * 1e3, 3),
        "n_frames": v["helical"]["frames"] if v.get("helical") else v["n_projections"],
        "n_ref": p.frame_settings().n_ref,
        "n_dark": p.frame_settings().n_dark,
        "latency_time": t_lat,
        "exposure_time": v["exposure_time_s"],
        "subframe_time": acq.subframe_time_s,
        "n_subframes": acq.subframes,
        "scan_type": acq.scan_type,
        "scan_range": acq.scan_range_deg,
        "n_scans": v["stages"],
        "acquisition": acq.geometry if acq.geometry in ("half", "quarter") else None,
        "z_step": v["vertical_step_mm"] if v["stages"] > 1 else None,
        "scan_time": round(v["time_per_tomogram_s"], 3),
        "filters": [l.label for l in p.filters],
        "distance_source_sample": p.source_to_sample_m * 1e3,
        "distance_sample_detector": p.propagation_distance_m * 1e3,
        "pixel_size": round(v["voxel_size_um"], 4) if v.get("voxel_size_um") else None,
        "xray_magnification": v["xray_magnification"],
    }
    if d is not None:
        block.update({
            "scintillator": _hoa_screen(d.screen),
            "optic": d.optic.name,
            "optic_magnification": v.get("optic_magnification"),
            "sensor_name": _HOA_SENSOR.get(d.camera.name, d.camera.name),
            "sensor_roi_x_size": d.roi_px[0],
            "sensor_roi_y_size": d.roi_px[1],
            "sensor_binning": [d.binning, d.binning],
        })
    return block
