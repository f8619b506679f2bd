"""Fuzzing (hypothesis, bounded): mutated plans, sweep files, beamline files, CLI options and
corrupted scans end in exit 0 with finite output or exit 2 with one line; never a traceback,
a signal or a hang. The larger campaign is ``benchmarks/fuzz_campaign.py``."""

import shutil

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import fuzzing

SEEDS = st.integers(min_value=0, max_value=2 ** 32 - 1)
FAST = settings(max_examples=25, deadline=10_000, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def good_scan(workdir):
    return fuzzing.write_scan(workdir / "good.nx")


@FAST
@given(seed=SEEDS)
def test_mutated_plans(workdir, seed):
    path = workdir / "plan.yaml"
    path.write_bytes(fuzzing.mutate_mapping(fuzzing.base_plan(), seed))
    code, out, err = fuzzing.run_cli(["plan", path, "--json"])
    fuzzing.check_outcome(code, out, err, json_out=True)


@FAST
@given(seed=SEEDS)
def test_mutated_sweeps_and_budgets(workdir, seed):
    sweep = workdir / "sweep.yaml"
    sweep.write_bytes(fuzzing.mutate_mapping(fuzzing.small_sweep(), seed))
    code, out, err = fuzzing.run_cli(fuzzing.plan_argv(seed, fuzzing.PLAN, sweep))
    fuzzing.check_outcome(code, out, err, json_out=True)


@FAST
@given(seed=SEEDS)
def test_mutated_beamline_files(workdir, seed):
    beamline = workdir / "lab.yaml"
    beamline.write_bytes(fuzzing.mutate_mapping(yaml.safe_load(fuzzing.BEAMLINE.read_text()),
                                                seed))
    plan = fuzzing.base_plan()
    plan.update(beamline=str(beamline), detector=None)
    plan["acquisition"] = dict(plan["acquisition"], projections=4000)
    (workdir / "plan_bl.yaml").write_text(yaml.safe_dump(plan))
    code, out, err = fuzzing.run_cli(["plan", workdir / "plan_bl.yaml", "--json"])
    fuzzing.check_outcome(code, out, err, json_out=True)


@settings(max_examples=12, deadline=20_000, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=SEEDS)
def test_random_reconstruct_options(workdir, good_scan, seed):
    out = workdir / "v.ome.zarr"
    code, stdout, err = fuzzing.run_cli(["reconstruct", good_scan, "-o", out, "--overwrite",
                                         *fuzzing.recon_argv(seed)])
    is_zarr = code == 0 and out.is_dir() and (out / "0").exists()
    fuzzing.check_outcome(code, stdout, err, volume=out if is_zarr else None)
    for p in workdir.glob("*v.ome.zarr*"):
        shutil.rmtree(p) if p.is_dir() else p.unlink()


@settings(max_examples=20, deadline=20_000, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from([k for k in fuzzing.CORRUPTIONS if k != "byte flips"]), seed=SEEDS)
def test_corrupted_scans(workdir, good_scan, kind, seed):
    folder = workdir / "bad"
    shutil.rmtree(folder, ignore_errors=True)
    path = fuzzing.corrupt(good_scan, folder, kind, seed)
    out = folder / "v.ome.zarr"
    code, stdout, err = fuzzing.run_cli(["reconstruct", path, "-o", out, "--no-phase",
                                         "--cor", "11.5", "--quiet"])
    fuzzing.check_outcome(code, stdout, err, volume=out if code == 0 else None,
                          must_reject=kind in fuzzing.MUST_REJECT)


@pytest.mark.parametrize("seed", range(3))
def test_damaged_bytes_never_raise_a_signal(workdir, good_scan, seed):
    # HDF5 parses the damaged file in C: run it in a child so a crash would show as a signal
    folder = workdir / f"flip{seed}"
    path = fuzzing.corrupt(good_scan, folder, "byte flips", seed)
    code, out, err = fuzzing.run_subprocess(["reconstruct", path, "-o", folder / "v.ome.zarr",
                                             "--no-phase", "--cor", "11.5", "--quiet"])
    fuzzing.check_outcome(code, out, err, volume=None)


def test_broken_pipe_ends_quietly(monkeypatch):
    import io
    import os
    import sys
    from hipct.cli import main
    r, w = os.pipe()
    os.close(r)
    stream = io.TextIOWrapper(os.fdopen(w, "wb", buffering=0), write_through=True)
    monkeypatch.setattr(sys, "stdout", stream)
    assert main(["plan", str(fuzzing.PLAN)]) == 0
    monkeypatch.undo()
    stream.close()


def test_inputs_that_must_be_refused(tmp_path):
    for label, argv, needle in fuzzing.must_reject_cases(tmp_path):
        code, out, err = fuzzing.run_cli(argv)
        assert fuzzing.check_outcome(code, out, err) == "refused", label
        assert needle in err, (label, err)
