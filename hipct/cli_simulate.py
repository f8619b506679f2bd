"""Command line: ``hipct simulate`` and ``hipct compare`` (parsers and handlers).

Kept apart from :mod:`hipct.cli` so each file stays readable; :func:`add_parsers` registers
the two sub-commands, the handlers return exit codes and raise
:class:`~hipct.errors.HipctError` for user mistakes (one line, exit 2, printed by ``main``).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from hipct.errors import HipctError, HipctWarning
from hipct.simulation.defaults import DEFAULTS

__all__ = ["add_parsers", "cmd_simulate", "cmd_compare"]


def add_parsers(sub) -> None:
    """Register ``simulate`` and ``compare`` on an argparse sub-parser collection."""
    s = sub.add_parser(
        "simulate", help="forward-simulate raw projections of a plan (NXtomo with flats/darks)",
        description="Simulate the raw scan a plan would record from a digital brain phantom "
                    "in its jar: the plan's detected spectrum in energy bins, delta and beta "
                    "of each material (xraylib), projection, Fresnel propagation over the "
                    "effective distance, scintillator and source blur, pixel integration, "
                    "Poisson and read noise, dark offset. Written as NXtomo (atomically). The "
                    "detector is a window of the plan's detector at its voxel size; an organ "
                    "wider than the window is simulated as local tomography. With --phantom "
                    "instead of a plan: the scans a campaign records (absorption contrast) of "
                    "a phantom defined in mm in sample coordinates, at a stage position, in "
                    "full, half or quarter acquisition (two rotations) and as a z-series of "
                    "--stages, one NXtomo per rotation and stage in the output folder.")
    s.add_argument("plan", nargs="?", help="plan YAML file (see examples/)")
    s.add_argument("-o", "--output", required=True,
                   help="output NXtomo file (e.g. raw.nx); with --phantom a folder")
    s.add_argument("--width", type=int, default=DEFAULTS["width"],
                   help=f"detector columns simulated (binned pixels; default {DEFAULTS['width']})")
    s.add_argument("--rows", type=int, default=DEFAULTS["rows"],
                   help=f"detector rows simulated (default {DEFAULTS['rows']})")
    s.add_argument("--projections", type=int,
                   help="projections (default: the planner's rule for the simulated width)")
    s.add_argument("--geometry", choices=["full", "half", "quarter"],
                   help="full (180°, axis centred) or half (360°, axis near the edge); "
                        "default: the plan's (quarter is simulated as half); with --phantom "
                        "also quarter (two 360° rotations; default full)")
    s.add_argument("--energy-bins", type=int, default=DEFAULTS["energy_bins"],
                   help=f"energy bins of equal detected signal (default {DEFAULTS['energy_bins']})")
    s.add_argument("--oversample", type=int, default=DEFAULTS["oversample"],
                   help="sub-samples per pixel for projection and propagation "
                        f"(default {DEFAULTS['oversample']})")
    s.add_argument("--exposure-scale", type=float, default=DEFAULTS["exposure_scale"],
                   help="scale the plan's sub-frame time: counts and dose "
                        f"(default {DEFAULTS['exposure_scale']:g})")
    s.add_argument("--blur", default=DEFAULTS["blur"],
                   help="extra Gaussian detector blur, FWHM at the sample (e.g. '2 um')")
    s.add_argument("--extruded", action="store_true",
                   help="phantom features as vertical columns (exact for a few rows under "
                        "strong phase retrieval)")
    s.add_argument("--flats", type=int, default=DEFAULTS["flats"],
                   help=f"flat fields recorded (default {DEFAULTS['flats']}; a beamline takes "
                        "about 2 × 101: more flats, weaker rings)")
    s.add_argument("--no-noise", action="store_true", help="noise-free frames (float32)")
    s.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="noise seed")
    s.add_argument("--phantom-seed", type=int, default=DEFAULTS["phantom_seed"],
                   help="phantom layout seed")
    s.add_argument("--overwrite", action="store_true", help="replace an existing output")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    g = s.add_argument_group("campaign (--phantom)")
    g.add_argument("--phantom", metavar="PHANTOM.yaml",
                   help="ellipsoids and cylinders in mm with mu in 1/cm (see "
                        "examples/phantom_campaign.yaml); replaces the plan")
    g.add_argument("--pixel-size", default=DEFAULTS["pixel_size"],
                   help=f"pixel size at the sample (default '{DEFAULTS['pixel_size']}'; "
                        "number: um)")
    g.add_argument("--position", default=DEFAULTS["position"], metavar="Z,Y,X",
                   help="stage position (mm) of the first stage: z the height imaged at the "
                        "detector's middle row (larger is higher), x,y the sample point on the "
                        f"rotation axis (default {DEFAULTS['position']}; write "
                        "--position=-0.1,0,0 when the first value is negative)")
    g.add_argument("--stages", type=int, default=DEFAULTS["stages"],
                   help=f"z-series stages (default {DEFAULTS['stages']})")
    g.add_argument("--z-step", default=DEFAULTS["z_step"],
                   help="height between stages, downwards (e.g. '0.1 mm'; number: mm)")
    g.add_argument("--overlap", type=int, default=DEFAULTS["overlap"],
                   help="columns shared by the fields of half/quarter acquisition "
                        f"(default {DEFAULTS['overlap']})")

    c = sub.add_parser(
        "compare", help="compare plans side by side (e.g. excised block vs intact organ)",
        description="Evaluate several plans and print them side by side: energy, "
                    "transmission, detector fill, grey levels used by tissue, dose, time, "
                    "predicted resolution. --simulate adds simulated reconstructions of the "
                    "same phantom region, each at its plan's dose, with measured CNR "
                    "(grey/white matter), FRC resolution (even/odd projections, half-bit) "
                    "and histograms.")
    c.add_argument("plans", nargs="+", metavar="PLAN", help="plan YAML files")
    c.add_argument("--simulate", action="store_true",
                   help="simulate, reconstruct and measure each plan (about a minute each)")
    c.add_argument("--region", type=int, default=128,
                   help="measured region of the simulated slices, pixels (default 128)")
    c.add_argument("--dose-fraction", type=float, default=1.0,
                   help="simulate at this fraction of each plan's dose (default 1)")
    c.add_argument("--json", action="store_true",
                   help='print JSON instead of the table: {"plans": [...]} with, per plan, '
                        "its name, file, beamline, voxel size, detected energies, "
                        "transmission, tissue range, dose, scan time, expected resolution, "
                        "detector fill and warnings; with --simulate also the measured CNR, "
                        "FRC resolution and noise (values that cannot be computed are null)")
    c.add_argument("--plot", metavar="DIR", help="write comparison figures (PNG) into DIR")


def cmd_simulate(args) -> int:
    if args.phantom:
        return _cmd_campaign(args)
    if not args.plan:
        raise HipctError("simulate: give a plan YAML file or --phantom PHANTOM.yaml")
    if args.geometry == "quarter":
        raise HipctError("--geometry quarter: needs --phantom (a plan simulates quarter "
                         "acquisition as its first, half-acquisition rotation)")
    from hipct.planner.plan import load_plan
    from hipct.simulation.simulate import SimConfig, Simulation, simulate_to_nxtomo

    out = Path(args.output)
    if not str(args.output).strip() or out.is_dir() or not out.name or out.name in (".", ".."):
        raise HipctError(f"--output: {args.output!r} is a folder; give a file, e.g. -o raw.nx")
    if (out.exists() or out.is_symlink()) and not out.is_file():
        raise HipctError(f"--output: {out} exists and is not a regular file")
    if out.exists() and not args.overwrite:
        raise HipctError(f"--output: {out} exists; use --overwrite to replace it")
    from hipct.simulation.options import options
    opts = options(args)
    plan = load_plan(args.plan)
    cfg = SimConfig(width=args.width, rows=args.rows, projections=args.projections,
                    oversample=args.oversample, energy_bins=args.energy_bins,
                    exposure_scale=args.exposure_scale, extra_blur_um=opts.blur * 1e6,
                    noise=not args.no_noise, seed=args.seed, phantom_seed=args.phantom_seed,
                    geometry=args.geometry, extruded=args.extruded, n_flats=args.flats)
    sim = Simulation(plan, cfg)
    summary = simulate_to_nxtomo(sim, out, progress=not args.quiet)
    for note in summary["notes"]:
        print(f"hipct: warning: {note}", file=sys.stderr)
    if args.json:
        from hipct.cli_common import dumps_json
        print(dumps_json(summary, indent=2))
    else:
        print(f"wrote {out}: {summary['projections']} projections of {args.rows}×{args.width} "
              f"pixels at {summary['voxel_size_um']:.4g} um, axis at column "
              f"{summary['rotation_axis_column']:.1f} "
              f"({'half' if summary['half_acquisition'] else 'full'} acquisition), "
              f"{summary['xrays_per_pixel_flat']:.3g} X-rays per flat-field pixel, "
              f"dose {summary['dose_Gy']:.3g} Gy", file=sys.stderr)
    return 0


def _cmd_campaign(args) -> int:
    import math
    import shutil

    from hipct.cli_common import dumps_json, parse_floats
    from hipct.files import write_text_atomic
    from hipct.reconstruction.io.output_guard import (MARKER, OutputLock, check_output_path,
                                                      read_marker, recover, swap_into_place,
                                                      write_marker)
    from hipct.simulation.campaign import (acquisition_columns, load_phantom,
                                                          simulate_campaign)

    if args.plan:
        raise HipctError("simulate: give a plan or --phantom, not both")
    out = check_output_path(args.output)
    from hipct.simulation.options import options
    opts = options(args)
    if opts.overlap > opts.width // 2:
        raise HipctError(f"--overlap: {opts.overlap} is out of range; allowed: from 0 to "
                         f"{opts.width // 2} (half of --width)")
    phantom = load_phantom(args.phantom)
    px, step = opts.pixel_size, opts.z_step
    if args.stages > 1 and not step > 0:
        raise HipctError("--z-step: several --stages need a step > 0, e.g. '0.1 mm'")
    z0, y0, x0 = (v * 1e-3 for v in parse_floats(args.position, 3, "--position"))
    geometry = args.geometry or "full"
    cols = acquisition_columns(geometry, args.width, args.overlap)
    radius = max(max(c, args.width - 1 - c) for c, _ in cols)
    n_180 = math.ceil(math.pi / 2 * (2 * radius + 1))      # N >= (pi/2) N_pixels
    n_proj = args.projections or (n_180 if geometry == "full" else 2 * n_180)
    with OutputLock(out):
        recover(out)
        if out.exists() or out.is_symlink():
            if not args.overwrite:
                raise HipctError(f"--output: {out} exists; use --overwrite to replace it")
            if read_marker(out) is None:
                raise HipctError(f"--overwrite: {out} is not a folder hipct simulated (no "
                                 f"{MARKER}); it is left untouched: give another --output")
        # written beside the output, moved into place whole: never a half-written folder
        staging = out.parent / f".{out.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            records = simulate_campaign(
                phantom, staging, pixel_size_m=px, n_rows=args.rows, n_cols=args.width,
                n_proj=n_proj, geometry=geometry,
                z_positions_m=[z0 - k * step for k in range(args.stages)],
                axis_xy_m=(x0, y0), overlap=args.overlap, noise=not args.no_noise,
                seed=args.seed, oversample=args.oversample, n_flats=args.flats)
            for r in records:
                r["path"] = str(out / Path(r["path"]).relative_to(staging))
            summary = {"geometry": geometry, "pixel_size_m": px, "projections": n_proj,
                       "rows": args.rows, "columns": args.width, "position_m": [z0, y0, x0],
                       "files": records}
            write_text_atomic(staging / "campaign.json", dumps_json(summary, indent=1))
            write_marker(staging, {"simulate": "campaign", "phantom": str(args.phantom)})
            swap_into_place(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if args.json:
        print(dumps_json(summary, indent=2))
    else:
        for r in records:
            print(f"wrote {r['path']}: stage {r['stage']}, z {r['z_m'] * 1e3:.4g} mm, axis at "
                  f"column {r['cor']:.2f}", file=sys.stderr)
    return 0


def cmd_compare(args) -> int:
    from hipct.planner.compare import comparison_table, plan_record
    from hipct.planner.evaluate import evaluate
    from hipct.planner.plan import load_plan

    from hipct.fields import number, whole
    number(args.dose_fraction, "--dose-fraction", 1e-4, 100)
    whole(args.region, "--region", 32, 1024)
    plans = [load_plan(p) for p in args.plans]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HipctWarning)
        results = [evaluate(p, warn=False) for p in plans]
    records = [plan_record(r, src) for r, src in zip(results, args.plans)]
    studies = []
    if args.simulate:
        from hipct.study.excision import study_plan
        for plan, rec in zip(plans, records):
            if plan.detector is None:
                raise HipctError(f"{plan.name}: detector: --simulate needs a detector")
            print(f"simulating {plan.name} ...", file=sys.stderr)
            st = study_plan(plan, dose_fractions=(args.dose_fraction,), roi=args.region)[0]
            studies.append(st)
            v = st.values
            for key in ("cnr", "cnr_direct", "cnr_per_sqrt_dose", "frc_resolution_um",
                        "frc_resolution_1_7_um", "correlation", "contrast_grey_white_per_cm",
                        "noise_std_per_cm", "dose_Gy_simulated", "simulated_projections",
                        "simulated_detector", "measured_region_px", "frc_threshold"):
                rec[key] = v.get(key)
            rec["simulated_tissue_range_fraction"] = v.get("tissue_range_fraction")
            rec["simulation_notes"] = st.extra["simulation"].notes
    if args.json:
        from hipct.cli_common import dumps_json
        print(dumps_json({"plans": records}, indent=2))
    else:
        print(comparison_table(records))
    if args.plot:
        from hipct.study.figures import plot_comparison
        for path in plot_comparison(results, records, studies, args.plot):
            print(f"wrote {path}", file=sys.stderr)
    return 0
