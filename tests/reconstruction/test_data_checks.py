"""Garbage scans are refused (one line, exit 2) or warned before the work starts."""

import h5py
import numpy as np
import pytest

from hipct.cli import main
from hipct.reconstruction.io.nxtomo import write_nxtomo

N_PROJ, ROWS, COLS = 40, 2, 32


def _write(path, proj=None, flats=None, darks=None, theta=None, dtype=np.float32):
    rng = np.random.default_rng(0)
    if proj is None:
        proj = 100 + 800 * np.exp(-rng.uniform(0, 1, (N_PROJ, ROWS, COLS)))
    flats = np.full((2, ROWS, COLS), 900.0) if flats is None else flats
    darks = np.full((2, ROWS, COLS), 100.0) if darks is None else darks
    theta = np.arange(N_PROJ) * np.pi / N_PROJ if theta is None else theta
    write_nxtomo(path, np.asarray(proj).astype(dtype), theta, flats=np.asarray(flats).astype(dtype),
                 darks=np.asarray(darks).astype(dtype), pixel_size_m=5e-6)
    return path


def _run(capsys, path, tmp_path, *extra):
    code = main(["reconstruct", str(path), "-o", str(tmp_path / "v.ome.zarr"), "--no-phase",
                 "--cor", "15.5", "--quiet", *extra])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case, message", [
    ("nan projections", "all non-finite"),
    ("zero projections", "constant"),
    ("flats equal darks", "flat - dark <= 0 over 100%"),
    ("darks brighter", "flat - dark <= 0 over 100%"),
    ("nan flats", "flats are all non-finite"),
    ("int8", "stored as int8"),
    ("bool", "stored as bool"),
])
def test_garbage_scan_is_refused(tmp_path, capsys, case, message):
    path = tmp_path / "scan.nx"
    kw = {"nan projections": {"proj": np.full((N_PROJ, ROWS, COLS), np.nan)},
          "zero projections": {"proj": np.zeros((N_PROJ, ROWS, COLS))},
          "flats equal darks": {"flats": np.full((2, ROWS, COLS), 100.0)},
          "darks brighter": {"darks": np.full((2, ROWS, COLS), 1000.0)},
          "nan flats": {"flats": np.full((2, ROWS, COLS), np.nan)},
          "int8": {"proj": np.full((N_PROJ, ROWS, COLS), 5) + np.arange(COLS) % 3,
                   "flats": np.full((2, ROWS, COLS), 9), "darks": np.zeros((2, ROWS, COLS)),
                   "dtype": np.int8},
          "bool": {"proj": np.arange(N_PROJ * ROWS * COLS).reshape(N_PROJ, ROWS, COLS) % 2,
                   "flats": np.ones((2, ROWS, COLS)), "darks": np.zeros((2, ROWS, COLS)),
                   "dtype": bool}}[case]
    _write(path, **kw)
    code, err = _run(capsys, path, tmp_path)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "v.ome.zarr").exists()


@pytest.mark.parametrize("swap, message", [((5, 6), "1 of 39 steps go the other way"),
                                           ((9, 10), "1 projection angle(s) repeat")])
def test_odd_angles_are_warned(tmp_path, capsys, swap, message):
    theta = np.arange(N_PROJ) * np.pi / N_PROJ
    if message.endswith("repeat"):
        theta[swap[1]] = theta[swap[0]]
    else:
        theta[list(swap)] = theta[list(swap[::-1])]
    path = _write(tmp_path / "scan.nx", theta=theta)
    code, err = _run(capsys, path, tmp_path)
    assert code == 0 and message in err, err


def test_saturated_flats_and_clipped_fraction_are_reported(tmp_path, capsys):
    proj = np.full((N_PROJ, ROWS, COLS), 500.0) + np.arange(COLS)
    proj[:, :, :4] = 1000.0                          # 4 of 32 columns clipped: 12.5 %
    path = _write(tmp_path / "scan.nx", proj=proj, flats=np.full((2, ROWS, COLS), 1000.0))
    with h5py.File(path, "r+") as f:
        f["entry/instrument/detector"].attrs["saturation_value"] = 1000.0
    code, err = _run(capsys, path, tmp_path)
    assert code == 0, err
    assert "100.00% of the flat-field pixels are saturated" in err
    assert "12.50% of the sampled projection pixels are clipped" in err


def test_bad_geometry_and_layout_are_one_line(tmp_path, capsys):
    path = _write(tmp_path / "scan.nx")
    for extra, message in ((["--cor", "40"], "--cor: 40.0 is outside the detector"),
                           (["--cor", "nan"], "--cor"),
                           (["--width", "100000000"], "--width: 100000000 is out of range"),
                           (["--bin", "1000"], "--bin")):
        code, err = _run(capsys, path, tmp_path, *extra)
        assert code == 2 and err.count("\n") == 1 and message in err, (extra, err)
    # /exchange/data as a group, and a Data Exchange file without projections
    bad = tmp_path / "group.h5"
    with h5py.File(bad, "w") as f:
        f.create_group("exchange/data")
        f["exchange/theta"] = np.zeros(3)
    code, err = _run(capsys, bad, tmp_path)
    assert code == 2 and "/exchange/data is a group" in err
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f["exchange/data"] = np.zeros((0, ROWS, COLS), np.uint16)
        f["exchange/theta"] = np.zeros(0)
    code, err = _run(capsys, empty, tmp_path)
    assert code == 2 and "0 projection(s)" in err


def test_tiff_sidecar_with_nan_angles_is_refused(tmp_path, capsys):
    tifffile = pytest.importorskip("tifffile")
    for i in range(3):
        tifffile.imwrite(tmp_path / f"p{i}.tif", np.full((ROWS, COLS), 100 + i, np.uint16))
    sidecar = tmp_path / "scan.yaml"
    sidecar.write_text("projections: p*.tif\nangles: [0, .nan, 2]\n")
    code, err = _run(capsys, sidecar, tmp_path)
    assert code == 2 and "non-finite" in err and err.count("\n") == 1
