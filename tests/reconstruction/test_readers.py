"""Readers: NXtomo round trip, Data Exchange, TIFF + YAML, and bad files."""

import h5py
import numpy as np
import nxtomo
import pytest

from hipct.errors import DataError
from hipct.reconstruction.io.nxtomo import write_nxtomo
from hipct.reconstruction.io.readers import open_scan


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
        del f["entry/sample/x_pixel_size"]          # the sample's takes precedence when there
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


# --- interoperability with ESRF's nxtomo package (what nabu and tomwer read) -------------------

@pytest.fixture(scope="module")
def small_simulated_scan(tmp_path_factory):
    """A ``hipct simulate`` scan of the small test plan: 64 columns, 2 rows, 16 projections,
    half acquisition with the axis 4 columns from the right edge (read only by the tests)."""
    from hipct.cli import main
    from tests.simulation.conftest import SMALL_PLAN
    folder = tmp_path_factory.mktemp("simulated")
    plan = folder / "small.yaml"
    plan.write_text(SMALL_PLAN)
    raw = folder / "raw.nx"
    assert main(["simulate", str(plan), "-o", str(raw), "--width", "64", "--rows", "2",
                 "--projections", "16", "--quiet"]) == 0
    return raw


def test_simulated_scan_opens_in_the_nxtomo_package(small_simulated_scan):
    raw = small_simulated_scan
    ours = open_scan(raw)
    nx = nxtomo.NXtomo().load(str(raw), "entry")
    det = nx.instrument.detector
    assert nx.instrument.beam.incident_energy.to("keV").magnitude == pytest.approx(ours.energy_kev)
    assert 30 < ours.energy_kev < 200
    assert det.distance.to("m").magnitude == pytest.approx(0.05)          # the plan's 5 cm
    assert det.x_pixel_size.to("m").magnitude == pytest.approx(ours.pixel_size_m)
    assert nx.sample.x_pixel_size.to("m").magnitude == pytest.approx(ours.pixel_size_m)
    assert nx.instrument.source.distance.to("m").magnitude == pytest.approx(ours.source_distance_m)
    keys = np.array([int(k.value) for k in det.image_key_control])
    assert (keys == 0).sum() == 16 and (keys == 1).sum() > 0 and (keys == 2).sum() > 0
    angles = nx.sample.rotation_angle.to("degree").magnitude
    np.testing.assert_allclose(np.radians(angles[keys == 0]), ours.theta, atol=1e-9)
    # the half-acquisition axis, from the detector's middle, as nabu reads it
    assert det.x_rotation_axis_pixel_position == pytest.approx(64 - 1 - 4 - 31.5)
    assert det.half_acquisition is True
    assert ours.axis_side == "right"
    # the plan's 200 mA ring current on every frame, stored in ampere by the package
    np.testing.assert_allclose(nx.control.data.to("mA").magnitude, 200.0)
    np.testing.assert_allclose(ours.current_proj, 200.0)


def test_simulated_scan_opens_in_nabu(small_simulated_scan):
    # nabu (ESRF's reconstruction) reads NXtomo with tomoscan, code independent of our reader
    pytest.importorskip("nabu", reason="nabu (the test extra) is not installed")
    from nabu.resources.dataset_analyzer import analyze_dataset

    raw = small_simulated_scan
    ours = open_scan(raw)
    ds = analyze_dataset(str(raw))
    assert ds.energy == pytest.approx(ours.energy_kev)                      # keV
    assert ds.distance == pytest.approx(0.05)                               # m, the plan's
    assert ds.pixel_size == pytest.approx(ours.pixel_size_m * 1e6)          # µm
    assert ds.radio_dims == (64, 2)
    # tomoscan, which nabu reads the file with, also has the source distance (m)
    assert ds.dataset_scanner.source_sample_distance == pytest.approx(ours.source_distance_m)
    np.testing.assert_allclose(ds.rotation_angles, ours.theta, atol=1e-9)
    # the axis column the simulator used (4 px from the right edge), as nabu's first guess
    assert bool(ds.is_halftomo) is True
    assert ds.rot_center_first_guess == pytest.approx(64 - 1 - 4)


def test_stage_position_reaches_the_nxtomo_package(tmp_path):
    path = tmp_path / "pos.nx"
    write_nxtomo(path, np.zeros((4, 2, 8), np.float32), np.radians([0, 45, 90, 135]),
                 flats=np.ones((2, 2, 8), np.float32), pixel_size_m=6.5e-6,
                 position_m=(0.0123, 0.0, -0.002), energy_kev=60.0)
    nx = nxtomo.NXtomo().load(str(path), "entry")
    np.testing.assert_allclose(nx.sample.z_translation.to("mm").magnitude, [12.3] * 6)
    np.testing.assert_allclose(nx.sample.x_translation.to("mm").magnitude, [-2.0] * 6)
    np.testing.assert_allclose(nx.sample.rotation_angle.to("degree").magnitude,
                               [0, 0, 45, 90, 135, 135])     # flat, 4 projections, flat
    assert [int(k.value) for k in nx.instrument.detector.image_key_control] == [1, 0, 0, 0, 0, 1]
    assert nx.instrument.beam.incident_energy.to("keV").magnitude == pytest.approx(60.0)
    assert open_scan(path).position_m == pytest.approx((0.0123, 0.0, -0.002))


def test_reads_files_written_by_the_nxtomo_package(tmp_path):
    from nxtomo.nxobject.nxdetector import ImageKey
    from pint import get_application_registry
    q = get_application_registry().Quantity
    nx = nxtomo.NXtomo()
    data = np.arange(6 * 2 * 8, dtype=np.uint16).reshape(6, 2, 8)
    nx.instrument.detector.data = data
    nx.instrument.detector.image_key_control = [ImageKey.DARK_FIELD, ImageKey.FLAT_FIELD] + \
        [ImageKey.PROJECTION] * 4
    nx.sample.rotation_angle = q(np.array([0, 0, 0, 60, 120, 180.0]), "degree")
    nx.instrument.detector.x_pixel_size = q(6.5, "um")
    nx.instrument.detector.y_pixel_size = q(6.5, "um")
    nx.instrument.detector.distance = q(500, "mm")
    nx.instrument.source.distance = q(52.0, "m")
    nx.instrument.beam.incident_energy = q(60.0, "keV")
    nx.instrument.detector.x_rotation_axis_pixel_position = -1.0
    nx.sample.z_translation = q(np.full(6, 2.5), "mm")
    nx.sample.y_translation = q(np.zeros(6), "mm")
    nx.sample.x_translation = q(np.full(6, -400.0), "um")
    nx.control.data = q(np.array([0.2, 0.2, 0.19, 0.18, 0.17, 0.16]), "A")
    nx.save(str(tmp_path / "pkg.nx"), "entry0000", overwrite=True)
    scan = open_scan(tmp_path / "pkg.nx")
    assert (scan.n_proj, scan.n_rows, scan.n_cols, scan.n_darks) == (4, 2, 8, 1)
    assert scan.energy_kev == pytest.approx(60.0)
    assert scan.distance_m == pytest.approx(0.5)
    assert scan.source_distance_m == pytest.approx(52.0)
    assert scan.pixel_size_m == pytest.approx(6.5e-6)
    np.testing.assert_allclose(np.degrees(scan.theta), [0, 60, 120, 180])
    np.testing.assert_array_equal(scan.read("proj", slice(0, 2)), data[2:].astype(np.float32))
    assert scan.axis_side is None                 # 1 px from the middle: not an edge axis
    assert scan.position_m == pytest.approx((2.5e-3, 0.0, -4e-4))
    assert scan.z_translation_m == pytest.approx(2.5e-3)
    np.testing.assert_allclose(scan.current_proj, [190, 180, 170, 160])     # mA
    np.testing.assert_allclose(scan.current_flat, [200])
    np.testing.assert_array_equal(scan.flat_frames, [1])


def test_reads_the_axis_side_the_nxtomo_package_wrote(tmp_path):
    from nxtomo.nxobject.nxdetector import ImageKey
    from pint import get_application_registry
    q = get_application_registry().Quantity
    for offset, side in ((-30.0, "left"), (30.0, "right"), (0.0, None)):
        nx = nxtomo.NXtomo()
        nx.instrument.detector.data = np.ones((3, 2, 64), np.float32)
        nx.instrument.detector.image_key_control = [ImageKey.PROJECTION] * 3
        nx.sample.rotation_angle = q(np.array([0, 120, 240.0]), "degree")
        nx.instrument.detector.x_rotation_axis_pixel_position = offset
        nx.instrument.detector.half_acquisition = side is not None
        nx.save(str(tmp_path / "half.nx"), "entry", overwrite=True)
        assert open_scan(tmp_path / "half.nx").axis_side == side


def test_metadata_the_nxtomo_package_cannot_read_is_one_line(tmp_path, make_scan):
    path = tmp_path / "scan.nx"
    make_scan(path, n_rows=2, width=16, n_proj=10)
    with h5py.File(path, "r+") as f:
        f["entry/instrument/detector/distance"].attrs["units"] = "blorps"
    with pytest.raises(DataError, match=r"scan.nx: the nxtomo package cannot read /entry "
                                        r"\(ValueError: Invalid or undefined unit: blorps\)"):
        open_scan(path)
    with h5py.File(path, "r+") as f:                 # a unit the package drops with a log line
        f["entry/instrument/detector/distance"].attrs["units"] = "m/s"
    with pytest.raises(DataError, match=r"instrument/detector/distance has unit 'm/s'; "
                                        r"expected a m unit"):
        open_scan(path)


def test_reads_the_earlier_layout_with_the_energy_under_entry(tmp_path, make_scan):
    path = tmp_path / "old.nx"
    make_scan(path, n_rows=2, width=16, n_proj=10)
    with h5py.File(path, "r+") as f:
        del f["entry/instrument/beam"]
        del f["entry/beam/incident_energy"]        # the package links it to the instrument's
        f["entry/beam/incident_energy"] = 30.0
        f["entry/beam/incident_energy"].attrs["units"] = "keV"
        del f["entry/sample/x_pixel_size"]
    scan = open_scan(path)
    assert scan.energy_kev == pytest.approx(30.0) and scan.pixel_size_m == pytest.approx(5e-6)


def test_a_scan_larger_than_memory_opens_and_streams(tmp_path):
    from hipct.reconstruction.io.nxtomo import NXtomoWriter
    # a full-size BM18 scan (12000 projections of 2960 × 5056 uint16: 359 GB), of which only
    # two frames are stored: opening it reads metadata only, and frames come a few rows at a time
    n_proj, shape = 12000, (2960, 5056)
    key = np.r_[2, 1, np.zeros(n_proj), 1]
    angles = np.r_[0, 0, np.linspace(0, 2 * np.pi, n_proj, endpoint=False), 2 * np.pi]
    path = tmp_path / "big.nx"
    with NXtomoWriter(path, key, angles, shape, np.uint16, pixel_size_m=20e-6,
                      energy_kev=110.0, position_m=(0.005, 0.0, 0.0)) as w:
        w.write(2, np.full((1, *shape), 7, np.uint16))
    assert path.stat().st_size < 50e6
    scan = open_scan(path)
    assert (scan.n_proj, scan.n_rows, scan.n_cols) == (n_proj, *shape)
    assert scan.energy_kev == pytest.approx(110.0) and scan.z_translation_m == pytest.approx(0.005)
    rows = scan.read("proj", slice(100, 102), slice(0, 2))
    assert rows.shape == (2, 2, 5056) and rows[0].min() == 7 and rows[1].max() == 0
