"""End to end: ``hipct reconstruct`` on the real tooth scan and on synthetic NXtomo scans."""

import io
import json

import numpy as np
import pytest
import zarr

from hipct.cli import main
from hipct.reconstruction import fbp, phantom
from tests.reconstruction.conftest import killed_after_first_slab


def _run(capsys, *args):
    code = main(["reconstruct", *map(str, args), "--quiet"])
    return code, capsys.readouterr().err


def test_tooth_end_to_end(tooth_path, tmp_path, capsys):
    out = tmp_path / "tooth.ome.zarr"
    code, err = _run(capsys, tooth_path, "-o", out, "--no-phase", "--cor", "auto")
    assert code == 0, err
    group = zarr.open_group(str(out), mode="r")
    vol = group["0"][:]
    assert vol.shape == (2, 593, 593) and vol.dtype == np.float32
    # OME-Zarr 0.4 as the Human Organ Atlas tools read it
    from ome_zarr_models.v04.image import Image
    Image.from_zarr(group)
    ms = group.attrs["multiscales"][0]
    assert [t["type"] for t in ms["datasets"][0]["coordinateTransformations"]] == ["scale", "translation"]
    assert ms["axes"][0] == {"name": "z", "type": "space", "unit": "micrometer"}
    # the NIfTI header gives the same voxel size and origin
    import nibabel as nib
    hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(bytes(group["nifti"][:])))
    assert hdr.get_zooms() == (1.0, 1.0, 1.0) and hdr.get_xyzt_units()[0] == "micron"
    assert hdr.get_data_shape() == (593, 593, 2)
    assert hdr["sform_code"] > 0 and hdr["qform_code"] > 0
    np.testing.assert_allclose(hdr.get_sform()[:3, 3],
                               ms["datasets"][0]["coordinateTransformations"][1]["translation"][::-1])
    prov = group.attrs["hipct"]
    assert len(prov["inputs"][0]["sha256"]) == 64
    assert prov["parameters"]["cor"][0] == pytest.approx(295.5, abs=1.5)
    assert "pixel size" in err          # warned: unknown pixel size, values per pixel


def _synthetic(tmp_path, make_scan, **kw):
    path = tmp_path / "scan.nx"
    theta, ell = make_scan(path, **kw)
    return path, theta, ell


@pytest.mark.parametrize("method", fbp.METHODS)
def test_synthetic_180_matches_direct_fbp(tmp_path, capsys, make_scan, method):
    path, theta, ell = _synthetic(tmp_path, make_scan, n_rows=4, width=96, n_proj=181)
    out = tmp_path / "v.ome.zarr"
    code, err = _run(capsys, path, "-o", out, "--no-phase", "--cor", "47.5", "--fbp", method)
    assert code == 0, err
    group = zarr.open_group(str(out), mode="r")
    assert group.attrs["hipct"]["parameters"]["fbp_method"] == method
    vol = group["0"][:]
    u = np.arange(96) - 47.5
    direct = fbp.fbp(phantom.sinogram(ell, theta, u), theta, u[0], method=method) / (5e-6 * 100)
    np.testing.assert_allclose(vol[0], direct, atol=1e-3 * np.abs(direct).max())
    ms = zarr.open_group(str(out), mode="r").attrs["multiscales"][0]
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [5.0, 5.0, 5.0]


def test_half_acquisition_auto_centre_end_to_end(tmp_path, capsys, make_scan):
    path, theta, ell = _synthetic(tmp_path, make_scan, n_rows=3, width=80, n_proj=400, full_turn=True,
                                  cor=70.3, radius_frac=0.8)
    out = tmp_path / "half.h5"
    code, err = _run(capsys, path, "-o", out, "--no-phase", "--format", "hdf5")
    assert code == 0, err
    import h5py
    with h5py.File(out) as f:
        attrs = json.loads(f["volume"].attrs["hipct"])
        assert attrs["hipct"]["parameters"]["cor"][0] == pytest.approx(70.3, abs=0.5)
        assert f["volume"].shape[1] >= 140                   # field of view ~2× the detector


def test_paganin_driven_by_plan_values(tmp_path, capsys, make_scan):
    path, *_ = _synthetic(tmp_path, make_scan, n_rows=8, width=64, n_proj=91)
    out = tmp_path / "p.ome.zarr"
    code, err = _run(capsys, path, "-o", out, "--delta-beta", "500", "--cor", "31.5",
                     "--unsharp", "1.5,0.5", "--rings", "9", "--dtype", "uint16")
    assert code == 0, err
    g = zarr.open_group(str(out), mode="r")
    params = g.attrs["hipct"]["parameters"]
    assert params["physics_sources"] == {"energy_kev": "file", "distance_m": "file",
                                         "pixel_size_m": "file", "delta_beta": "command line"}
    assert params["paganin_margin_px"] > 0
    assert g["0"].dtype == np.uint16 and len(params["intensity_window_per_cm"]) == 2


def test_chunked_equals_unchunked_and_resume_is_identical(tmp_path, capsys, monkeypatch, make_scan):
    path, *_ = _synthetic(tmp_path, make_scan, n_rows=12, width=64, n_proj=91)
    common = ["--delta-beta", "300", "--cor", "31.5"]
    whole = tmp_path / "whole.ome.zarr"
    assert _run(capsys, path, "-o", whole, *common)[0] == 0
    # a small memory budget forces several chunks; the run dies after the first slab
    out = tmp_path / "resumed.ome.zarr"
    budget = ["--memory", "4MB"]
    with killed_after_first_slab(monkeypatch):
        code, err = _run(capsys, path, "-o", out, *common, *budget)
    assert code == 130 and not out.exists()            # nothing half-written appears
    code, err = _run(capsys, path, "-o", out, *common, *budget, "--resume")
    assert code == 0, err
    a = zarr.open_group(str(whole), mode="r")["0"][:]
    b = zarr.open_group(str(out), mode="r")["0"][:]
    assert zarr.open_group(str(out), mode="r").attrs["hipct"]["parameters"]["chunk_rows"] < 12
    np.testing.assert_allclose(b, a, atol=5e-5 * np.abs(a).max())   # chunked == unchunked
    # and resumed == uninterrupted with the same chunking, bit for bit
    again = tmp_path / "again.ome.zarr"
    assert _run(capsys, path, "-o", again, *common, *budget)[0] == 0
    np.testing.assert_array_equal(zarr.open_group(str(again), mode="r")["0"][:], b)


@pytest.mark.parametrize("args, message", [
    (["--no-phase", "--cor", "1,2"], "--cor: 2 value"),
    (["--no-phase", "--rows", "5:2"], "--rows"),
    (["--memory", "lots"], "--memory"),
    (["--delta-beta", "-3"], "--delta-beta"),
    (["--format", "nrrd"], None),
    (["--energy", "30 m", "--delta-beta", "100"], "--energy"),
    # the Fourier back-projector's plans (~0.1 MB here) are counted against the budget
    (["--no-phase", "--cor", "15.5", "--memory", "0.1MB"], "or --fbp linear"),
])
def test_bad_options_give_one_line(tmp_path, capsys, args, message, make_scan):
    path, *_ = _synthetic(tmp_path, make_scan, n_rows=2, width=32, n_proj=40)
    if message is None:                                   # argparse's own choice check
        with pytest.raises(SystemExit) as exc:
            main(["reconstruct", str(path), "-o", str(tmp_path / "o.zarr"), *args])
        assert exc.value.code == 2
        return
    code, err = _run(capsys, path, "-o", tmp_path / "o.zarr", *args)
    assert code == 2
    assert err.strip().count("\n") == 0 and message in err


def test_missing_file_and_existing_output(tmp_path, capsys, make_scan):
    code, err = _run(capsys, tmp_path / "nope.h5", "-o", tmp_path / "o.zarr", "--no-phase")
    assert code == 2 and "no such file" in err
    path, *_ = _synthetic(tmp_path, make_scan, n_rows=2, width=32, n_proj=40)
    (tmp_path / "o.zarr").mkdir()
    code, err = _run(capsys, path, "-o", tmp_path / "o.zarr", "--no-phase", "--cor", "15.5")
    assert code == 2 and "--overwrite" in err


def test_tight_budget_runs_fewer_fbp_threads_with_the_same_result(tmp_path, make_scan, capsys):
    # each Fourier-FBP thread holds its own plan: under a tight budget the pipeline runs fewer
    # threads; each slice is transformed by one single-threaded plan, so the bits are the same
    from hipct.reconstruction.pipeline import ReconParams, reconstruct
    path, *_ = _synthetic(tmp_path, make_scan, n_rows=2, width=32, n_proj=400)
    runs = {}
    for budget in (1e6, 1e9):      # 1 MB: one plan (0.50 MB) fits in 60 %, two (0.77 MB) not
        p = ReconParams(inputs=[str(path)], output=str(tmp_path / f"{budget:g}.ome.zarr"),
                        cor=[15.5], delta_beta=0.0, memory_bytes=budget)
        summary = reconstruct(p, progress=False)
        assert p.fbp_threads is None                    # the caller's parameters unchanged
        runs[budget] = (summary["fbp_threads"], zarr.open_group(p.output, mode="r")["0"][:])
    import os
    assert runs[1e6][0] == 1
    assert runs[1e9][0] == len(os.sched_getaffinity(0))
    np.testing.assert_array_equal(runs[1e6][1], runs[1e9][1])


def _ambiguous_half_scan(path, cor=87.3, width=96):
    """A 360° half-acquisition scan averaged with its left-right mirror: both sides fit."""
    from hipct.reconstruction.io.nxtomo import write_nxtomo
    theta = np.arange(360) * 2 * np.pi / 360
    ell = [phantom.Ellipse(v * 0.02, a, b, x, y, p) for v, a, b, x, y, p in phantom.shepp_logan(80)]
    sino = phantom.sinogram(ell, theta, np.arange(width) - cor)
    sino = 0.5 * (sino + sino[:, ::-1])
    proj = np.repeat(sino[:, None, :], 3, axis=1)
    write_nxtomo(path, (100 + 1000 * np.exp(-proj)).astype(np.float32), theta,
                 flats=np.full((2, 3, width), 1100, np.float32),
                 darks=np.full((1, 3, width), 100, np.float32), pixel_size_m=5e-6)
    return cor


def test_unsure_centre_warns_with_candidates_and_can_be_forced(tmp_path, capsys):
    import h5py
    path = tmp_path / "amb.nx"
    cor = _ambiguous_half_scan(path)
    code, err = _run(capsys, path, "-o", tmp_path / "a.h5", "--no-phase", "--format", "hdf5")
    assert code == 0
    assert "automatic centre is unsure" in err and "mirror side" in err and "--cor-side" in err
    out = tmp_path / "b.h5"
    code, err = _run(capsys, path, "-o", out, "--no-phase", "--format", "hdf5",
                     "--cor-side", "right")
    assert code == 0, err
    with h5py.File(out) as f:
        params = json.loads(f["volume"].attrs["hipct"])["hipct"]["parameters"]
    assert params["cor"][0] == pytest.approx(cor, abs=0.5)
    est = params["cor_estimate"][0]
    assert est["side"] == "right" and "given" in est["method"]
    assert {"confidence", "threshold", "candidates"} <= set(est)
    # the side recorded in the file (nxtomo's x_rotation_axis_pixel_position, from the centre)
    path = tmp_path / "recorded.nx"
    _ambiguous_half_scan(path)
    with h5py.File(path, "r+") as f:
        f["entry/instrument/detector/x_rotation_axis_pixel_position"] = cor - 47.5
    from hipct.reconstruction.io.readers import open_scan
    assert open_scan(path).axis_side == "right"
    out = tmp_path / "c.h5"
    code, err = _run(capsys, path, "-o", out, "--no-phase", "--format", "hdf5")
    with h5py.File(out) as f:
        params = json.loads(f["volume"].attrs["hipct"])["hipct"]["parameters"]
    assert params["cor"][0] == pytest.approx(cor, abs=0.5)


def test_quarter_acquisition_auto_centre_end_to_end(tmp_path, capsys):
    """Two 360° rotations, axes at 90.3 (on the 100-px detector) and -40.6 (off it)."""
    import h5py
    from hipct.reconstruction.io.nxtomo import write_nxtomo
    theta = np.arange(480) * 2 * np.pi / 480
    ell = [phantom.Ellipse(v * 0.02, a, b, x, y, p)
           for v, a, b, x, y, p in phantom.shepp_logan(120)]
    paths = []
    for k, cor in enumerate((90.3, -40.6)):
        proj = np.repeat(phantom.sinogram(ell, theta, np.arange(100) - cor)[:, None], 2, axis=1)
        paths.append(tmp_path / f"rot{k}.nx")
        write_nxtomo(paths[-1], (100 + 1000 * np.exp(-proj)).astype(np.float32), theta,
                     flats=np.full((2, 2, 100), 1100, np.float32),
                     darks=np.full((1, 2, 100), 100, np.float32), pixel_size_m=5e-6)
    out = tmp_path / "q.h5"
    code, err = _run(capsys, *paths, "-o", out, "--no-phase", "--format", "hdf5")
    assert code == 0, err
    with h5py.File(out) as f:
        params = json.loads(f["volume"].attrs["hipct"])["hipct"]["parameters"]
        assert f["volume"].shape[1] >= 2 * 130               # both rotations' field of view
    np.testing.assert_allclose(params["cor"], [90.3, -40.6], atol=0.5)
    assert [e["method"].split(":")[0] for e in params["cor_estimate"]] == \
        ["half acquisition", "quarter acquisition"]
