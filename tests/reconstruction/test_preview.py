"""``hipct reconstruct --preview``: the three mid-slices, and the log of a run."""

import numpy as np
import pytest

from hipct.cli import main
from hipct.figure_style import figure_problems
from hipct.reconstruction.preview import MidPlanes, preview_figure


def test_mid_planes_are_the_volume_mid_planes():
    vol = np.random.default_rng(0).normal(size=(7, 10, 12)).astype(np.float32)
    planes = MidPlanes(vol.shape)
    for z0 in range(0, 7, 3):
        assert not planes.complete
        planes.add(z0, vol[z0:z0 + 3])
    assert planes.complete
    np.testing.assert_array_equal(planes.axial, vol[3])
    np.testing.assert_array_equal(planes.coronal, vol[:, 5, :])
    np.testing.assert_array_equal(planes.sagittal, vol[:, :, 6])


def test_mid_planes_read_from_a_zarr_array_equal_the_added_ones(tmp_path):
    import zarr
    vol = np.random.default_rng(2).integers(0, 65535, size=(5, 6, 8)).astype(np.uint16)
    arr = zarr.create_array(str(tmp_path / "a.zarr"), shape=vol.shape, chunks=(2, 3, 4),
                            dtype=vol.dtype)
    arr[:] = vol
    added, read = MidPlanes(vol.shape, (0.0, 2.0)), MidPlanes(vol.shape, (0.0, 2.0))
    added.add(0, vol)
    read.read(zarr.open_array(str(tmp_path / "a.zarr"), mode="r"))
    for a, b in zip((added.axial, added.coronal, added.sagittal),
                    (read.axial, read.coronal, read.sagittal)):
        np.testing.assert_array_equal(a, b)
    assert read.complete


def test_uint16_blocks_map_back_to_the_window():
    planes = MidPlanes((1, 2, 2), window=(-1.0, 3.0))
    planes.add(0, np.array([[[0, 65535], [32768, 0]]], np.uint16))
    np.testing.assert_allclose(planes.axial, [[-1, 3], [1.00003, -1]], atol=1e-4)


def test_preview_figure_follows_the_style():
    import matplotlib.pyplot as plt
    planes = MidPlanes((20, 64, 64))
    planes.add(0, np.random.default_rng(1).normal(size=(20, 64, 64)))
    fig = preview_figure(planes, 5.0, "my-scan")
    try:
        assert figure_problems(fig, ["my-scan"]) == []
        assert [ax.images[0].get_clim() for ax in fig.axes if ax.images].count(
            fig.axes[0].images[0].get_clim()) == 3                        # one window
    finally:
        plt.close(fig)


@pytest.mark.parametrize("fmt, inside", [("ome-zarr", "v.ome.zarr/provenance/preview.png"),
                                         ("hdf5", "v.ome.zarr.preview.png")])
def test_reconstruct_writes_previews_and_a_log(tmp_path, capsys, make_scan, fmt, inside):
    path = tmp_path / "scan.nx"
    make_scan(path, n_rows=4, width=64, n_proj=91)
    out = tmp_path / "v.ome.zarr"
    png = tmp_path / "check" / "mid.png"
    log = tmp_path / "run.log"
    code = main(["reconstruct", str(path), "-o", str(out), "--no-phase", "--cor", "31.5",
                 "--quiet", "--format", fmt, "--preview", str(png), "--verbose",
                 "--log", str(log), "--memory", "200MB"])
    err = capsys.readouterr().err
    assert code == 0, err
    for p in (tmp_path / inside, png):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    text = log.read_text()
    for words in ("read ", "rotation axis at column(s) 31.50 (command line)",
                  "reconstructed 1 slab(s)", "slices 0:4 in",
                  "memory budget 0.20 GB"):                      # GB = 10^9 bytes
        assert words in text, words
    assert "rotation axis" in err and "slices 0:4 in" not in err   # per-slab lines: log only
    import logging
    assert logging.getLogger("hipct").handlers == []                  # nothing outlives the run
