"""Plan → simulate → reconstruct: structure recovered, CNR ∝ √dose, FRC responds to blur."""

import numpy as np
import pytest

from hipct.cli import main
from hipct.simulation.simulate import SimConfig, Simulation
from hipct.study.excision import study_config, study_plan


def test_cli_round_trip_recovers_the_phantom(small_plan_path, small_plan, tmp_path):
    """Noise-free raw NXtomo through ``hipct reconstruct --plan``: correlation ≥ 0.99.

    The 288-pixel window holds the whole 1 mm jar, so this is not local tomography; phase
    retrieval with the plan's δ/β matters (−ln alone correlates at about 0.5). The jar and
    organ are round, so the orientation is checked inside the detail region, where the
    slice's up-down mirror does not correlate with the truth.
    """
    import zarr
    raw = tmp_path / "raw.nx"
    args = ["--width", "288", "--rows", "2", "--geometry", "full", "--extruded", "--no-noise",
            "--quiet"]
    assert main(["simulate", str(small_plan_path), "-o", str(raw), *args]) == 0
    out = tmp_path / "vol.ome.zarr"
    assert main(["reconstruct", str(raw), "-o", str(out), "--plan", str(small_plan_path),
                 "--cor", "143.5", "--quiet"]) == 0
    vol = np.asarray(zarr.open_group(str(out), mode="r")["0"])
    sim = Simulation(small_plan, SimConfig(width=288, rows=2, geometry="full", extruded=True,
                                           noise=False))
    truth = sim.truth(0, "delta")
    assert vol.shape[1:] == truth.shape
    n = truth.shape[0]
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    centre = np.hypot(xx, yy) < 0.45 * n
    r = np.corrcoef(vol[0][centre], truth[centre])[0, 1]
    assert r >= 0.99                                                 # measured 0.9927
    detail = np.hypot(xx, yy) < 0.85 * sim.phantom.detail_radius_m / sim.voxel_m
    r = np.corrcoef(vol[0][detail], truth[detail])[0, 1]
    mirrored = np.corrcoef(vol[0][::-1][detail], truth[detail])[0, 1]
    assert r >= 0.97 and mirrored < 0.3                              # measured 0.987, -0.013


@pytest.fixture(scope="module")
def dose_series():
    from hipct.planner.plan import parse_plan
    import yaml
    from .conftest import SMALL_PLAN
    plan = parse_plan(yaml.safe_load(SMALL_PLAN))
    from hipct.planner.evaluate import evaluate
    # Paganin-filtered noise is low-frequency (blobs ~ the Paganin length, 19 px here): a
    # 160-px region over 4 rows holds enough of them for a noise estimate to ~5 %
    cfg = study_config(evaluate(plan, warn=False), roi=160, rows=4)
    cfg.projections = 200
    return study_plan(plan, cfg, dose_fractions=(1.0, 0.25, 1 / 16), roi=160, halves=False)


def test_cnr_falls_as_the_square_root_of_dose(dose_series):
    dose = np.array([r.values["dose_Gy_simulated"] for r in dose_series])
    c = np.array([r.values["cnr"] for r in dose_series])
    slope = np.polyfit(np.log(dose), np.log(c), 1)[0]
    assert slope == pytest.approx(0.5, abs=0.08)
    # the noise-free contrast is one number; only the noise changes
    contrast = [r.values["contrast_grey_white_per_cm"] for r in dose_series]
    assert np.ptp(contrast) < 1e-4 * abs(contrast[0])
    assert dose_series[0].values["cnr"] > 0.3


def test_frc_resolution_degrades_with_detector_blur(small_plan):
    from hipct.planner.evaluate import evaluate
    res = []
    for blur in (0.0, 8.0, 16.0):
        cfg = study_config(evaluate(small_plan, warn=False), roi=160, rows=4,
                           extra_blur_um=blur)
        cfg.projections = 300
        r = study_plan(small_plan, cfg, dose_fractions=(4.0,), roi=160)[0]
        res.append(r.values["frc_resolution_um"])
    voxel = r.extra["simulation"].voxel_m * 1e6
    # sharp: within 3 voxels; each added blur moves the crossing to coarser detail, and a
    # 16 um FWHM blur gives a resolution of the order of that FWHM
    assert res[0] < 3 * voxel
    assert res[0] < res[1] < res[2]
    assert res[2] > 1.5 * res[0]
    assert 0.8 * 16.0 < res[2] < 2.5 * 16.0
