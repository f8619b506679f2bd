"""Peak memory of ``hipct reconstruct`` against its ``--memory`` budget (run on demand).

Writes a synthetic NXtomo scan (default ~2.3 GB of float32 frames: 1500 projections of
384 rows × 1024 columns) and reconstructs it with Paganin in a child process under a budget,
printing the child's peak RSS, the budget and their ratio.

    python benchmarks/reconstruct_memory.py --rows 384 --budget 1GB
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proj", type=int, default=1500)
    ap.add_argument("--rows", type=int, default=384)
    ap.add_argument("--cols", type=int, default=1024)
    ap.add_argument("--budget", default="1GB")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as tmp:
        raw = os.path.join(tmp, "raw.nx")
        t0 = time.perf_counter()
        make_scan(raw, args.proj, args.rows, args.cols)
        size_gb = os.path.getsize(raw) / 1e9
        print(f"input: {raw} {size_gb:.2f} GB written in {time.perf_counter() - t0:.0f} s")
        cmd = [sys.executable, "-m", "hipct", "reconstruct", raw, "-o",
               os.path.join(tmp, "out.ome.zarr"), "--delta-beta", "1000", "--cor", "auto",
               "--memory", args.budget, "--quiet"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9
        budget_gb = float(args.budget.upper().replace("GB", "")) if "GB" in args.budget.upper() \
            else float(args.budget.upper().replace("MB", "")) / 1e3
        print(f"reconstruct: {wall:.0f} s, {args.rows / wall:.2f} slices/s")
        print(f"peak RSS {peak_gb:.2f} GB for a {budget_gb:.2f} GB budget and a {size_gb:.2f} GB "
              f"input: ratio {peak_gb / budget_gb:.2f} (overhead {peak_gb - budget_gb:+.2f} GB)")


if __name__ == "__main__":
    main()
