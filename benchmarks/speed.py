"""Side-by-side speed, memory and accuracy of hipct's kernels and their peers (run on demand).

    python benchmarks/speed.py                      # everything, ~5 min on 2 cores
    python benchmarks/speed.py --only fbp,paganin   # some sections

Every case runs in a fresh child process (so "peak RSS" is that case's own high-water mark,
imports included) on the same inputs, generated once per run:

* **fbp**: the analytic Shepp–Logan phantom (1024² from 1500 projections, exact line
  integrals); RMSE against the rasterised phantom inside 0.48 n. Peers: algotom (numba, ramp
  filter), ASTRA (CPU, ram-lak), nabu (OpenCL, needs pyopencl + pyvkfft), tomopy gridrec.
* **paganin**: eight 2048² projections of a sphere and ellipsoids made with the exact forward
  model the filter inverts (transport of intensity for a homogeneous object), so the retrieved
  ``mu T`` is known: relative RMSE. Peers: nabu, tomopy ``retrieve_phase``.
* **unsharp**: eight 2048² frames, sigma 2 px, coefficient 0.5; max error against a float64
  evaluation of the formula. Peer: nabu.
* **rings**: 16 sinograms 1500 × 2048 with stripes; RMSE of the corrected sinogram against
  the clean one relative to the stripes' own RMSE. Peers: algotom sorting and filtering
  (Vo et al. 2018), tomopy ``remove_stripe_fw``.
* **sweep**: 10 000 plan variants vectorised against one ``evaluate`` per variant (timed on
  200 and scaled); largest relative difference in dose, time and fill over those 200.
* **e2e**: ``hipct reconstruct`` of a synthetic NXtomo (1500 × 128 × 1024 float32, 0.8 GB,
  Paganin) under a 0.5 GB ``--memory`` budget: wall time, slices/s, peak RSS of the hipct
  process; then the same on a dask LocalCluster (2 worker processes; peak RSS of the busiest
  worker) and whether the two volumes are identical.

Ratios are ``peer time / hipct time`` (> 1: hipct is faster), measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

N_FBP, P_FBP = 1024, 1500
N_PAG, K_PAG = 2048, 8


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def isolated(fn, *args):
    """Run ``fn(*args)`` in a fresh process; returns its dict plus ``peak_rss_mb``, or the
    one-line reason it could not run (a peer that is not installed)."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as ex:
        try:
            return ex.submit(_wrapped, fn, *args).result()
        except Exception as exc:  # noqa: BLE001 - a peer failing is a row, not a crash
            return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:90]}"}


def _wrapped(fn, *args):
    warnings.simplefilter("ignore")
    out = fn(*args)
    out.setdefault("peak_rss_mb", _peak_mb())     # a case that runs hipct as a child reports it
    return out


def _best_of(fn, repeat=3):
    fn()                                                   # warm up: JIT, plans, caches
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


# --- FBP -------------------------------------------------------------------------------------

def fbp_inputs(folder):
    from hipct.reconstruction import phantom
    theta = np.arange(P_FBP) * np.pi / P_FBP
    u = np.arange(N_FBP) - (N_FBP - 1) / 2
    ell = phantom.shepp_logan(0.45 * N_FBP)
    np.save(os.path.join(folder, "sino.npy"), phantom.sinogram(ell, theta, u).astype(np.float32))
    np.save(os.path.join(folder, "truth.npy"), phantom.rasterise(ell, N_FBP))


def _fbp_rmse(folder, rec):
    truth = np.load(os.path.join(folder, "truth.npy"))
    yy, xx = np.mgrid[:N_FBP, :N_FBP] - (N_FBP - 1) / 2
    m = xx ** 2 + yy ** 2 < (0.48 * N_FBP) ** 2
    return float(np.sqrt(np.mean((rec - truth)[m] ** 2)))


def fbp_case(name, folder):
    sino = np.load(os.path.join(folder, "sino.npy"))
    theta = np.arange(P_FBP) * np.pi / P_FBP
    u0, cor = -(N_FBP - 1) / 2, (N_FBP - 1) / 2
    slices = 1
    if name.startswith("hipct fourier"):
        from hipct.reconstruction.fbp_fourier import FourierBackprojector
        t0 = time.perf_counter()
        bp = FourierBackprojector(theta, u0, N_FBP, N_FBP)
        plan_s = time.perf_counter() - t0
        if "batch" in name:
            slices = 8
            stack = np.stack([sino] * slices)
            t = _best_of(lambda: bp(stack)) / slices
            rec = bp(sino)
        else:
            t = _best_of(lambda: bp(sino))
            rec = bp(sino)
        return {"time_s": t, "slices": slices, "rmse": _fbp_rmse(folder, rec), "plan_s": plan_s}
    if name == "hipct linear (numba)":
        from hipct.reconstruction.fbp import fbp
        t = _best_of(lambda: fbp(sino, theta, u0, method="linear"), 2)
        return {"time_s": t, "rmse": _fbp_rmse(folder, fbp(sino, theta, u0, method="linear"))}
    if name == "algotom (numba)":
        from algotom.rec.reconstruction import fbp_reconstruction
        def run():
            return fbp_reconstruction(sino, cor, angles=theta, filter_name=None,
                                      apply_log=False, gpu=False, ncore=os.cpu_count())
        t = _best_of(run, 2)
        return {"time_s": t, "rmse": _fbp_rmse(folder, run())}
    if name == "astra (CPU)":
        import astra
        vg = astra.create_vol_geom(N_FBP, N_FBP)
        pg = astra.create_proj_geom("parallel", 1.0, N_FBP, theta)
        pid = astra.create_projector("linear", pg, vg)

        def run():
            sid = astra.data2d.create("-sino", pg, sino)
            rid = astra.data2d.create("-vol", vg)
            cfg = astra.astra_dict("FBP")
            cfg.update(ReconstructionDataId=rid, ProjectionDataId=sid, ProjectorId=pid,
                       FilterType="ram-lak")
            aid = astra.algorithm.create(cfg)
            astra.algorithm.run(aid)
            rec = astra.data2d.get(rid)
            astra.algorithm.delete(aid)
            astra.data2d.delete([sid, rid])
            return rec
        t = _best_of(run, 2)
        return {"time_s": t, "rmse": _fbp_rmse(folder, run())}
    if name == "nabu (OpenCL)":
        from nabu.reconstruction.fbp_opencl import OpenCLBackprojector
        b = OpenCLBackprojector(sino.shape, angles=theta, rot_center=cor, filter_name="ramp")
        t = _best_of(lambda: b.fbp(sino), 2)
        return {"time_s": t, "rmse": _fbp_rmse(folder, b.fbp(sino))}
    if name == "tomopy gridrec":
        import tomopy
        data = np.ascontiguousarray(sino[:, None, :])
        def run():
            return tomopy.recon(data, theta, center=cor, algorithm="gridrec",
                                ncore=os.cpu_count())[0]
        t = _best_of(run, 2)
        return {"time_s": t, "rmse": _fbp_rmse(folder, run())}
    raise ValueError(name)


# --- Paganin and unsharp ---------------------------------------------------------------------

PAG = dict(energy_kev=60.0, distance_m=1.0, pixel_size_m=6.5e-6, delta_beta=1000.0)


def paganin_inputs(folder):
    """Projected ``mu T`` of a few ellipsoids, and the intensity whose Paganin retrieval is it.

    Paganin's homogeneous-object TIE (Paganin et al. 2002, eq. 7): I = (1 - z delta/mu
    nabla²) exp(-mu T), i.e. FFT(I) = (1 + L² |f|²) FFT(exp(-mu T)), L² = pi lambda z delta/beta;
    made on a grid 2× larger with open beam around, then cropped.
    """
    from hipct.physics.propagation import wavelength_m
    big = 2 * N_PAG
    y, x = np.mgrid[:big, :big] - big / 2
    mu_t = np.zeros((big, big))
    for cx, cy, r, mu in [(0, 0, 700, 2e-3), (-250, 150, 200, 1e-3), (300, -200, 60, 3e-3)]:
        inside = np.clip(1 - ((x - cx) ** 2 + (y - cy) ** 2) / r ** 2, 0, None)
        mu_t += 2 * r * mu * np.sqrt(inside)                   # chord of a sphere × mu per px
    L2 = math.pi * wavelength_m(PAG["energy_kev"]) * PAG["distance_m"] * PAG["delta_beta"]
    fy = np.fft.fftfreq(big, d=PAG["pixel_size_m"])[:, None]
    fx = np.fft.fftfreq(big, d=PAG["pixel_size_m"])[None, :]
    intensity = np.fft.ifft2((1 + L2 * (fx ** 2 + fy ** 2)) * np.fft.fft2(np.exp(-mu_t))).real
    c = slice(big // 4, big // 4 + N_PAG)
    stack = np.repeat(intensity[None, c, c], K_PAG, axis=0).astype(np.float32)
    np.save(os.path.join(folder, "pag_in.npy"), stack)
    np.save(os.path.join(folder, "pag_truth.npy"), mu_t[c, c])


def paganin_case(name, folder):
    stack = np.load(os.path.join(folder, "pag_in.npy"))
    truth = np.load(os.path.join(folder, "pag_truth.npy"))

    def rel(out):
        m = slice(64, -64)                                 # the border depends on padding
        return float(np.sqrt(np.mean((out[m, m] - truth[m, m]) ** 2))
                     / np.sqrt(np.mean(truth[m, m] ** 2)))
    if name == "hipct":
        from hipct.reconstruction.phase import PaganinFilter
        pf = PaganinFilter(**PAG)
        t = _best_of(lambda: pf.apply(stack)) / K_PAG
        return {"time_s": t, "rel_rmse": rel(pf.apply(stack[:1])[0])}
    if name == "nabu":
        from nabu.preproc.phase import PaganinPhaseRetrieval
        pr = PaganinPhaseRetrieval(stack.shape[1:], distance=PAG["distance_m"],
                                   energy=PAG["energy_kev"], delta_beta=PAG["delta_beta"],
                                   pixel_size=PAG["pixel_size_m"])
        out = np.empty_like(stack[0])

        def run():
            for frame in stack:
                pr.retrieve_phase(frame, output=out)
        t = _best_of(run) / K_PAG
        return {"time_s": t, "rel_rmse": rel(-np.log(pr.retrieve_phase(stack[0])))}
    if name == "tomopy":
        import tomopy
        # tomopy: cm and alpha = beta/delta; it returns the filtered intensity
        kw = dict(pixel_size=PAG["pixel_size_m"] * 100, dist=PAG["distance_m"] * 100,
                  energy=PAG["energy_kev"], alpha=1.0 / PAG["delta_beta"], pad=True,
                  ncore=os.cpu_count())
        t = _best_of(lambda: tomopy.retrieve_phase(stack.copy(), **kw)) / K_PAG
        return {"time_s": t, "rel_rmse": rel(-np.log(tomopy.retrieve_phase(stack[:1].copy(),
                                                                            **kw)[0]))}
    raise ValueError(name)


def unsharp_inputs(folder):
    rng = np.random.default_rng(0)
    np.save(os.path.join(folder, "us.npy"), rng.random((K_PAG, N_PAG, N_PAG), np.float32))


def unsharp_case(name, folder):
    from scipy import ndimage
    stack = np.load(os.path.join(folder, "us.npy"))
    sigma, coeff = 2.0, 0.5
    ref = (1 + coeff) * stack[0].astype(np.float64) - coeff * ndimage.gaussian_filter(
        stack[0].astype(np.float64), sigma, mode="nearest", truncate=4.0)
    if name == "hipct":
        from hipct.reconstruction.phase import unsharp_mask
        t = _best_of(lambda: unsharp_mask(stack, sigma, coeff)) / K_PAG
        return {"time_s": t, "max_err": float(np.abs(unsharp_mask(stack[:1], sigma, coeff)[0]
                                                     - ref).max())}
    if name == "nabu":
        from nabu.processing.unsharp import UnsharpMask
        um = UnsharpMask(stack.shape[1:], sigma, coeff, mode="nearest")

        def run():
            for frame in stack:
                um.unsharp(frame)
        t = _best_of(run) / K_PAG
        return {"time_s": t, "max_err": float(np.abs(um.unsharp(stack[0]) - ref).max())}
    raise ValueError(name)


# --- rings -----------------------------------------------------------------------------------

def rings_inputs(folder):
    from hipct.reconstruction import phantom
    n, k, rows = 2048, 1500, 16
    theta = np.arange(k) * np.pi / k
    sino = phantom.sinogram(phantom.shepp_logan(0.45 * n), theta,
                            np.arange(n) - (n - 1) / 2).astype(np.float32) * 0.01
    clean = np.repeat(sino[None], rows, axis=0)
    rng = np.random.default_rng(1)
    offsets = np.zeros(n, np.float32)
    cols = rng.choice(np.arange(50, n - 50), 40, replace=False)
    offsets[cols] = rng.uniform(-0.05, 0.05, cols.size) * float(sino.max())
    np.save(os.path.join(folder, "ring_clean.npy"), clean)
    np.save(os.path.join(folder, "ring_striped.npy"), clean + offsets[None, None, :])


def rings_case(name, folder):
    clean = np.load(os.path.join(folder, "ring_clean.npy"))
    striped = np.load(os.path.join(folder, "ring_striped.npy"))
    base = float(np.sqrt(np.mean((striped - clean) ** 2)))

    def rel(out):
        return float(np.sqrt(np.mean((out - clean) ** 2)) / base)
    if name == "hipct":
        from hipct.reconstruction.rings import remove_stripes
        t = _best_of(lambda: remove_stripes(striped, 9), 2) / len(striped)
        return {"time_s": t, "residual": rel(remove_stripes(striped, 9))}
    if name.startswith("algotom"):
        import algotom.prep.removal as rm
        fn = rm.remove_stripe_based_sorting if "sorting" in name else \
            rm.remove_stripe_based_filtering

        def run():
            return np.stack([fn(s) for s in striped])
        t = _best_of(run, 1) / len(striped)
        return {"time_s": t, "residual": rel(run())}
    if name == "tomopy fw":
        import tomopy

        def run():
            return tomopy.remove_stripe_fw(striped.transpose(1, 0, 2)).transpose(1, 0, 2)
        t = _best_of(run, 1) / len(striped)
        return {"time_s": t, "residual": rel(run())}
    raise ValueError(name)


# --- plan sweep ------------------------------------------------------------------------------

def sweep_case(name, folder):
    import dataclasses

    import yaml

    from hipct.planner.evaluate import evaluate
    from hipct.planner.plan import load_plan
    from hipct.planner.sweep import parse_sweep, sweep
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
    plan = load_plan(os.path.join(root, "voi_0p857um_intact.yaml"))
    spec = parse_sweep(yaml.safe_load(open(os.path.join(root, "sweep_voi_intact.yaml"))), plan)
    if name == "hipct sweep (vectorised)":
        t = _best_of(lambda: sweep(plan, spec))
        return {"time_s": t, "variants": spec.size}
    res = sweep(plan, spec)
    rng = np.random.default_rng(0)
    picks = rng.choice(spec.size, 200, replace=False)
    per_f = spec.distances_m.size * spec.subframe_times_s.size
    worst = 0.0
    t0 = time.perf_counter()
    for i in picks:
        row = res.row(int(i))
        variant = dataclasses.replace(
            plan, filters=spec.filters[int(i) // per_f][1],
            propagation_distance_m=row["propagation_distance_m"],
            acquisition=dataclasses.replace(plan.acquisition,
                                            subframe_time_s=row["subframe_time_s"]))
        v = evaluate(variant, warn=False).values
        for key, val in (("dose_Gy", v["dose_Gy"]), ("scan_time_h", v["scan_time_h"]),
                         ("fill_fraction", v["detector"]["fill_fraction"])):
            worst = max(worst, abs(row[key] / val - 1))
    t = (time.perf_counter() - t0) / picks.size * spec.size
    return {"time_s": t, "variants": spec.size, "max_rel_diff": worst}


# --- end to end ------------------------------------------------------------------------------

E2E_BUDGET = "0.5GB"


def e2e_case(name, folder, budget=E2E_BUDGET):
    raw = os.path.join(folder, "raw.nx")
    out = os.path.join(folder, "dask.ome.zarr" if "dask" in name else "local.ome.zarr")
    cmd = [sys.executable, "-m", "hipct", "reconstruct", raw, "-o", out, "--delta-beta", "1000",
           "--cor", "511.5", "--memory", budget, "--quiet", "--overwrite"]
    cluster = None
    if "dask" in name:
        from distributed import LocalCluster
        gb = float(budget.replace("GB", ""))
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                               dashboard_address=None, memory_limit=f"{2 * gb + 0.5}GB")
        cmd += ["--scheduler", cluster.scheduler_address]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    workers = None
    if cluster is not None:
        from distributed import Client
        with Client(cluster.scheduler_address) as client:
            workers = client.run(lambda: __import__("resource").getrusage(
                __import__("resource").RUSAGE_SELF).ru_maxrss / 1024.0)
        cluster.close()
    import zarr
    vol = zarr.open_group(out, mode="r")["0"]
    result = {"time_s": wall, "slices_per_s": vol.shape[0] / wall, "budget": budget,
              "input_gb": os.path.getsize(raw) / 1e9, "peak_rss_mb": child}
    if workers:
        result["peak_rss_mb"] = max(workers.values())          # the busiest worker
        result["client_peak_rss_mb"] = child
    other = os.path.join(folder, "local.ome.zarr")
    if "dask" in name and os.path.exists(other):
        result["identical_to_local"] = bool(np.array_equal(
            vol[:], zarr.open_group(other, mode="r")["0"][:]))
    return result


def e2e_inputs(folder):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from reconstruct_memory import make_scan
    make_scan(os.path.join(folder, "raw.nx"), 1500, 128, 1024)    # 0.8 GB > the budget


# --- driver ----------------------------------------------------------------------------------

SECTIONS = {
    "fbp": (fbp_inputs, fbp_case, ["hipct fourier", "hipct fourier (batch of 8)",
                                   "hipct linear (numba)", "algotom (numba)", "astra (CPU)",
                                   "nabu (OpenCL)", "tomopy gridrec"], "rmse"),
    "paganin": (paganin_inputs, paganin_case, ["hipct", "nabu", "tomopy"], "rel_rmse"),
    "unsharp": (unsharp_inputs, unsharp_case, ["hipct", "nabu"], "max_err"),
    "rings": (rings_inputs, rings_case, ["hipct", "algotom sorting", "algotom filtering",
                                         "tomopy fw"], "residual"),
    "sweep": (None, sweep_case, ["hipct sweep (vectorised)", "evaluate() per variant"],
              "max_rel_diff"),
    "e2e": (e2e_inputs, e2e_case, ["hipct local", "hipct dask (2 workers)"], None),
}

UNITS = {"fbp": "slice", "paganin": "projection", "unsharp": "frame", "rings": "sinogram",
         "sweep": "10 000 variants", "e2e": "volume"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated sections: " + ",".join(SECTIONS))
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    chosen = args.only.split(",") if args.only else list(SECTIONS)
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    results = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as folder:
        for section in chosen:
            make, case, names, metric = SECTIONS[section]
            if make is not None:
                isolated(make, folder)
            rows = {n: isolated(case, n, folder) for n in names}
            results[section] = rows
            ours = next(r for n, r in rows.items() if n.startswith("hipct") and "error" not in r)
            print(f"\n== {section} (time per {UNITS[section]}) ==")
            for n, r in rows.items():
                if "error" in r:
                    print(f"  {n:28s} not run: {r['error']}")
                    continue
                extra = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                  for k, v in r.items()
                                  if k not in ("time_s", "peak_rss_mb", metric))
                acc = f"{metric} {r[metric]:.4g}  " if metric and metric in r else ""
                ratio = r["time_s"] / ours["time_s"]
                print(f"  {n:28s} {r['time_s']:9.4f} s  {1 / r['time_s']:9.2f}/s  "
                      f"peak RSS {r['peak_rss_mb']:6.0f} MB  {acc}"
                      f"{'(reference)' if r is ours else f'ratio {ratio:6.2f}'}"
                      f"{'  ' + extra if extra else ''}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
