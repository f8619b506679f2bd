"""Peak memory of ``hipct reconstruct`` against its ``--memory`` budget (run on demand).

Three measurements, each in a child process whose peak RSS is read from ``getrusage``:

* ``--mode stream`` (default): a synthetic NXtomo scan (~2.3 GB of float32 frames: 1500
  projections of 384 rows × 1024 columns) reconstructed with Paganin under a budget;
* ``--mode quarter``: a quarter acquisition at the full IRIS15 width (two 360° rotations of
  5056 columns, axes at column 4856 and off the detector at -2275: slices about 14 660 px
  wide, 2.9× the detector) on a few rows, Paganin and uint16 output (the conversion, the
  writer and the preview at full slice size);
* ``--mode pyramid``: the OME-Zarr pyramid of a volume of that slice size
  (``--pyramid-rows`` slices, uint16) built by the writer under the same budget.

Each prints the peak RSS, the budget, the memory plan's own peak and the interpreter's
baseline (the same imports, no data), so ``peak - baseline`` is what the budget must cover.
Inputs and outputs (several GB) go to a temporary folder in the current directory, removed
at the end: run it from a scratch folder, not from inside a git checkout.

    python benchmarks/reconstruct_memory.py --rows 384 --budget 1GB
    python benchmarks/reconstruct_memory.py --mode quarter --proj 1500 --rows 4 --budget 8GB
    python benchmarks/reconstruct_memory.py --mode pyramid --pyramid-rows 64 --budget 8GB
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

BASELINE = ("import numpy, scipy, h5py, zarr, numba, finufft, matplotlib, tqdm; "
            "import hipct.cli, hipct.reconstruction.pipeline, hipct.reconstruction.fbp; "
            "hipct.reconstruction.fbp._numba_kernel(); "
            "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")


def make_scan(path, n_proj, n_rows, n_cols):
    import h5py

    from hipct.reconstruction import phantom
    theta = np.arange(n_proj) * np.pi / n_proj
    ell = [phantom.Ellipse(v * 0.01, a, b, x, y, p)
           for v, a, b, x, y, p in phantom.shepp_logan(0.45 * n_cols)]
    sino = phantom.sinogram(ell, theta, np.arange(n_cols) - (n_cols - 1) / 2)
    n_flat, n_dark = 20, 10
    n = n_dark + n_flat + n_proj
    with h5py.File(path, "w") as f:
        det = f.create_group("entry/instrument/detector")
        data = det.create_dataset("data", (n, n_rows, n_cols), "float32",
                                  chunks=(1, n_rows, n_cols))
        data[:n_dark] = 100.0
        data[n_dark:n_dark + n_flat] = 1100.0
        for k in range(n_proj):
            data[n_dark + n_flat + k] = (100 + 1000 * np.exp(-sino[k]))[None, :]
        det["image_key"] = np.concatenate([np.full(n_dark, 2), np.full(n_flat, 1),
                                           np.zeros(n_proj)]).astype(np.int32)
        det["x_pixel_size"] = 6.5e-6
        det["distance"] = 1.0
        f["entry/sample/rotation_angle"] = np.degrees(np.concatenate(
            [np.zeros(n_dark + n_flat), theta]))
        f["entry/beam/incident_energy"] = 60.0


QUARTER_COLS = 5056
QUARTER_CORS = (4856.0, -2275.0)       # inner rotation near the right edge, outer off the left


def make_quarter(paths, n_proj, n_rows):
    """Two 360° rotations of a quarter acquisition (see the module docstring)."""
    from hipct.reconstruction import phantom
    from hipct.reconstruction.io.readers import write_nxtomo
    theta = np.arange(n_proj) * 2 * np.pi / n_proj
    radius = QUARTER_COLS - QUARTER_CORS[1] - 20
    ell = [phantom.Ellipse(v * 2e-4, a, b, x, y, p)
           for v, a, b, x, y, p in phantom.shepp_logan(0.9 * radius)]
    for path, cor in zip(paths, QUARTER_CORS):
        sino = phantom.sinogram(ell, theta, np.arange(QUARTER_COLS) - cor)
        proj = np.repeat((100 + 1000 * np.exp(-sino)).astype(np.float32)[:, None], n_rows, axis=1)
        write_nxtomo(path, proj, theta, flats=np.full((4, n_rows, QUARTER_COLS), 1100, np.float32),
                     darks=np.full((2, n_rows, QUARTER_COLS), 100, np.float32),
                     pixel_size_m=4.25e-6, distance_m=2.0, energy_kev=100.0)
        del sino, proj


PYRAMID_CHILD = """
import json, resource, sys, time
import numpy as np
from hipct.reconstruction.io.writers import open_writer
out, nz, n, budget, chunk_z = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
budget = None if budget <= 0 else budget     # 0: whole slabs, no tiles (for comparison)
attrs = {"hipct": {"inputs": [], "parameters": {}}}
w = open_writer("ome-zarr", out, (nz, n, n), np.uint16, attrs, voxel_um=4.25, origin_um=(0, 0, 0),
                chunk_z=chunk_z, memory_bytes=budget)
k = np.arange(n)
for z in range(0, nz, chunk_z):          # a smooth pattern: compresses, but not to nothing
    a = ((np.sin(k / 200.0 + z) + 1) * 15000).astype(np.uint16)
    b = ((np.cos(k / 300.0) + 1) * 15000).astype(np.uint16)
    block = a[:, None] + b[None, :]      # uint16, one slice
    w.write(z, np.broadcast_to(block, (min(chunk_z, nz - z), n, n)))
    del block
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
w.finalise()
print(json.dumps({"peak_before_pyramid": before, "pyramid_s": time.perf_counter() - t0,
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def _budget_bytes(text):
    t = text.upper()
    return float(t.replace("GB", "")) * 1e9 if "GB" in t else float(t.replace("MB", "")) * 1e6


def _baseline_gb():
    out = subprocess.run([sys.executable, "-c", BASELINE], check=True, capture_output=True,
                         text=True).stdout
    return int(out.strip().splitlines()[-1]) * 1024 / 1e9


def _reconstruct(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss \
        * 1024 / 1e9


def _report(what, peak_gb, budget_gb, base_gb, plan_gb=None):
    planned = f", memory plan's peak {plan_gb:.2f} GB" if plan_gb is not None else ""
    print(f"{what}: peak RSS {peak_gb:.2f} GB for a {budget_gb:.2f} GB budget (ratio "
          f"{peak_gb / budget_gb:.2f}); interpreter baseline {base_gb:.2f} GB, so "
          f"peak - baseline = {peak_gb - base_gb:.2f} GB{planned}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("stream", "quarter", "pyramid"), default="stream")
    ap.add_argument("--proj", type=int, default=1500, help="projections (per rotation)")
    ap.add_argument("--rows", type=int, default=384)
    ap.add_argument("--cols", type=int, default=1024, help="stream mode: detector columns")
    ap.add_argument("--pyramid-rows", type=int, default=64)
    ap.add_argument("--width", type=int, default=None,
                    help="pyramid mode: slice width (default: the quarter geometry's)")
    ap.add_argument("--chunk-z", type=int, default=1,
                    help="pyramid mode: chunk height (the slab height of the quarter run)")
    ap.add_argument("--budget", default="1GB")
    ap.add_argument("--untiled", action="store_true",
                    help="pyramid mode: build it from whole slabs, without tiles (comparison)")
    args = ap.parse_args()
    budget_gb = _budget_bytes(args.budget) / 1e9
    base = _baseline_gb()
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as tmp:
        out = os.path.join(tmp, "out.ome.zarr")
        if args.mode == "pyramid":
            width = args.width or _quarter_width()
            done = subprocess.run([sys.executable, "-c", PYRAMID_CHILD, out,
                                   str(args.pyramid_rows), str(width),
                                   "0" if args.untiled else str(_budget_bytes(args.budget)),
                                   str(args.chunk_z)],
                                  check=True, capture_output=True, text=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"pyramid{' (untiled)' if args.untiled else ''} of "
                  f"{args.pyramid_rows}×{width}×{width} uint16 (chunks "
                  f"{args.chunk_z}×128×128) in {r['pyramid_s']:.0f} s; peak RSS before the "
                  f"pyramid {r['peak_before_pyramid'] / 1e9:.2f} GB")
            _report("pyramid", r["peak"] / 1e9, budget_gb, base)
            return
        t0 = time.perf_counter()
        if args.mode == "quarter":
            raws = [os.path.join(tmp, f"rot{k}.nx") for k in (0, 1)]
            make_quarter(raws, args.proj, args.rows)
            extra = ["--cor", ",".join(f"{c:g}" for c in QUARTER_CORS), "--dtype", "uint16",
                     "--delta-beta", "2000"]
        else:
            raws = [os.path.join(tmp, "raw.nx")]
            make_scan(raws[0], args.proj, args.rows, args.cols)
            extra = ["--delta-beta", "1000", "--cor", "auto"]
        size_gb = sum(os.path.getsize(r) for r in raws) / 1e9
        print(f"input: {size_gb:.2f} GB written in {time.perf_counter() - t0:.0f} s")
        cmd = [sys.executable, "-m", "hipct", "reconstruct", *raws, "-o", out, *extra,
               "--memory", args.budget, "--quiet"]
        wall, peak_gb = _reconstruct(cmd)
        import warnings

        import zarr
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")            # hipct's own files beside the levels
            group = zarr.open_group(out, mode="r")
            shape = group["0"].shape
            params = group.attrs["hipct"]["parameters"]
            levels = len([k for k in group.array_keys() if k.isdigit()])
        plan = _plan_peak(raws, extra, args.budget)
        print(f"reconstruct: {shape[0]}×{shape[1]}×{shape[2]} in {wall:.0f} s "
              f"({shape[0] / wall:.2f} slices/s), slabs of {params['chunk_rows']} rows, "
              f"{levels} level(s)")
        _report(args.mode, peak_gb, budget_gb, base, plan)


def _quarter_width():
    from hipct.reconstruction import acquisition as acq
    theta = np.arange(8) * np.pi / 4
    subs = [acq.SubScan(theta, QUARTER_COLS, c) for c in QUARTER_CORS]
    return int(round(2 * acq.covered_radius(subs))) + 1


def _plan_peak(raws, extra, budget):
    """The memory plan's peak for the same run (the pipeline's own model), in GB; printed."""
    from hipct.reconstruction import memory, pipeline
    from hipct.reconstruction.io.readers import open_scan
    from hipct.reconstruction.reconstructor import Geometry, Reconstructor
    scans = [open_scan(r) for r in raws]
    cors = [float(c) for c in extra[extra.index("--cor") + 1].split(",")] \
        if extra[extra.index("--cor") + 1] != "auto" else None
    if cors is None:
        return None
    db = float(extra[extra.index("--delta-beta") + 1])
    dtype = "uint16" if "uint16" in extra else "float32"
    g = Geometry.from_detector([s.theta for s in scans], scans[0].n_cols, cors)
    p = pipeline.ReconParams(inputs=raws, output="", delta_beta=db, energy_kev=scans[0].energy_kev,
                             distance_m=scans[0].distance_m, pixel_size_m=scans[0].pixel_size_m,
                             dtype=dtype)
    margin = Reconstructor(p, g).margin
    plan = memory.plan_memory(
        budget_bytes=_budget_bytes(budget),
        n_frames=sum(s.n_proj + s.flat_frames.size + s.n_darks for s in scans),
        n_angles=g.n_angles, n_cols_binned=g.n_cols_binned, slice_width=g.slice_width,
        shape_yx=g.shape_yx, nz=scans[0].n_rows, margin_rows=margin, binning=1,
        fbp_method="fourier", dtype=dtype, fmt="ome-zarr", detector_rows=scans[0].n_rows)
    print(memory.describe(plan))
    return plan.peak_bytes / 1e9


if __name__ == "__main__":
    main()
