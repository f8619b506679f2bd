"""The public array API: equal to the file pipeline, no mutation, nothing kept after a run."""

import copy
import gc
import weakref

import h5py
import numpy as np
import pytest
import zarr

from hipct.errors import HipctError
from hipct.physics import PlannedScan
from hipct.reconstruction import reconstructor as rmod
from hipct.reconstruction.io.readers import open_scan
from hipct.reconstruction.pipeline import ReconParams, reconstruct
from hipct.reconstruction.reconstructor import Geometry, Reconstructor

PHYSICS = ["--delta-beta", "300", "--unsharp", "1.5,0.5", "--rings", "5"]


def _params(path, out, **kw):
    base = dict(inputs=[str(path)], output=str(out), cor=[31.5], delta_beta=300.0,
                unsharp_sigma_px=1.5, unsharp_coeff=0.5, ring_size=5)
    base.update(kw)
    return ReconParams(**base)


def _arrays(path):
    """Projections, flats, darks and the flats' angles and order, as the file holds them."""
    scan = open_scan(path)
    rows = slice(0, scan.n_rows)
    return (scan, scan.read("proj", rows), scan.read("flat", rows), scan.read("dark", rows))


@pytest.mark.parametrize("binning", [1, 2])
def test_arrays_equal_the_file_pipeline_bit_for_bit(tmp_path, make_scan, binning):
    path = tmp_path / "scan.nx"
    make_scan(path, n_rows=8, width=64, n_proj=91)
    out = tmp_path / "v.ome.zarr"
    summary = reconstruct(_params(path, out, binning=binning), progress=False)
    assert summary["chunk_rows"] == 8 // binning                   # one slab: whole height
    vol = zarr.open_group(str(out), mode="r")["0"][:]
    scan, proj, flats, darks = _arrays(path)
    params = ReconParams(inputs=[], output="", energy_kev=scan.energy_kev,
                         distance_m=scan.distance_m, pixel_size_m=scan.pixel_size_m,
                         delta_beta=300.0, unsharp_sigma_px=1.5, unsharp_coeff=0.5,
                         ring_size=5)
    geometry = Geometry.from_detector([scan.theta], scan.n_cols, [31.5], binning)
    with Reconstructor(params, geometry) as rec:
        slices = rec(proj, flats, darks, flat_angles=scan.flat_angles,
                     flat_frames=scan.flat_frames)
    assert slices.dtype == np.float32 and slices.shape == vol.shape
    np.testing.assert_array_equal(slices, vol)


def test_transmission_and_sinogram_entry_points_agree(tmp_path, make_scan):
    # flat-corrected I/I0 in, slices out; and -log sinograms in: the same steps
    path = tmp_path / "scan.nx"
    make_scan(path, n_rows=4, width=48, n_proj=61)
    scan, proj, flats, darks = _arrays(path)
    t = (proj - darks.mean(axis=0)) / (flats.mean(axis=0) - darks.mean(axis=0))
    params = ReconParams(inputs=[], output="", delta_beta=0.0, pixel_size_m=5e-6)
    rec = Reconstructor(params, Geometry.from_detector([scan.theta], 48, [23.5]))
    a = rec.from_transmission([t])
    b = rec.slices([np.ascontiguousarray(-np.log(t).transpose(1, 0, 2), dtype=np.float32)])
    np.testing.assert_array_equal(a, b)
    raw = rec(proj, flats, darks, flat_angles=scan.flat_angles, flat_frames=scan.flat_frames)
    np.testing.assert_allclose(raw, a, atol=1e-5 * np.abs(a).max())
    with pytest.raises(HipctError, match="angles: 10 angle"):
        rmod.memory_scan(proj, scan.theta[:10])
    with pytest.raises(HipctError, match="inputs: 2 projection array"):
        rec([proj, proj])


def test_reconstruct_leaves_its_params_as_given(tmp_path, make_scan):
    path = tmp_path / "scan.nx"
    make_scan(path, n_rows=4, width=48, n_proj=61)
    params = ReconParams(inputs=[str(path)], output=str(tmp_path / "a.ome.zarr"),
                         delta_beta=300.0,
                         plan=PlannedScan("x", 1e-6, None, None, None, 61, 1, 1, None, 0.0,
                                          report={"name": "x"}))
    before = copy.deepcopy(params)
    summary = reconstruct(params, progress=False)
    assert params == before
    assert params.rows is None and params.fbp_threads is None and params.energy_kev is None
    assert summary["rows"] == [0, 4] and summary["fbp_threads"] >= 1       # the run's own


def test_nothing_large_outlives_the_run(tmp_path, make_scan, monkeypatch):
    path = tmp_path / "scan.nx"
    make_scan(path, n_rows=6, width=48, n_proj=61)
    seen = []
    original = rmod.ScanSlabs.slab

    def watched(self, r0, r1, parts, convert=True):
        out = original(self, r0, r1, parts, convert)
        seen.append([weakref.ref(o) for o in (self, self.rec, self.rec._bp[1],
                                               self.rec.paganin, *self.scans)])
        return out
    monkeypatch.setattr(rmod.ScanSlabs, "slab", watched)
    reconstruct(_params(path, tmp_path / "v.ome.zarr", cor=None, memory_bytes=1.2e6),
                progress=False)
    assert len(seen) > 1                                      # several slabs ran
    gc.collect()
    # the job, its back-projector (plans, thread pool), Paganin filter and scans are gone
    assert all(r() is None for refs in seen for r in refs)
    open_files = [h5py.h5f.FileID(i).name.decode() for i in
                  h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE)]
    assert str(path) not in open_files                         # the input file is closed


def test_geometry_conventions():
    g = Geometry.from_detector([np.linspace(0, np.pi, 10, endpoint=False)], 101, [49.5],
                               binning=2)
    assert g.n_cols_binned == 50 and g.cor_binned == (24.5,) and g.cor == [49.5]
    with pytest.raises(HipctError, match="--roi"):
        _ = Geometry(g.theta, 50, (24.5,), 2, 50, (0, 60, 0, 10)).shape_yx
    with pytest.raises(HipctError, match="--bin"):
        Geometry.from_detector(g.theta, 101, [49.5], binning=0)
