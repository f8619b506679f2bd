"""Every figure the command line writes follows the figure style: a label with a unit on every
quantitative axis, a colourbar on every image, a title naming its plan(s), no text outside
the canvas or on another text (renderer bounding boxes, :func:`figure_problems`)."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from hipct.errors import HipctWarning
from hipct.figure_style import common_window, figure_problems, new_figure, scale_bar
from hipct.planner.evaluate import evaluate
from hipct.planner.plan import load_plan, parse_plan
from hipct.planner.plots import pareto_front, plan_figures, sweep_figure

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PLANS = sorted(EXAMPLES.glob("voi_*.yaml")) + sorted(EXAMPLES.glob("bm18_*.yaml"))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


def _evaluate(plan):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HipctWarning)
        return evaluate(plan, warn=False)


# --- the checker finds what it is meant to find -------------------------------------------

def test_checker_flags_a_missing_unit_colourbar_and_title():
    fig, (ax, bx) = new_figure(1, 2)
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("energy")                         # no unit
    ax.set_ylabel("flux (photons/s)")
    bx.imshow(np.zeros((4, 4)))                     # no colourbar, axes still on
    problems = figure_problems(fig, ["my-plan"])
    assert any("x label 'energy' has no (unit)" in p for p in problems)
    assert any("image without a colourbar" in p for p in problems)
    assert any("no title" in p for p in problems)
    assert any("my-plan" in p for p in problems)
    assert not any("'flux (photons/s)'" in p for p in problems)


def test_checker_flags_overlapping_and_clipped_text():
    fig, ax = new_figure()
    ax.set_title("p1: test")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.text(0.5, 0.5, "first label", transform=ax.transAxes)
    ax.text(0.5, 0.5, "second label", transform=ax.transAxes)
    ax.text(1.4, 0.5, "far outside", transform=ax.transAxes)
    problems = figure_problems(fig, ["p1"])
    assert any("'first label' overlaps 'second label'" in p for p in problems)
    assert any("'far outside' runs outside the canvas" in p for p in problems)


def test_scale_bar_is_a_round_length_and_window_is_shared():
    fig, ax = new_figure()
    ax.imshow(np.zeros((100, 200)))
    assert scale_bar(ax, 0.85, 200) == 20.0          # 25 % of 170 µm = 42.5 -> 20 µm
    assert scale_bar(ax, 20.0, 200) == 1000.0        # 25 % of 4 mm = 1 mm
    lo, hi = common_window([np.arange(100.0), np.arange(100.0) + 100], (0, 100))
    assert (lo, hi) == (0.0, 199.0)


def test_pareto_front_keeps_only_undominated_points():
    dose = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    cnr = np.array([1.0, 0.5, 3.0, 2.0, 4.0])
    assert pareto_front(dose, cnr).tolist() == [0, 2, 4]


# --- plan --plot ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", PLANS, ids=[p.stem for p in PLANS])
def test_plan_figures_follow_the_style(path):
    result = _evaluate(load_plan(path))
    for kind, fig in plan_figures(result).items():
        assert figure_problems(fig, [result.plan.name]) == [], kind


def test_plan_without_detector_has_no_empty_panel():
    plan = parse_plan({"name": "dose-only", "beamline": "BM05", "propagation_distance": "1 m",
                       "sample": {"layers": ["brain 10 mm"]},
                       "acquisition": {"subframe_time": "1 ms", "projections": 100}})
    figs = plan_figures(_evaluate(plan))
    assert len(figs["summary"].axes) == 1                    # the table only
    for kind, fig in figs.items():
        assert figure_problems(fig, ["dose-only"]) == [], kind


def test_monochromatic_plan_figures_follow_the_style():
    plan = parse_plan({"name": "mono-11keV", "propagation_distance": "0.1 m",
                       "source": {"type": "monochromatic", "energy": "11 keV",
                                  "flux": "1e11 1/s", "beam_size": "1 mm x 1 mm"},
                       "detector": {"camera": "PCO edge 4.2 CLHS", "optic": "Fixed x10",
                                    "scintillator": "LuAG 20 um"},
                       "sample": {"layers": ["water 1 mm"]}, "acquisition": {"geometry": "full"}})
    result = _evaluate(plan)
    figs = plan_figures(result)
    for kind, fig in figs.items():
        assert figure_problems(fig, ["mono-11keV"]) == [], kind
    bars = figs["spectra"].axes[0].patches                     # one bar per stage, in ph/s/mm²
    assert [b.get_height() for b in bars] == pytest.approx(
        [result.spectra[k].photons_per_s_mm2[0] for k in ("source", "filtered", "behind sample")])


def test_transmission_axis_is_logarithmic_and_energy_axis_fits_the_beam():
    result = _evaluate(load_plan(EXAMPLES / "voi_0p857um_excised.yaml"))
    fig = plan_figures(result)["transmission"]
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    # the 0.23 mm Cu + rods beam holds 99.9 % of its photons well below the 400 keV grid end
    assert ax.get_xlim()[1] < 300


# --- plan --sweep --plot ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_sweep():
    from hipct.planner.sweep import parse_sweep, sweep
    plan = load_plan(EXAMPLES / "voi_0p857um_intact.yaml")
    data = yaml.safe_load((EXAMPLES / "sweep_voi_intact.yaml").read_text())
    data["propagation_distance"]["num"] = 6
    data["subframe_time"]["num"] = 8
    return sweep(plan, parse_sweep(data, plan))


def test_sweep_figure_draws_every_feasible_variant(small_sweep):
    result = small_sweep
    n = int(result.feasible.sum())
    assert 0 < n < result.spec.size                      # both kinds present in this sweep
    fig = sweep_figure(result, "cnr")
    feasible = [c for c in fig.axes[0].collections if c.get_gid() == "feasible"]
    assert len(feasible) == 1 and len(feasible[0].get_offsets()) == n
    excluded = sum(len(c.get_offsets()) for c in fig.axes[0].collections
                   if c.get_label().startswith("excluded"))
    assert excluded == result.spec.size - n
    assert f"{n} feasible" in fig.axes[0].get_title()
    assert figure_problems(fig, [result.plan_name]) == []


def test_sweep_heat_map_colour_range_fits_the_feasible_values(small_sweep):
    from matplotlib.collections import QuadMesh
    result = small_sweep
    fig = sweep_figure(result, "cnr")
    mesh = [c for ax in fig.axes for c in ax.collections if isinstance(c, QuadMesh)
            and c.colorbar is not None][0]
    best = result.ranked("cnr")[0]
    F, D, T = (len(result.spec.filters), result.spec.distances_m.size,
               result.spec.subframe_times_s.size)
    f = best // (D * T)
    ok = result.feasible.reshape(F, D, T)[f]
    values = np.asarray(result.columns["cnr"]).reshape(F, D, T)[f][ok]
    assert mesh.norm.vmin == pytest.approx(values.min())
    assert mesh.norm.vmax == pytest.approx(values.max())


# --- compare --plot ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    from hipct.planner.compare import plan_record
    from hipct.study.excision import study_plan

    from .simulation.conftest import SMALL_PLAN
    texts = [SMALL_PLAN, SMALL_PLAN.replace("0.05 m", "0.1 m").replace("small-test", "small-far")]
    plans = [parse_plan(yaml.safe_load(t)) for t in texts]
    results = [_evaluate(p) for p in plans]
    records = [plan_record(r, "test") for r in results]
    studies = []
    for p, rec in zip(plans, records):
        st = study_plan(p, roi=48)[0]
        rec.update(cnr=st.values["cnr"], cnr_per_sqrt_dose=st.values["cnr_per_sqrt_dose"])
        studies.append(st)
    return results, records, studies


def test_comparison_figures_follow_the_style(comparison):
    from hipct.study.figures import comparison_figures
    results, records, studies = comparison
    names = [r.plan.name for r in results]
    figs = comparison_figures(*comparison)
    assert sorted(figs) == ["detector_fill", "frc_nps", "histograms", "slices", "spectra",
                            "summary"]
    for kind, fig in figs.items():
        assert figure_problems(fig, names) == [], kind


def test_comparison_spectra_are_absolute_and_slices_share_one_window(comparison):
    from hipct.study.figures import comparison_figures
    results, _, _ = comparison
    figs = comparison_figures(*comparison)
    lines = [l for l in figs["spectra"].axes[0].get_lines() if len(l.get_xdata()) > 2]
    for line, r in zip(lines, results):
        key = "absorbed in screen x E_dep/E (behind sample)"
        assert np.allclose(line.get_ydata(), r.spectra[key].per_kev())
    images = [ax.images[0] for ax in figs["slices"].axes if ax.images][:-1]   # not the phantom
    assert len(images) == 2 and images[0].get_clim() == images[1].get_clim()
