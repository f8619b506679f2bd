"""The memory model: every phase within the budget; bounded steps give the same bits."""

import numpy as np
import pytest
import zarr

from hipct.errors import HipctError
from hipct.reconstruction.io import writers
from hipct.reconstruction.memory import plan_memory


def _plan(budget, n_proj=12000, width=5056, cors=(4856.0, -2275.0), nz=2960, dtype="uint16"):
    # a quarter acquisition on the full IRIS15 detector: two rotations of n_proj each
    from hipct.reconstruction.reconstructor import Geometry
    theta = np.arange(n_proj) * 2 * np.pi / n_proj
    g = Geometry.from_detector([theta, theta], width, cors)
    return g, plan_memory(budget_bytes=budget, n_frames=2 * (n_proj + 40), n_angles=g.n_angles,
                          n_cols_binned=g.n_cols_binned, slice_width=g.slice_width,
                          shape_yx=g.shape_yx, nz=nz, margin_rows=120, binning=1,
                          fbp_method="fourier", dtype=dtype, fmt="ome-zarr")


@pytest.mark.parametrize("budget_gb", [48, 64, 256])
def test_full_size_quarter_fits_its_budget(budget_gb):
    g, plan = _plan(budget_gb * 1e9)
    assert 2.8 * 5056 < g.slice_width < 3.0 * 5056          # quarter: ~2.9 detector widths
    assert plan.chunk_rows >= 1 and plan.fbp_threads >= 1
    assert plan.slab_phase_bytes <= plan.budget_bytes
    assert plan.pyramid_bytes + plan.preview_bytes <= plan.budget_bytes
    assert plan.peak_bytes <= plan.budget_bytes
    # the pieces this model added are not small at this size: a preview plane is 0.86 GB
    assert plan.preview_bytes > 0.8e9 and plan.pyramid_bytes > 0


def test_too_small_a_budget_is_one_line():
    with pytest.raises(HipctError, match="--memory: .* too small"):
        _plan(4e9)


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_pyramid_in_tiles_equals_whole_slabs(tmp_path, dtype):
    rng = np.random.default_rng(1)
    vol = (rng.random((70, 150, 131)) * 1000).astype(dtype)
    levels = {}
    for name, budget in (("whole", None), ("tiled", 2e5)):
        out = tmp_path / f"{name}.ome.zarr"
        w = writers.open_writer("ome-zarr", out, vol.shape, dtype,
                                {"hipct": {"inputs": [], "parameters": {}}}, voxel_um=1.0,
                                origin_um=(0, 0, 0), chunk_z=16, memory_bytes=budget)
        for z in range(0, 70, 16):
            w.write(z, vol[z:z + 16])
        w.finalise()
        g = zarr.open_group(str(out), mode="r")
        levels[name] = [g[str(k)][:] for k in range(8) if str(k) in g]
    # 2e5 bytes: tiles of a few rows of the 75-wide level 1
    assert writers.pyramid_tile_rows(2e5, 16, 65, np.dtype(dtype).itemsize, 64) < 75
    assert len(levels["whole"]) == 2
    for a, b in zip(levels["whole"], levels["tiled"]):
        np.testing.assert_array_equal(a, b)
    # level 1 is the 2×2×2 mean
    np.testing.assert_allclose(levels["tiled"][1].astype(np.float64),
                               vol[:70, :150, :130].astype(np.float64).reshape(
                                   35, 2, 75, 2, 65, 2).mean(axis=(1, 3, 5)),
                               atol=0.5 if dtype == np.uint16 else 1e-3)


def test_uint16_in_pieces_equals_the_formula():
    rng = np.random.default_rng(2)
    block = rng.normal(0.0, 1.0, (3, 700, 600)).astype(np.float32)     # > 2**20 voxels
    lo, hi = -2.0, 2.5
    expected = np.round(np.clip((block.astype(np.float64) - lo) / (hi - lo), 0, 1)
                        * 65535).astype(np.uint16)
    got = writers.to_uint16(block, (lo, hi))
    assert got.dtype == np.uint16 and block.size > writers.UINT16_PIECE_VOXELS
    np.testing.assert_array_equal(got, expected)


def test_uint16_window_is_the_two_percentiles():
    # percentiles taken in place on one copy: the same window as on fresh copies
    rng = np.random.default_rng(3)
    block = rng.normal(0.0, 1.0, (2, 300, 257)).astype(np.float32)
    block[0, :5] = np.nan
    vals = block[np.isfinite(block)]
    assert writers.uint16_window(block) == (float(np.percentile(vals, 0.1)),
                                            float(np.percentile(vals, 99.9)))
    assert np.isnan(block[0, :5]).all()                    # the block itself is untouched
