"""Z-series: stages given in any order stitch into the volume of one tall scan."""

import numpy as np
import pytest
import zarr

from hipct.cli import main
from hipct.errors import HipctError
from hipct.reconstruction import zseries
from hipct.simulation.campaign import phantom_from_dict, simulate_campaign

PX = 1e-5              # 10 um pixels
ROWS, STEP, WIDTH, NPROJ = 24, 12, 48, 60     # 12 rows of overlap between stages

# features at different heights, so that every row differs from its neighbours
PHANTOM = phantom_from_dict({"features": [
    {"shape": "cylinder", "centre_mm": [0, 0, 0], "radius_mm": 0.2, "mu_per_cm": 2.0},
    {"shape": "ellipsoid", "centre_mm": [0.05, 0.05, -0.03], "semi_axes_mm": [0.12, 0.08, 0.06],
     "mu_per_cm": 3.0},
    {"shape": "ellipsoid", "centre_mm": [-0.1, -0.06, 0.08], "semi_axes_mm": [0.15, 0.05, 0.07],
     "mu_per_cm": -1.0},
]})


def _run(capsys, *args):
    code = main(["reconstruct", *map(str, args), "--quiet"])
    return code, capsys.readouterr().err


def _stages(folder, heights_rows, n_rows=ROWS):
    recs = simulate_campaign(PHANTOM, folder, pixel_size_m=PX, n_rows=n_rows, n_cols=WIDTH,
                             n_proj=NPROJ, z_positions_m=[h * PX for h in heights_rows],
                             oversample=1)
    return [r["path"] for r in recs]


def test_shuffled_stages_equal_the_single_tall_scan(tmp_path, capsys):
    stages = _stages(tmp_path / "st", [STEP, 0, -STEP])
    tall = _stages(tmp_path / "tall", [0], n_rows=ROWS + 2 * STEP)[0]
    out, ref = tmp_path / "z.ome.zarr", tmp_path / "tall.ome.zarr"
    code, err = _run(capsys, stages[2], stages[0], stages[1], "-o", out, "--no-phase",
                     "--cor", "23.5")
    assert code == 0, err
    assert "stage 3" in err
    code, err = _run(capsys, tall, "-o", ref, "--no-phase", "--cor", "23.5")
    assert code == 0, err
    g, gr = zarr.open_group(str(out), mode="r"), zarr.open_group(str(ref), mode="r")
    vol, truth = g["0"][:], gr["0"][:]
    assert vol.shape == truth.shape == (ROWS + 2 * STEP, 48, 48)
    rel = np.sqrt(np.mean((vol - truth) ** 2) / np.mean(truth ** 2))
    assert rel <= 1e-3
    # no seam: the slice-to-slice change where stages are blended or join is no larger
    # than between other neighbouring slices
    steps = np.sqrt(np.mean(np.diff(vol, axis=0) ** 2, axis=(1, 2)))
    joins = np.zeros(steps.size, bool)
    for k in (1, 2):                     # overlaps start at row STEP*k and end at ROWS + STEP*(k-1)
        joins[k * STEP - 1:ROWS + STEP * (k - 1)] = True
    truth_steps = np.sqrt(np.mean(np.diff(truth, axis=0) ** 2, axis=(1, 2)))
    assert np.all(steps[joins] <= truth_steps[joins] * (1 + 1e-3) + 1e-6)
    assert steps[joins].max() <= steps.max()
    # the z translation is the top stage's, the same as the tall scan's (10 um voxels)
    t = g.attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"]
    tr = gr.attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"]
    assert t[1]["translation"] == pytest.approx(tr[1]["translation"])
    assert t[1]["translation"][0] == pytest.approx(-(ROWS + 2 * STEP - 1) / 2 * 10.0)
    st = g.attrs["hipct"]["parameters"]["stages"]
    assert [s["z_m"] for s in st] == pytest.approx([STEP * PX, 0.0, -STEP * PX])
    assert [s["offset_rows"] for s in st] == pytest.approx([0, STEP, 2 * STEP])
    # the stitched volume has its own preview, like a single scan's
    assert (out / "provenance" / "preview.png").stat().st_size > 1000
    assert (ref / "provenance" / "preview.png").stat().st_size > 1000


def test_refine_z_finds_stage_offsets(tmp_path):
    from hipct.reconstruction.pipeline import ReconParams, reconstruct
    nominal = [STEP, 0, -STEP]
    true = [STEP, -3, -STEP + 2]          # the middle stage 3 rows low, the last 2 rows high
    paths = _stages(tmp_path / "st", true)
    out = tmp_path / "r.ome.zarr"
    summary = reconstruct(ReconParams(
        inputs=[paths[1], paths[2], paths[0]], output=str(out), cor=[23.5], delta_beta=0.0,
        z_positions_m=[nominal[1] * PX, nominal[2] * PX, nominal[0] * PX], refine_z=True,
        fbp_method="linear"), progress=False)
    shifts = [s["refined_shift_rows"] for s in summary["stages"]]
    assert shifts == pytest.approx([0.0, 3.0, -2.0], abs=0.5)
    offsets = [s["offset_rows"] for s in summary["stages"]]
    assert offsets == pytest.approx([0, STEP + 3, 2 * STEP - 2], abs=0.5)


def test_stages_are_ordered_by_decreasing_height_and_paired():
    from hipct.reconstruction.pipeline import ReconParams
    p = ReconParams(inputs=["a", "b", "c", "d"], output="o",
                    z_positions_m=[0.0, 5e-3, 0.0, 5e-3])
    st = zseries.plan_stages(p)
    assert [s.inputs for s in st] == [["b", "d"], ["a", "c"]]
    with pytest.raises(HipctError, match="--z-positions"):
        zseries.plan_stages(ReconParams(inputs=["a", "b"], output="o", z_positions_m=[0.0]))


def test_blend_weights_are_linear_ramps_summing_to_one():
    w = zseries.blend_weights([10, 10], [0, 6])
    rows = np.arange(6, 10)
    np.testing.assert_allclose(w[0](rows), [4 / 5, 3 / 5, 2 / 5, 1 / 5])
    np.testing.assert_allclose(w[0](rows) + w[1](rows - 6), 1.0)
    assert np.all(w[0](np.arange(6)) == 1.0)


def test_gap_between_stages_is_a_clear_error(tmp_path, capsys):
    paths = _stages(tmp_path / "st", [0, -ROWS - 4])
    code, err = _run(capsys, *paths, "-o", tmp_path / "g.ome.zarr", "--no-phase", "--cor",
                     "23.5")
    assert code == 2 and "gap of 4.0 rows" in err and "Traceback" not in err


def test_z_positions_count_must_match_inputs(tmp_path, capsys):
    paths = _stages(tmp_path / "st", [0, -STEP])
    code, err = _run(capsys, *paths, "-o", tmp_path / "g.ome.zarr", "--no-phase",
                     "--z-positions", "0.1")
    assert code == 2 and "--z-positions: 1 value(s) for 2 input(s)" in err


def test_resume_keeps_the_finished_stages(tmp_path, monkeypatch):
    from hipct.reconstruction.pipeline import ReconParams, reconstruct
    from hipct.reconstruction.reconstructor import ScanSlabs
    paths = _stages(tmp_path / "st", [STEP, 0, -STEP])
    out = tmp_path / "z.ome.zarr"

    def params(**kw):
        return ReconParams(inputs=paths, output=str(out), cor=[23.5], delta_beta=0.0,
                           fbp_method="linear", **kw)
    calls = []
    original = ScanSlabs.slab

    def failing(self, r0, r1, parts, convert=True):
        calls.append(tuple(self.inputs))
        if len({c for c in calls}) == 3:
            raise KeyboardInterrupt        # interrupted in the third stage
        return original(self, r0, r1, parts, convert)
    monkeypatch.setattr(ScanSlabs, "slab", failing)
    with pytest.raises(KeyboardInterrupt):
        reconstruct(params(), progress=False)
    assert not out.exists()
    monkeypatch.setattr(ScanSlabs, "slab", original)
    done = []
    monkeypatch.setattr(ScanSlabs, "slab",
                        lambda self, *a, **k: done.append(self.inputs) or original(
                            self, *a, **k))
    reconstruct(params(resume=True), progress=False)
    assert {tuple(d) for d in done} == {(paths[2],)}        # only the unfinished stage
    assert zarr.open_group(str(out), mode="r")["0"].shape[0] == ROWS + 2 * STEP


def test_cor_auto_per_stage(tmp_path):
    from hipct.reconstruction.pipeline import ReconParams, reconstruct
    paths = _stages(tmp_path / "st", [STEP, 0, -STEP])
    s = reconstruct(ReconParams(inputs=paths, output=str(tmp_path / "a.ome.zarr"),
                                delta_beta=0.0, fbp_method="linear"), progress=False)
    assert s["cor_source"] == "auto"
    assert s["cor"] == pytest.approx([23.5] * 3, abs=0.25)


def test_heights_from_the_plan_when_the_files_have_none(tmp_path):
    from hipct.reconstruction.io.nxtomo import write_nxtomo
    from hipct.reconstruction.pipeline import ReconParams
    paths = []
    for k in range(3):
        p = tmp_path / f"s{k}.nx"
        write_nxtomo(p, np.ones((4, 2, 8), np.float32), np.linspace(0, np.pi, 4, endpoint=False))
        paths.append(str(p))
    from hipct.physics import PlannedScan
    planned = dict(name="p", voxel_size_m=1e-6, open_beam_mean_energy_kev=None,
                   behind_sample_mean_energy_kev=None, effective_propagation_distance_m=None,
                   projections=4, dose_gy=0.0)
    plan = PlannedScan(stages=3, scans_per_stage=1, vertical_step_m=1.2e-4, **planned)
    st = zseries.plan_stages(ReconParams(inputs=paths, output="o", plan=plan))
    assert [s.inputs for s in st] == [[p] for p in paths]            # listed from the top
    assert [s.z_m for s in st] == pytest.approx([0.0, -1.2e-4, -2.4e-4])
    assert len(zseries.plan_stages(ReconParams(inputs=paths, output="o"))) == 1
    # a quarter-acquisition plan of 3 stages takes 6 inputs; 3 are not its stages
    quarter = PlannedScan(stages=3, scans_per_stage=2, vertical_step_m=1.2e-4, **planned)
    assert len(zseries.plan_stages(ReconParams(inputs=paths, output="o", plan=quarter))) == 1


def test_uint16_z_series_uses_one_window(tmp_path, capsys):
    from hipct.reconstruction.io.writers import to_uint16
    paths = _stages(tmp_path / "st", [STEP, 0, -STEP])
    common = [*paths, "--no-phase", "--cor", "23.5"]
    assert _run(capsys, *common, "-o", tmp_path / "f.ome.zarr")[0] == 0
    assert _run(capsys, *common, "-o", tmp_path / "u.ome.zarr", "--dtype", "uint16",
                "--window", "0,5")[0] == 0
    f = zarr.open_group(str(tmp_path / "f.ome.zarr"), mode="r")["0"][:]
    u = zarr.open_group(str(tmp_path / "u.ome.zarr"), mode="r")["0"][:]
    assert u.dtype == np.uint16
    np.testing.assert_array_equal(u, to_uint16(f, (0.0, 5.0)))


def test_refine_z_needs_a_z_series(tmp_path, capsys):
    path = _stages(tmp_path / "st", [0])[0]
    code, err = _run(capsys, path, "-o", tmp_path / "o.ome.zarr", "--no-phase", "--cor", "23.5",
                     "--refine-z")
    assert code == 2 and "--refine-z: needs a z-series" in err


def test_z_series_output_checks_come_before_the_stages(tmp_path, capsys):
    paths = _stages(tmp_path / "st", [STEP, 0])
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    code, err = _run(capsys, *paths, "-o", foreign, "--overwrite", "--no-phase", "--cor", "23.5")
    assert code == 2 and "left untouched" in err and (foreign / "notes.txt").exists()
    assert not (tmp_path / ".mine.stages").exists()          # refused before any stage ran
    # --preview is the stitched volume's, not overwritten by each stage's
    out, extra = tmp_path / "z.ome.zarr", tmp_path / "p.png"
    code, err = _run(capsys, *paths, "-o", out, "--no-phase", "--cor", "23.5", "--preview", extra)
    assert code == 0, err
    assert err.count(str(extra)) == 1 and extra.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "p.png", "st", "z.ome.zarr"]
