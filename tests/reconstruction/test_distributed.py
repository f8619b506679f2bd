"""A dask.distributed run (LocalCluster, 2 worker processes on loopback) equals the local run."""

import numpy as np
import pytest
import zarr

from hipct.cli import main

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    # two threads per worker: slabs also run side by side inside one process
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as c:
        yield c


def _run(capsys, *args):
    code = main(["reconstruct", *map(str, args), "--quiet"])
    return code, capsys.readouterr().err


def test_distributed_equals_local_bit_for_bit(tmp_path, capsys, cluster, make_scan):
    path = tmp_path / "scan.nx"
    make_scan(path, n_rows=12, width=64, n_proj=91)
    # Paganin, unsharp and rings on; a small budget splits the volume into several slabs
    common = [path, "--delta-beta", "300", "--cor", "31.5", "--unsharp", "1.5,0.5",
              "--rings", "5", "--memory", "4MB"]
    local = tmp_path / "local.ome.zarr"
    remote = tmp_path / "remote.ome.zarr"
    assert _run(capsys, *common, "-o", local)[0] == 0
    with distributed.Client(cluster.scheduler_address) as client:
        with distributed.get_task_stream(client=client) as stream:
            code, err = _run(capsys, *common, "-o", remote, "--scheduler",
                             cluster.scheduler_address)
        assert code == 0, err
        # the cluster's workers made the parts (the scheduler decides how many of them: on a
        # loaded machine it may keep every part on one); once the run is over no worker holds
        # its job (open scans, filters, back-projector)
        workers = {t["worker"] for t in stream.data if "hipct-part" in str(t["key"])}
        assert workers and workers <= set(client.scheduler_info()["workers"])

        def jobs_alive():
            import gc
            from hipct.reconstruction.reconstructor import ScanSlabs
            gc.collect()
            return sum(isinstance(o, ScanSlabs) for o in gc.get_objects())
        assert list(client.run(jobs_alive).values()) == [0, 0]
    a = zarr.open_group(str(local), mode="r")
    b = zarr.open_group(str(remote), mode="r")
    assert b.attrs["hipct"]["parameters"]["chunk_rows"] < 12          # several slabs ran
    for level in ("0", "1"):
        if level in a:
            np.testing.assert_array_equal(b[level][:], a[level][:])
    assert np.abs(a["0"][:]).max() > 0
    ms_a, ms_b = a.attrs["multiscales"][0], b.attrs["multiscales"][0]
    assert {**ms_b, "name": ""} == {**ms_a, "name": ""}        # same geometry, other name


def test_distributed_hdf5_is_written_by_the_client(tmp_path, capsys, cluster, make_scan):
    import h5py
    path = tmp_path / "scan.nx"
    make_scan(path, n_rows=6, width=48, n_proj=61)
    common = [path, "--no-phase", "--cor", "23.5", "--format", "hdf5", "--memory", "3MB"]
    assert _run(capsys, *common, "-o", tmp_path / "l.h5")[0] == 0
    code, err = _run(capsys, *common, "-o", tmp_path / "r.h5", "--scheduler",
                     cluster.scheduler_address)
    assert code == 0, err
    with h5py.File(tmp_path / "l.h5") as fl, h5py.File(tmp_path / "r.h5") as fr:
        np.testing.assert_array_equal(fr["volume"][:], fl["volume"][:])


def test_unreachable_scheduler_is_one_line(tmp_path, capsys, make_scan):
    from hipct.errors import HipctError
    from hipct.reconstruction.cluster import connect
    with pytest.raises(HipctError, match="--scheduler: cannot reach"):
        connect("tcp://127.0.0.1:9", timeout_s=1.0)


def test_relative_paths_reach_the_workers(tmp_path, capsys, cluster, make_scan, monkeypatch):
    # the workers run in their own folders: inputs and the staged store go to them absolute
    make_scan(tmp_path / "scan.nx", n_rows=4, width=48, n_proj=61)
    monkeypatch.chdir(tmp_path)
    code, err = _run(capsys, "scan.nx", "-o", "rel.ome.zarr", "--no-phase", "--cor", "23.5",
                     "--scheduler", cluster.scheduler_address)
    assert code == 0, err
    assert zarr.open_group(str(tmp_path / "rel.ome.zarr"), mode="r")["0"].shape == (4, 48, 48)


def test_distributed_z_series_equals_local(tmp_path, capsys, cluster):
    from hipct.simulation.campaign import phantom_from_dict, simulate_campaign
    ph = phantom_from_dict({"features": [
        {"shape": "cylinder", "centre_mm": [0, 0, 0], "radius_mm": 0.2, "mu_per_cm": 2.0},
        {"shape": "ellipsoid", "centre_mm": [0.02, 0.05, -0.03],
         "semi_axes_mm": [0.08, 0.08, 0.06], "mu_per_cm": 3.0}]})
    recs = simulate_campaign(ph, tmp_path / "st", pixel_size_m=1e-5, n_rows=10, n_cols=48,
                             n_proj=60, z_positions_m=[6e-5, 0.0], oversample=1)
    common = [r["path"] for r in recs] + ["--no-phase", "--cor", "23.5", "--memory", "3MB"]
    assert _run(capsys, *common, "-o", tmp_path / "l.ome.zarr")[0] == 0
    code, err = _run(capsys, *common, "-o", tmp_path / "r.ome.zarr", "--scheduler",
                     cluster.scheduler_address)
    assert code == 0, err
    a = zarr.open_group(str(tmp_path / "l.ome.zarr"), mode="r")["0"][:]
    b = zarr.open_group(str(tmp_path / "r.ome.zarr"), mode="r")["0"][:]
    assert a.shape == (16, 48, 48)
    np.testing.assert_array_equal(b, a)


def test_a_cluster_without_workers_ends_in_one_line(tmp_path, capsys, make_scan, monkeypatch):
    # (the job is broadcast to the workers first, so an empty cluster is found there; the
    # watchdog for workers that leave during the run gives the same kind of line)
    from hipct.reconstruction import cluster as hcluster
    monkeypatch.setattr(hcluster, "NO_WORKER_TIMEOUT_S", 1.0)
    path = tmp_path / "scan.nx"
    make_scan(path, n_rows=2, width=32, n_proj=40)
    with distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1",
                                  dashboard_address=":0") as empty:
        code, err = _run(capsys, path, "--no-phase", "--cor", "15.5", "-o",
                         tmp_path / "v.ome.zarr", "--scheduler", empty.scheduler_address)
    assert code == 2 and "--scheduler: no worker" in err and "start workers" in err
    assert err.strip().splitlines()[-1].startswith("hipct: error:")
    assert not (tmp_path / "v.ome.zarr").exists()
