"""A fuzzing campaign over hipct's entry points (the suite's ``tests/test_fuzz.py``, larger).

Runs mutated plans, sweep files, beamline files and command-line options, and reconstructs
corrupted scans, checking each run against the property of :mod:`tests.fuzzing`: exit 0 with
finite JSON (and a finite volume), or exit 2 with one ``hipct: error:`` line; never a
traceback, a signal or a hang (each in-process run has a time limit; damaged-byte scans run
in child processes so a crash in HDF5 would show as a signal). Inputs that must be refused
(:func:`tests.fuzzing.must_reject_cases`, :data:`tests.fuzzing.MUST_REJECT`) count as
failures when accepted.

Usage::

    python benchmarks/fuzz_campaign.py [--plans 600] [--sweeps 300] [--beamlines 150]
                                       [--options 100] [--scans 170] [--flips 30] [--seed 1]

Prints one line per category and a total; exit 1 if any run broke the property.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from tests import fuzzing  # noqa: E402

LIMIT_S = 60.0


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


def _one(tally: Counter, failures: list, label: str, run):
    signal.setitimer(signal.ITIMER_REAL, LIMIT_S)
    try:
        tally[run()] += 1
    except _Hang:
        tally["hang"] += 1
        failures.append(f"{label}: hang (> {LIMIT_S:g} s)")
    except AssertionError as exc:
        tally["broken"] += 1
        failures.append(f"{label}: {' '.join(str(exc).split())[:300]}")
    except Exception:                     # an exception escaping main() is a traceback
        tally["traceback"] += 1
        failures.append(f"{label}: {traceback.format_exc(limit=3)[-400:]}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plans", type=int, default=600)
    ap.add_argument("--sweeps", type=int, default=300)
    ap.add_argument("--beamlines", type=int, default=150)
    ap.add_argument("--options", type=int, default=100, help="random reconstruct options")
    ap.add_argument("--scans", type=int, default=170, help="corrupted scans (in process)")
    ap.add_argument("--flips", type=int, default=30, help="damaged-byte scans (subprocess)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGALRM, _alarm)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="hipct-fuzz-"))
    results = {}
    failures: list[str] = []
    t0 = time.time()
    try:
        good = fuzzing.write_scan(work / "good.nx")
        plan_base, sweep_base = fuzzing.base_plan(), fuzzing.small_sweep()
        beam_base = yaml.safe_load(fuzzing.BEAMLINE.read_text())

        def plan_run(seed):
            path = work / "plan.yaml"
            path.write_bytes(fuzzing.mutate_mapping(plan_base, seed))
            return fuzzing.check_outcome(*fuzzing.run_cli(["plan", path, "--json"]), json_out=True)

        def sweep_run(seed):
            path = work / "sweep.yaml"
            path.write_bytes(fuzzing.mutate_mapping(sweep_base, seed))
            return fuzzing.check_outcome(*fuzzing.run_cli(fuzzing.plan_argv(seed, fuzzing.PLAN,
                                                                            path)),
                                         json_out=True)

        def beamline_run(seed):
            bl = work / "lab.yaml"
            bl.write_bytes(fuzzing.mutate_mapping(beam_base, seed))
            plan = dict(plan_base, beamline=str(bl), detector=None,
                        acquisition=dict(plan_base["acquisition"], projections=4000))
            (work / "plan_bl.yaml").write_text(yaml.safe_dump(plan))
            return fuzzing.check_outcome(*fuzzing.run_cli(["plan", work / "plan_bl.yaml",
                                                           "--json"]), json_out=True)

        def options_run(seed):
            out = work / "v.ome.zarr"
            for p in work.glob("*v.ome.zarr*"):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
            code, so, err = fuzzing.run_cli(["reconstruct", good, "-o", out, "--overwrite",
                                             *fuzzing.recon_argv(seed)])
            is_zarr = code == 0 and (out / "0").exists()
            return fuzzing.check_outcome(code, so, err, volume=out if is_zarr else None)

        kinds = [k for k in fuzzing.CORRUPTIONS if k != "byte flips"]

        def scan_run(seed, kind, subprocess=False):
            folder = work / "bad"
            shutil.rmtree(folder, ignore_errors=True)
            path = fuzzing.corrupt(good, folder, kind, seed)
            argv = ["reconstruct", path, "-o", folder / "v.ome.zarr", "--no-phase", "--cor",
                    "11.5", "--quiet"]
            run = fuzzing.run_subprocess if subprocess else fuzzing.run_cli
            code, so, err = run(argv)
            vol = folder / "v.ome.zarr"
            return fuzzing.check_outcome(code, so, err, volume=vol if code == 0 else None,
                                         must_reject=kind in fuzzing.MUST_REJECT)

        plan_like = [("mutated plans", args.plans, plan_run),
                     ("mutated sweep files + budgets", args.sweeps, sweep_run),
                     ("mutated beamline files", args.beamlines, beamline_run),
                     ("random reconstruct options", args.options, options_run)]
        for name, n, fn in plan_like:
            tally = Counter()
            for _ in range(n):
                seed = rng.randrange(2 ** 32)
                _one(tally, failures, f"{name} seed={seed}", lambda s=seed: fn(s))
            results[name] = tally
        tally = Counter()
        for label, argv, needle in fuzzing.must_reject_cases(work / "must"):
            def check(argv=argv, needle=needle, label=label):
                code, so, err = fuzzing.run_cli(argv)
                outcome = fuzzing.check_outcome(code, so, err)
                assert outcome == "refused" and needle in err, f"accepted or unclear: {label}"
                return outcome
            _one(tally, failures, f"must-reject {label}", check)
        results["must-reject inputs"] = tally
        tally = Counter()
        for i in range(args.scans):
            kind, seed = kinds[i % len(kinds)], rng.randrange(2 ** 32)
            _one(tally, failures, f"corrupted scan {kind!r} seed={seed}",
                 lambda k=kind, s=seed: scan_run(s, k))
        results["corrupted scans (in process)"] = tally
        tally = Counter()
        for _ in range(args.flips):
            seed = rng.randrange(2 ** 32)
            _one(tally, failures, f"damaged bytes seed={seed}",
                 lambda s=seed: scan_run(s, "byte flips", subprocess=True))
        results["damaged-byte scans (subprocess)"] = tally
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = Counter()
    for name, tally in results.items():
        total.update(tally)
        print(f"{name:34s} {sum(tally.values()):5d} runs: " +
              ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
    bad = sum(total[k] for k in ("broken", "traceback", "hang"))
    print(f"{'total':34s} {sum(total.values()):5d} runs in {time.time() - t0:.0f} s: "
          f"{bad} broke the property")
    for line in failures[:30]:
        print("  " + line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
