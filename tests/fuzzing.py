"""Mutations of hipct's inputs and the property every run must keep (used by
``tests/test_fuzz.py`` and ``benchmarks/fuzz_campaign.py``).

The property: exit 0 with finite JSON (and, for a reconstruction, a finite volume), or exit 2
with exactly one ``hipct: error:`` line, the last one; never a traceback, a signal or a hang.
Every mutation is a pure function of a seed, so a failure is reproduced from its seed.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "examples" / "voi_0p857um_intact.yaml"
SWEEP = ROOT / "examples" / "sweep_voi_intact.yaml"
BEAMLINE = ROOT / "beamlines" / "bm05.yaml"

NASTY = [None, True, False, 0, -1, 2.7, 1e300, float("nan"), float("inf"), -float("inf"),
         "nan", ".nan", "abc", "", " ", "1e400 m", "nan kGy", "inf mm", "2**2**2**2**2 m",
         "9**9**9 s", "0.00001 keV", "-5 mm", "5", "5 m", "5 kg", "0", "0 mm", "1e-30 ms",
         "1e30 ms", [], {}, [1, 2], {"a": 1}, "x" * 300, "GGG 20 um", "sapphire 7 mm",
         "Ag 1e9 mm", "brain", 10 ** 30, -10 ** 30, "10 keV", "900 keV", "0.001 keV", "1 T",
         [[[[[1]]]]], "é∂ƒ", "\x00", "1.5.5 m", "m", "3 furlong", "12 mA", "1e9 mA"]


_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*([A-Za-zµ/^0-9]+)\s*$")


def _paths(node, prefix=()):
    """Every (path, value) in a nested mapping/list."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _set(node, path, value):
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _delete(node, path):
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


def _misspell(rng, key: str) -> str:
    if len(key) < 2:
        return key + "x"
    i = rng.randrange(len(key))
    return key[:i] + key[i + 1:]


def mutate_mapping(base: dict, seed: int) -> bytes:
    """A YAML document made from ``base`` by one to three random mutations (or a text one)."""
    rng = random.Random(seed)
    data = copy.deepcopy(base)
    op = rng.random()
    if op < 0.15:                                   # text-level damage
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()
        kind = rng.randrange(6)
        if kind == 0:                               # not UTF-8
            i = rng.randrange(len(text))
            return text[:i] + b"\xff\xfe\xc3" + text[i:]
        if kind == 1:                               # truncated
            return text[:rng.randrange(len(text))]
        if kind == 2:                               # a duplicate key
            first = text.split(b"\n", 1)[0]
            return text + first + b"\n"
        if kind == 3:                               # deep nesting
            depth = rng.choice([40, 200, 2000])
            return text + b"extra: " + b"[" * depth + b"]" * depth + b"\n"
        if kind == 4:                               # alias bomb
            return (b"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a]\n"
                    b"c: &c [*b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c]\n"
                    b"e: [*d, *d, *d, *d, *d, *d, *d, *d]\n" + text)
        raw = bytearray(text)                       # byte flips
        for _ in range(rng.randint(1, 5)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw)
    if op < 0.45:                                   # plausible edits: scale quantities
        for path, value in [(p, v) for p, v in _paths(data) if p]:
            if rng.random() < 0.5:
                continue
            if isinstance(value, str):
                m = _QUANTITY.match(value)
                if m:
                    scaled = float(m.group(1)) * rng.choice([0.5, 0.8, 1.25, 2.0])
                    _set(data, path, f"{scaled:.4g} {m.group(2)}")
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and value > 1:
                _set(data, path, type(value)(value * rng.choice([1, 2])))
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()
    for _ in range(rng.randint(1, 3)):
        paths = [p for p, _ in _paths(data) if p]
        if not paths:
            break
        path = rng.choice(paths)
        action = rng.random()
        if action < 0.6:
            _set(data, path, copy.deepcopy(rng.choice(NASTY)))
        elif action < 0.75:
            _delete(data, path)
        else:
            parent = data
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, dict) and isinstance(path[-1], str):
                parent[_misspell(rng, path[-1])] = parent.pop(path[-1])
            else:
                _set(data, path, copy.deepcopy(rng.choice(NASTY)))
    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()
    except yaml.YAMLError:
        return b"name: [unserialisable\n"


def base_plan() -> dict:
    return yaml.safe_load(PLAN.read_text())


def base_sweep() -> dict:
    return yaml.safe_load(SWEEP.read_text())


def small_sweep() -> dict:
    """A sweep of a few variants (the example's 10 000 take a second each)."""
    return {"filters": [["sapphire 7 mm"], ["sapphire 7 mm", "Ag 0.1 mm"]],
            "propagation_distance": {"from": "0.1 m", "to": "1 m", "num": 3, "spacing": "log"},
            "subframe_time": [20, "50 ms"]}


def run_cli(argv) -> tuple[int, str, str]:
    """``hipct.cli.main(argv)`` in this process: (exit code, stdout, stderr)."""
    from hipct.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:                   # argparse's own errors
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def _no_nan(text: str):
    def refuse(name):
        raise ValueError(f"non-finite number {name} in JSON")
    return json.loads(text, parse_constant=refuse)


def check_outcome(code: int, out: str, err: str, *, json_out: bool = False,
                  volume: Path | None = None, must_reject: bool = False) -> str:
    """Raise AssertionError unless the run kept the property; returns 'ok' or 'refused'."""
    assert "Traceback" not in err and "Traceback" not in out, err[-2000:]
    assert code in (0, 2), f"exit {code}: {err[-500:]}"
    if code == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("hipct: error:")]
        assert len(errors) == 1 and lines[-1] == errors[0], err[-1000:]
        assert all(ln.startswith("hipct: ") for ln in lines), err[-1000:]
        return "refused"
    assert not must_reject, f"accepted an input that must be refused: {err[-300:]}"
    if json_out:
        text = out.strip()
        try:
            _no_nan(text)
        except json.JSONDecodeError:                # one object per line
            for line in text.splitlines():
                _no_nan(line)
    if volume is not None:
        vol = read_volume(volume)
        assert np.isfinite(vol).all(), "the volume has non-finite voxels"
    return "ok"


def read_volume(path: Path) -> np.ndarray:
    import zarr
    return np.asarray(zarr.open_group(str(path), mode="r")["0"][:])


# --- reconstruction inputs -------------------------------------------------------------------

RAW_SHAPE = (24, 2, 24)          # projections, rows, columns: a run takes ~0.2 s


def write_scan(path: Path, seed: int = 0) -> Path:
    """A tiny valid NXtomo scan (a disc, 180°, flats and darks)."""
    from hipct.reconstruction.io.nxtomo import write_nxtomo
    n, rows, cols = RAW_SHAPE
    theta = np.arange(n) * np.pi / n
    x = np.arange(cols) - (cols - 1) / 2
    chord = 2 * np.sqrt(np.clip(8.0 ** 2 - x ** 2, 0, None)) * 0.02
    rng = np.random.default_rng(seed)
    proj = 100 + 900 * np.exp(-chord)[None, None, :] * np.ones((n, rows, 1))
    proj = proj + rng.normal(0, 1, proj.shape)
    write_nxtomo(path, proj.astype(np.float32), theta,
                 flats=np.full((2, rows, cols), 1000.0, np.float32),
                 darks=np.full((2, rows, cols), 100.0, np.float32), pixel_size_m=5e-6,
                 distance_m=0.1, energy_kev=30.0)
    return path


CORRUPTIONS = ["nan data", "zero data", "constant data", "int8 data", "bool data",
               "flats equal darks", "darks brighter", "nan angles", "short angles",
               "string angles", "data as group", "data 2-D", "no projections", "one projection",
               "keys all flats", "keys wrong length", "no image key", "no angles",
               "truncated", "empty file", "not hdf5", "inf flats", "huge angles",
               "negative data", "nan rows", "nan flats", "random angles", "dxchange group",
               "dxchange empty", "dxchange nan theta", "tiff nan angles", "tiff missing",
               "tiff bad yaml", "tiff unknown key", "byte flips"]
MUST_REJECT = {"nan data", "zero data", "constant data", "int8 data", "bool data",
               "flats equal darks", "darks brighter", "nan angles", "short angles",
               "string angles", "data as group", "data 2-D", "no projections", "one projection",
               "keys all flats", "keys wrong length", "no image key", "no angles", "truncated",
               "empty file", "not hdf5", "nan flats", "dxchange group", "dxchange empty",
               "dxchange nan theta", "tiff nan angles", "tiff missing", "tiff bad yaml",
               "tiff unknown key"}


def corrupt(good: Path, folder: Path, kind: str, seed: int) -> Path:
    """A damaged copy of the scan ``good`` in ``folder`` (see :data:`CORRUPTIONS`)."""
    import h5py
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scan.nx"
    shutil.copy(good, path)
    det, ang = "entry/instrument/detector", "entry/sample/rotation_angle"
    if kind in ("truncated", "empty file", "not hdf5", "byte flips"):
        raw = bytearray(path.read_bytes())
        if kind == "truncated":
            raw = raw[:int(rng.integers(1, len(raw) - 1))]
        elif kind == "empty file":
            raw = bytearray()
        elif kind == "not hdf5":
            raw = bytearray(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
        else:
            for i in rng.integers(0, len(raw), int(rng.integers(1, 64))):
                raw[int(i)] = int(rng.integers(0, 256))
        path.write_bytes(bytes(raw))
        return path
    if kind.startswith("tiff"):
        import tifffile
        n, rows, cols = RAW_SHAPE
        for i in range(4):
            tifffile.imwrite(folder / f"p{i}.tif", (rng.random((rows, cols)) * 1000).astype(np.uint16))
        text = {"tiff nan angles": "projections: p*.tif\nangles: [0, .nan, 90, 135]\n",
                "tiff missing": "projections: q*.tif\nangles: {start: 0, stop: 180}\n",
                "tiff bad yaml": "projections: [p*.tif\n",
                "tiff unknown key": "projections: p*.tif\nangels: {start: 0, stop: 180}\n"}[kind]
        side = folder / "scan.yaml"
        side.write_text(text)
        return side
    if kind.startswith("dxchange"):
        path = folder / "scan.h5"
        with h5py.File(path, "w") as f:
            if kind == "dxchange group":
                f.create_group("exchange/data")
            elif kind == "dxchange empty":
                f["exchange/data"] = np.zeros((0, 2, 8), np.uint16)
                f["exchange/theta"] = np.zeros(0)
            else:
                f["exchange/data"] = rng.random((6, 2, 8)).astype(np.float32)
                f["exchange/theta"] = np.array([0, 30, np.nan, 90, 120, 150.0])
        return path
    with h5py.File(path, "r+") as f:
        key = f[det]["image_key"][()]
        data = f[det]["data"]
        arr = data[()]
        if kind in ("nan data", "zero data", "constant data", "negative data"):
            arr[key == 0] = {"nan data": np.nan, "zero data": 0.0, "constant data": 7.0,
                             "negative data": -50.0}[kind]
            data[...] = arr
        elif kind in ("int8 data", "bool data"):
            del f[det]["data"]
            f[det]["data"] = (arr > 500) if kind == "bool data" else (arr / 10).astype(np.int8)
        elif kind in ("flats equal darks", "darks brighter", "inf flats", "nan flats",
                      "nan rows"):
            if kind == "flats equal darks":
                arr[key == 1] = 100.0
            elif kind == "darks brighter":
                arr[key == 2] = 5000.0
            elif kind == "inf flats":
                arr[np.nonzero(key == 1)[0], 0, 0] = np.inf
            elif kind == "nan flats":
                arr[key == 1] = np.nan
            else:
                arr[np.nonzero(key == 0)[0], 0, :3] = np.nan
            data[...] = arr
        elif kind in ("nan angles", "short angles", "string angles", "huge angles",
                      "random angles", "no angles"):
            a = f[ang][()]
            del f[ang]
            if kind == "nan angles":
                a[int(rng.choice(np.nonzero(key == 0)[0]))] = np.nan   # a projection's
                f[ang] = a
            elif kind == "short angles":
                f[ang] = a[:-3]
            elif kind == "string angles":
                f[ang] = np.array([b"x"] * a.size)
            elif kind == "huge angles":
                f[ang] = a * 1e30
            elif kind == "random angles":
                f[ang] = rng.uniform(0, 180, a.size)
            if kind != "no angles":
                f[ang].attrs["units"] = "degree"
        elif kind in ("data as group", "data 2-D"):
            del f[det]["data"]
            if kind == "data as group":
                f[det].create_group("data")
            else:
                f[det]["data"] = arr[:, 0, :]
        elif kind in ("no projections", "one projection", "keys all flats", "keys wrong length",
                      "no image key"):
            for name in ("image_key", "image_key_control"):
                k = f[det][name][()]
                del f[det][name]
                if kind == "no image key":
                    continue
                if kind in ("no projections", "keys all flats"):
                    k = np.where(k == 0, 1, k)
                elif kind == "one projection":
                    k = np.where(k == 0, 1, k)
                    k[np.nonzero(k == 1)[0][2]] = 0
                else:
                    k = k[:-1]
                f[det][name] = k
    return path


RECON_OPTIONS = {
    "--cor": ["auto", "11.5", "-5", "1e9", "nan", "11.5,12", "abc", "23", "0"],
    "--bin": ["1", "2", "0", "-1", "1000", "2.5"],
    "--width": ["1", "5", "24", "0", "1000000000", "-3"],
    "--rows": ["0:1", "0:2", "1:0", "0:100", "a:b", "-1:1"],
    "--memory": ["1GB", "0", "-1GB", "nan GB", "1e400 GB", "lots", "0.1MB", "10kB"],
    "--energy": ["30", "30 keV", "nan keV", "-3 keV", "1e9 keV", "30 m"],
    "--distance": ["0.1", "0 m", "nan m", "1e9 m", "-1 m"],
    "--pixel-size": ["5", "5 um", "0 um", "nan um", "1 km"],
    "--delta-beta": ["0", "300", "-1", "nan", "inf", "1e30"],
    "--unsharp": ["1,0.5", "nan,1", "1", "1e9,1", "-1,-1"],
    "--rings": ["0", "3", "-1", "1000000"],
    "--roi": ["0:10,0:10", "10:0,0:5", "0:1000,0:5", "x"],
    "--window": ["0,1", "1,0", "nan,1", "0,inf"],
    "--origin": ["0,0,0", "nan,0,0", "1,2"],
    "--format": ["ome-zarr", "ome-zarr-v3", "tiff", "hdf5", "nrrd"],
    "--dtype": ["float32", "uint16", "int8"],
    "--fbp": ["fourier", "linear", "magic"],
    "--filter": ["ramp", "hann", "boxcar"],
}


def recon_argv(seed: int) -> list[str]:
    """Random reconstruct options (some valid, some not), without input and output."""
    rng = random.Random(seed)
    argv = ["--quiet"]
    keys = rng.sample(sorted(RECON_OPTIONS), rng.randint(0, 3))
    if "--delta-beta" not in keys and rng.random() < 0.7:
        argv.append("--no-phase")
    for key in keys:
        argv += [key, rng.choice(RECON_OPTIONS[key])]
    if "--cor" not in keys:
        argv += ["--cor", "11.5"]
    return argv


PLAN_OPTIONS = {
    "--max-dose": ["20kGy", "5 kGy", "100 kGy", "3e4", "nan kGy", "-1 Gy", "0", "inf Gy",
                   "5 m", "1e400"],
    "--max-time": ["4h", "30 min", "2 h", "nan s", "-1 s", "3 kg"],
    "--max-resolution": ["2um", "5 um", "nan um", "0 um", "1e400 um"],
    "--min-range": ["0", "0.1", "0.5", "2", "nan", "-1"],
    "--top": ["1", "3", "10", "0", "-5", "1e9", "x"],
    "--goal": ["cnr", "dose", "time", "range", "cnr-per-dose", "speed"],
}


def plan_argv(seed: int, plan: Path, sweep: Path) -> list[str]:
    """``plan PLAN --sweep SWEEP --json`` with random budget options."""
    rng = random.Random(seed)
    argv = ["plan", plan, "--sweep", sweep, "--json"]
    for key in rng.sample(sorted(PLAN_OPTIONS), rng.randint(0, 2)):
        argv += [key, rng.choice(PLAN_OPTIONS[key])]
    return argv


def run_subprocess(argv, timeout_s: float = 120) -> tuple[int, str, str]:
    """``python -m hipct ARGV`` in a child: a signal shows as a negative exit code."""
    try:
        done = subprocess.run([sys.executable, "-m", "hipct", *map(str, argv)],
                              capture_output=True, text=True, timeout=timeout_s, cwd=ROOT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"hang: {argv} ran past {timeout_s} s") from None
    assert done.returncode >= 0, f"killed by signal {-done.returncode}: {argv}"
    return done.returncode, done.stdout, done.stderr


def is_finite_json(text: str) -> bool:
    try:
        _no_nan(text)
    except ValueError:
        return False
    return True


__all__ = ["mutate_mapping", "check_outcome", "run_cli", "run_subprocess", "write_scan",
           "corrupt", "CORRUPTIONS", "MUST_REJECT", "recon_argv", "plan_argv", "base_plan",
           "base_sweep", "small_sweep", "read_volume", "is_finite_json"]


# --- inputs that must be refused (exit 2, one line naming the field) ---------------------------

def must_reject_cases(folder: Path) -> list[tuple[str, list, str]]:
    """``(label, argv, text the error must contain)`` for inputs every run must refuse."""
    folder.mkdir(parents=True, exist_ok=True)
    plan_text = PLAN.read_text()
    base = base_plan()
    cases = []

    def plan_file(name, data=None, text=None, raw=None):
        path = folder / f"{name}.yaml"
        if raw is not None:
            path.write_bytes(raw)
        else:
            path.write_text(text if text is not None else yaml.safe_dump(data, sort_keys=False))
        return path

    def with_(**kw):
        d = copy.deepcopy(base)
        for key, value in kw.items():
            node = d
            parts = key.split("__")
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = value
        return d

    for label, data, needle in [
        ("nan distance", with_(propagation_distance="nan m"), "propagation_distance"),
        ("bare nan distance", with_(propagation_distance=float("nan")), "propagation_distance"),
        ("1e400 current", with_(ring_current="1e400 mA"), "ring_current"),
        ("tiny grid step", with_(energy_grid={"step": "0.00001 keV"}), "energy_grid.step"),
        ("grid beyond tables", with_(energy_grid={"max": "2000 keV"}), "energy_grid.max"),
        ("power tower", with_(propagation_distance="2**2**2**2**2 m"), "propagation_distance"),
        ("delta_beta abc", with_(delta_beta="abc"), "delta_beta"),
        ("inf projections", with_(acquisition__projections=float("inf")), "projections"),
        ("fractional projections", with_(acquisition__projections=2000.5), "projections"),
        ("negative fill", with_(target_fill=-0.5), "target_fill"),
        ("dev zero beamline", with_(beamline="/dev/zero"), "not a regular file"),
        ("misspelt key", {**base, "propagation_distanc": "1 m"}, "propagation_distance"),
    ]:
        cases.append((f"plan: {label}", ["plan", plan_file(label.replace(" ", "_"), data), "--json"],
                      needle))
    cases.append(("plan: duplicate key",
                  ["plan", plan_file("dup", text=plan_text + "\nname: again\n"), "--json"],
                  "duplicate key 'name'"))
    cases.append(("plan: not UTF-8",
                  ["plan", plan_file("latin", raw=plan_text.encode() + b"\n# caf\xe9\n"), "--json"],
                  "not UTF-8"))
    cases.append(("plan: deep nesting",
                  ["plan", plan_file("deep", text=plan_text + "\nx: " + "[" * 500 + "]" * 500 + "\n"),
                   "--json"], "nested"))
    beam = yaml.safe_load(BEAMLINE.read_text())
    for label, mutate, needle in [
        ("full_wel", lambda b: next(iter(b["cameras"].values())).update(
            full_wel=next(iter(b["cameras"].values())).pop("full_well")), "did you mean 'full_well'"),
        ("QE of 5", lambda b: next(iter(b["cameras"].values())).update(quantum_efficiency=5),
         "quantum_efficiency"),
        ("cameras as a list", lambda b: b.update(cameras=[1, 2]), "cameras"),
        ("nan field", lambda b: b["source"].update(field="nan T"), "field"),
    ]:
        b = copy.deepcopy(beam)
        mutate(b)
        bl = plan_file(f"beamline_{label.replace(' ', '_')}", b)
        cases.append((f"beamline: {label}",
                      ["plan", plan_file(f"plan_{label.replace(' ', '_')}",
                                         {**base, "beamline": str(bl), "detector": None}),
                       "--json"], needle))
    sweep = plan_file("sweep_frac", {"subframe_time": {"from": "10 ms", "to": "20 ms",
                                                       "num": 2.7}})
    cases.append(("sweep: num 2.7", ["plan", PLAN, "--sweep", sweep], "subframe_time.num"))
    log0 = plan_file("sweep_log0", {"propagation_distance": {"from": "0 m", "to": "1 m",
                                                             "num": 3, "spacing": "log"}})
    cases.append(("sweep: log spacing from 0", ["plan", PLAN, "--sweep", log0],
                  "log spacing needs from and to > 0"))
    ok_sweep = plan_file("sweep_ok", small_sweep())
    cases.append(("sweep: --max-dose nan kGy",
                  ["plan", PLAN, "--sweep", ok_sweep, "--max-dose", "nan kGy"], "--max-dose"))
    cases.append(("compare: --dose-fraction 1e-30",
                  ["compare", PLAN, "--simulate", "--dose-fraction", "1e-30"], "--dose-fraction"))
    cases.append(("simulate: --width 1e9",
                  ["simulate", PLAN, "-o", folder / "sim.nx", "--width", "1000000000"], "--width"))
    cases.append(("simulate: -o folder",
                  ["simulate", PLAN, "-o", folder, "--overwrite"], "--output"))
    return cases
