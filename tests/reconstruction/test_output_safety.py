"""Outputs that cannot be lost or mixed: lock, resume key, overwrite marker, swap, faults."""

import json
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
import zarr

from hipct.cli import main
from hipct.errors import HipctError
from hipct.reconstruction.io import output_guard, writers
from tests.reconstruction.conftest import killed_after_first_slab

COMMON = ["--no-phase", "--cor", "15.5", "--quiet"]


def _run(capsys, *args):
    code = main(["reconstruct", *map(str, args)])
    return code, capsys.readouterr().err


@pytest.fixture
def scan(tmp_path, make_scan):
    path = tmp_path / "scan.nx"
    make_scan(path, n_rows=4, width=32, n_proj=60)
    return path


def _volume(path):
    return zarr.open_group(str(path), mode="r")["0"][:]


def test_empty_or_working_folder_output_is_refused_and_nothing_deleted(tmp_path, capsys, scan,
                                                                        monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "precious.txt").write_text("keep")
    monkeypatch.chdir(work)
    for out in ("", ".", "..", str(work), "/"):
        code, err = _run(capsys, scan, "-o", out, "--overwrite", *COMMON)
        assert code == 2 and err.count("\n") == 1 and "--output" in err, (out, err)
    assert (work / "precious.txt").read_text() == "keep"
    assert sorted(os.listdir(work)) == ["precious.txt"]       # no staging or lock left


def test_overwrite_of_a_foreign_folder_is_refused(tmp_path, capsys, scan):
    foreign = tmp_path / "results"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    code, err = _run(capsys, scan, "-o", foreign, "--overwrite", *COMMON)
    assert code == 2 and "not written by hipct" in err and err.count("\n") == 1
    assert (foreign / "notes.txt").read_text() == "mine"
    # the input file itself is never an output, nor a folder holding it (a simulated
    # campaign folder carries hipct's marker, so the marker alone would not protect it)
    code, err = _run(capsys, scan, "-o", scan, "--overwrite", *COMMON)
    assert code == 2 and "input file" in err
    output_guard.write_marker(tmp_path, {"simulate": "campaign"})
    code, err = _run(capsys, scan, "-o", tmp_path, "--overwrite", *COMMON)
    assert code == 2 and "holds the input" in err and scan.exists()


def test_overwrite_replaces_a_hipct_output_and_leaves_nothing_beside(tmp_path, capsys, scan):
    out = tmp_path / "v.ome.zarr"
    assert _run(capsys, scan, "-o", out, *COMMON)[0] == 0
    assert output_guard.read_marker(out)["format"] == "ome-zarr"
    first = _volume(out)
    code, err = _run(capsys, scan, "-o", out, "--overwrite", "--rings", "3", *COMMON)
    assert code == 0, err
    assert not np.array_equal(_volume(out), first)                 # the new volume is there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.nx", "v.ome.zarr"]


def test_resume_on_a_complete_output_is_a_no_op(tmp_path, capsys, scan):
    out = tmp_path / "v.ome.zarr"
    assert _run(capsys, scan, "-o", out, *COMMON)[0] == 0
    stamp = os.stat(out / "0" / ".zarray").st_mtime_ns
    code, err = _run(capsys, scan, "-o", out, "--resume", *COMMON)
    assert code == 0 and "already complete" in err
    assert os.stat(out / "0" / ".zarray").st_mtime_ns == stamp
    # a complete output made with other parameters is not silently kept
    code, err = _run(capsys, scan, "-o", out, "--resume", "--rings", "3", *COMMON)
    assert code == 2 and "ring_filter_size" in err and "--overwrite" in err


def _interrupted(monkeypatch, capsys, scan, out, *extra):
    """Run until the first slab is written, then die (as a kill would)."""
    with killed_after_first_slab(monkeypatch):
        code, _ = _run(capsys, scan, "-o", out, "--memory", "0.2MB", "--fbp", "linear",
                       *COMMON, *extra)
    assert code == 130 and not out.exists()
    assert (out.parent / f".{out.name}.partial" / "hipct-progress.json").is_file()


def test_resume_with_another_input_or_format_is_refused(tmp_path, capsys, scan, make_scan,
                                                       monkeypatch):
    other = tmp_path / "other.nx"
    make_scan(other, n_rows=4, width=32, n_proj=60, flat_level=900.0)
    out = tmp_path / "v.ome.zarr"
    _interrupted(monkeypatch, capsys, scan, out)
    budget = ["--memory", "0.2MB", "--fbp", "linear"]
    shutil.copy(other, tmp_path / "scan.nx.new")
    os.replace(tmp_path / "scan.nx.new", scan)               # same path, other content
    code, err = _run(capsys, scan, "-o", out, "--resume", *budget, *COMMON)
    assert code == 2 and "inputs[0].sha256" in err and err.count("\n") == 1
    code, err = _run(capsys, scan, "-o", out, "--resume", "--format", "ome-zarr-v3",
                     *budget, *COMMON)
    assert code == 2 and "format" in err
    assert not out.exists()


def test_second_concurrent_run_is_refused_and_the_first_completes(tmp_path, capsys, scan,
                                                                   monkeypatch):
    out = tmp_path / "v.ome.zarr"
    reference = tmp_path / "ref.ome.zarr"
    assert _run(capsys, scan, "-o", reference, *COMMON)[0] == 0
    # the first run is inside its slab loop when the second one starts
    original = writers._Staged.write
    seen = {}

    def write_then_race(self, z0, block):
        if not seen:
            seen["second"] = _run(capsys, scan, "-o", out, "--overwrite", *COMMON)
        return original(self, z0, block)

    monkeypatch.setattr(writers._Staged, "write", write_then_race)
    code, err = _run(capsys, scan, "-o", out, *COMMON)
    assert code == 0, err
    code2, err2 = seen["second"]
    assert code2 == 2 and "being written by another hipct run" in err2 and f"pid {os.getpid()}" in err2
    np.testing.assert_array_equal(_volume(out), _volume(reference))


def test_lock_is_refused_across_processes(tmp_path):
    out = tmp_path / "v.ome.zarr"
    with subprocess.Popen(
            [sys.executable, "-c",
             "import time; from hipct.reconstruction.io.output_guard import OutputLock;"
             f"lock = OutputLock({str(out)!r}).acquire(); print('held', flush=True); "
             "time.sleep(30)"], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(HipctError, match=f"pid {holder.pid}"):
                output_guard.OutputLock(out).acquire()
        finally:
            holder.kill()
    output_guard.OutputLock(out).acquire().release()      # free again once the holder died


def _small_writer(out, value, **kw):
    attrs = {"hipct": {"inputs": [{"path": "x.nx", "sha256": "0" * 64}],
                       "parameters": {"value": value}}}
    w = writers.open_writer("ome-zarr", out, (2, 8, 8), np.float32, attrs, voxel_um=1.0,
                            origin_um=(0, 0, 0), chunk_z=2, **kw)
    if not w.is_done(0, 2):
        w.write(0, np.full((2, 8, 8), value, np.float32))
    return w


class _Kill(Exception):
    pass


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
@pytest.mark.parametrize("at", ["exchanged", "old moved aside", "new in place", "done"])
def test_kill_during_overwrite_leaves_old_or_new_whole(tmp_path, monkeypatch, exchange, at):
    if exchange and not output_guard._exchange(tmp_path, tmp_path):
        pytest.skip("this filesystem has no atomic exchange (renameat2)")
    if not exchange:
        monkeypatch.setattr(output_guard, "_exchange", lambda a, b: False)
    out = tmp_path / "v.ome.zarr"
    _small_writer(out, 1.0).finalise()
    w = _small_writer(out, 2.0, overwrite=True)

    def step(name):
        if name == at:
            raise _Kill(name)

    reached = {"exchanged": exchange, "old moved aside": not exchange}.get(at, True)
    if reached:
        with pytest.raises(_Kill):
            w.finalise(_step=step)
    else:
        w.finalise(_step=step)
    w.abandon()
    # at this moment: the old or the new output is whole, at its place or beside it
    whole = [p for p in (out, output_guard.trash_path(out)) if p.exists()]
    assert whole and all(np.unique(_volume(p)).size == 1 for p in whole)
    output_guard.recover(out)                      # what the next run does first, under lock
    assert np.unique(_volume(out))[0] in (1.0, 2.0)
    assert not output_guard.trash_path(out).exists()
    # and --resume of the interrupted replacement ends with the new output
    w = _small_writer(out, 2.0, overwrite=True, resume=True)
    w.finalise()
    assert np.unique(_volume(out)).tolist() == [2.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.ome.zarr"]


def test_corrupt_journal_is_one_line(tmp_path, capsys, scan, monkeypatch):
    out = tmp_path / "v.ome.zarr"
    _interrupted(monkeypatch, capsys, scan, out)
    (out.parent / f".{out.name}.partial" / "hipct-progress.json").write_text("{not json")
    code, err = _run(capsys, scan, "-o", out, "--resume", "--memory", "0.2MB", "--fbp",
                     "linear", *COMMON)
    assert code == 2 and "journal" in err and err.count("\n") == 1
    code, err = _run(capsys, scan, "-o", out, "--memory", "0.2MB", "--fbp", "linear", *COMMON)
    assert code == 0, err                                   # without --resume: starts again


def test_read_only_output_folder_is_one_line(tmp_path, capsys, scan):
    ro = tmp_path / "ro"
    if os.geteuid() == 0:                  # root ignores permissions: a read-only mount
        if not _mount_tmpfs(ro, "1m"):
            pytest.skip("root, and cannot mount a read-only tmpfs here")
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
    else:
        ro.mkdir()
        ro.chmod(0o555)
    try:
        code, err = _run(capsys, scan, "-o", ro / "v.ome.zarr", *COMMON)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(ro)], capture_output=True)
        else:
            ro.chmod(0o755)
    assert code == 2 and err.count("\n") == 1 and "writable" in err, err


def test_missing_output_folder_is_created(tmp_path, capsys, scan):
    out = tmp_path / "new" / "deeper" / "v.ome.zarr"
    code, err = _run(capsys, scan, "-o", out, *COMMON)
    assert code == 0, err and output_guard.read_marker(out) is not None


def _mount_tmpfs(path, size):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


def test_disk_full_is_one_line_and_resumable(tmp_path, capsys, make_scan):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "1500k"):
        pytest.skip("cannot mount a small tmpfs here (needs root and mount)")
    try:
        scan = tmp_path / "scan.nx"
        make_scan(scan, n_rows=16, width=256, n_proj=90)
        out = disk / "v.ome.zarr"
        # 4-row slabs of ~0.6 MB compressed: the first fits on the 1.5 MB disk, not all four
        args = ["--no-phase", "--cor", "127.5", "--quiet", "--memory", "8.5MB", "--fbp", "linear"]
        code, err = _run(capsys, scan, "-o", out, *args)
        assert code == 2 and "disk full" in err and "--resume" in err
        assert err.strip().splitlines()[-1].startswith("hipct: error:")
        assert not out.exists() and not output_guard.lock_path(out).exists()
        journal = disk / ".v.ome.zarr.partial" / "hipct-progress.json"
        assert 0 < len(json.loads(journal.read_text())["done"]) < 4
        # an uncompressed HDF5 volume that cannot fit is refused before the work
        code, err = _run(capsys, scan, "-o", disk / "v.h5", "--format", "hdf5", *args)
        assert code == 2 and "are free beside" in err and err.count("\n") == 1
        assert not (disk / ".v.h5.partial").exists() and not (disk / "v.h5").exists()
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        code, err = _run(capsys, scan, "-o", out, "--resume", *args)
        assert code == 0, err
        reference = tmp_path / "ref.ome.zarr"
        assert _run(capsys, scan, "-o", reference, *args)[0] == 0
        np.testing.assert_array_equal(_volume(out), _volume(reference))
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_written_files_follow_the_umask(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hipct.files import write_text_atomic
    from hipct.planner.plots import save_figure
    old = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "a.json", "{}\n")
        figure = save_figure(plt.figure(), tmp_path / "f.png")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644      # mkstemp alone gives 0600
    assert stat.S_IMODE(os.stat(figure).st_mode) == 0o644


def test_output_of_a_version_without_markers_may_be_overwritten(tmp_path, capsys, scan):
    out = tmp_path / "v.ome.zarr"
    assert _run(capsys, scan, "-o", out, *COMMON)[0] == 0
    (out / output_guard.MARKER).unlink()            # as written before outputs had markers
    assert output_guard.read_marker(out) == {"written_before_run_keys": True}
    code, err = _run(capsys, scan, "-o", out, "--resume", *COMMON)
    assert code == 2 and "--overwrite" in err       # not known to be the same run
    assert _run(capsys, scan, "-o", out, "--overwrite", *COMMON)[0] == 0
    assert output_guard.read_marker(out)["format"] == "ome-zarr"
