"""Readers: NXtomo round trip, Data Exchange, TIFF + YAML, and bad files."""

import h5py
import numpy as np
import pytest

from hipct.errors import DataError
from hipct.reconstruction.io.readers import open_scan, write_nxtomo


def test_nxtomo_round_trip(tmp_path, make_scan):
    path = tmp_path / "scan.nx"
    theta, _ = make_scan(path, n_rows=3, width=40, n_proj=50, ring_current=None)
    scan = open_scan(path)
    assert scan.layout == "nxtomo"
    assert (scan.n_proj, scan.n_rows, scan.n_cols) == (50, 3, 40)
    np.testing.assert_allclose(scan.theta, theta, atol=1e-12)
    assert scan.pixel_size_m == pytest.approx(5e-6)
    assert scan.distance_m == pytest.approx(0.1)
    assert scan.energy_kev == pytest.approx(30.0)
    assert scan.flat_frames.tolist() == [2, 3, 54, 55]         # darks, 2 flats, 50 proj, 2 flats
    assert scan.read("proj", slice(1, 3)).shape == (50, 2, 40)
    assert scan.read("dark", slice(0, 3)).shape == (2, 3, 40)


def test_nxtomo_units_are_converted(tmp_path, make_scan):
    path = tmp_path / "units.nx"
    make_scan(path, n_rows=2, width=16, n_proj=10)
    with h5py.File(path, "r+") as f:
        det = f["entry/instrument/detector"]
        del det["x_pixel_size"]
        det["x_pixel_size"] = 6.5
        det["x_pixel_size"].attrs["units"] = "um"
    assert open_scan(path).pixel_size_m == pytest.approx(6.5e-6)


def test_dxchange_tooth(tooth_path):
    scan = open_scan(tooth_path)
    assert scan.layout == "dxchange"
    assert (scan.n_proj, scan.n_rows, scan.n_cols) == (181, 2, 640)
    assert np.degrees(scan.theta[-1]) == pytest.approx(179.0055, abs=1e-3)
    assert scan.read("flat", slice(0, 1)).shape == (10, 1, 640)


def test_tiff_stack(tmp_path):
    import tifffile
    rng = np.random.default_rng(0)
    for i in range(6):
        tifffile.imwrite(tmp_path / f"proj_{i:03d}.tif", rng.random((4, 8)).astype(np.float32))
    tifffile.imwrite(tmp_path / "flat_000.tif", np.ones((4, 8), np.float32))
    (tmp_path / "scan.yaml").write_text("projections: proj_*.tif\nflats: flat_*.tif\n"
                                        "angles: {start: 0, stop: 180}\npixel_size: 6.5 um\n"
                                        "energy: 40 keV\n")
    scan = open_scan(tmp_path / "scan.yaml")
    assert scan.n_proj == 6 and scan.pixel_size_m == pytest.approx(6.5e-6)
    assert np.degrees(scan.theta[1]) == pytest.approx(30.0)
    assert scan.read("proj", slice(1, 3)).shape == (6, 2, 8)
    (tmp_path / "bad.yaml").write_text("projections: nothing_*.tif\nangles: {start: 0, stop: 180}\n")
    with pytest.raises(DataError, match="no file matches"):
        open_scan(tmp_path / "bad.yaml")


def test_truncated_hdf5_is_a_data_error(tmp_path, make_scan):
    path = tmp_path / "scan.nx"
    make_scan(path, n_rows=2, width=16, n_proj=10)
    data = path.read_bytes()
    (tmp_path / "cut.nx").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.nx"):
        open_scan(tmp_path / "cut.nx")


def test_inconsistent_angles_and_missing_keys(tmp_path, make_scan):
    path = tmp_path / "scan.nx"
    make_scan(path, n_rows=2, width=16, n_proj=10)
    with h5py.File(path, "r+") as f:
        del f["entry/sample/rotation_angle"]
        f["entry/sample/rotation_angle"] = np.zeros(3)
    with pytest.raises(DataError, match="rotation_angle has 3 entries"):
        open_scan(path)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = 1
    with pytest.raises(DataError, match="neither NXtomo"):
        open_scan(plain)


def test_write_nxtomo_is_atomic(tmp_path):
    path = tmp_path / "a.nx"
    write_nxtomo(path, np.zeros((3, 2, 2)), np.zeros(3))
    assert path.exists() and not list(tmp_path.glob(".a.nx*.tmp"))
