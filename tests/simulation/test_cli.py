"""``hipct simulate`` and ``hipct compare``: outputs, JSON keys, one-line errors."""

import json

import h5py
import numpy as np

from hipct.cli import main
from hipct.reconstruction.io.readers import open_scan


def test_simulate_writes_a_readable_nxtomo(small_plan_path, tmp_path, capsys):
    out = tmp_path / "raw.nx"
    assert main(["simulate", str(small_plan_path), "-o", str(out), "--width", "48",
                 "--rows", "3", "--projections", "20", "--flats", "7", "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    scan = open_scan(out)
    assert (scan.n_proj, scan.n_rows, scan.n_cols) == (20, 3, 48)
    assert scan.flat_frames.size == 7
    assert scan.pixel_size_m == np.float64(summary["voxel_size_um"] * 1e-6)
    assert np.degrees(scan.theta[-1]) < 360 and summary["half_acquisition"]
    proj = scan.read("proj", slice(0, 3))
    flat = scan.read("flat", slice(0, 3))
    assert proj.dtype == np.float32 and np.all(proj < flat.mean(axis=0) + 5 * flat.std())
    with h5py.File(out) as f:
        prov = json.loads(f["entry/hipct/data"][()])
        assert prov["rotation_axis_column"] == summary["rotation_axis_column"]
        assert f["entry/instrument/detector/data"].dtype == np.uint16


def test_simulate_errors_are_one_line(small_plan_path, tmp_path, capsys):
    out = tmp_path / "raw.nx"
    out.write_text("keep me")
    assert main(["simulate", str(small_plan_path), "-o", str(out)]) == 2
    assert out.read_text() == "keep me"
    assert main(["simulate", str(small_plan_path), "-o", str(tmp_path / "b.nx"),
                 "--blur", "3 s"]) == 2
    assert main(["simulate", str(small_plan_path), "-o", str(tmp_path / "c.nx"),
                 "--width", "4"]) == 2
    assert main(["simulate", str(small_plan_path), "-o", str(tmp_path / "d.nx"),
                 "--flats", "0"]) == 2
    no_det = tmp_path / "nodet.yaml"
    no_det.write_text("beamline: BM05\npropagation_distance: 1 m\n"
                      "sample: {layers: [brain 1 mm]}\nacquisition: {subframe_time: 1 ms}\n")
    assert main(["simulate", str(no_det), "-o", str(tmp_path / "d.nx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5 and all(line.startswith("hipct: error:") for line in err)
    assert "--blur" in err[1] and "width" in err[2] and "--flats" in err[3]
    assert "detector" in err[4]
    assert not (tmp_path / "b.nx").exists() and not list(tmp_path.glob(".*.tmp"))


def test_compare_json_has_the_required_keys(small_plan_path, tmp_path, capsys):
    other = tmp_path / "other.yaml"
    other.write_text(small_plan_path.read_text().replace("0.05 m", "0.1 m")
                     .replace("small-test", "small-far"))
    figs = tmp_path / "figs"
    assert main(["compare", str(small_plan_path), str(other), "--json", "--simulate",
                 "--region", "64", "--plot", str(figs)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in data["plans"]] == ["small-test", "small-far"]
    for p in data["plans"]:
        for key in ("mean_detected_energy_keV", "sample_transmission", "dose_Gy",
                    "scan_time_s", "tissue_range_fraction", "cnr", "frc_resolution_um"):
            assert isinstance(p[key], float), key
        # the simulated detector range behind tissue is the planner's prediction, measured
        assert abs(p["simulated_tissue_range_fraction"] / p["tissue_range_fraction"] - 1) < 0.03
    names = sorted(x.name for x in figs.glob("*.png"))
    assert names == ["compare_detector_fill.png", "compare_frc_nps.png",
                     "compare_histograms.png", "compare_slices.png", "compare_spectra.png",
                     "compare_summary.png"]


def test_compare_table_without_simulation(capsys):
    assert main(["compare", "examples/voi_0p857um_excised.yaml",
                 "examples/voi_0p857um_intact.yaml"]) == 0
    out = capsys.readouterr().out
    assert "voi-0.857um-excised-block" in out and "sample transmission" in out
    assert "simulated" not in out
