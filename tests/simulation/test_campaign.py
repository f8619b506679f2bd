"""The campaign simulator: one phantom in sample coordinates, scanned as overview and VOI."""

import numpy as np
import pytest
import zarr
from scipy import ndimage

from hipct.cli import main
from hipct.errors import PlanError
from hipct.reconstruction.pipeline import ReconParams, reconstruct
from hipct.simulation.campaign import (acquisition_columns, phantom_from_dict,
                                                      simulate_campaign)

# a cylinder 1.5 mm across (1/cm) with three ellipsoids at different places and heights
PHANTOM = {"features": [
    {"shape": "cylinder", "centre_mm": [0, 0, 0], "radius_mm": 0.75, "mu_per_cm": 1.0},
    {"shape": "ellipsoid", "centre_mm": [0.05, 0.1, 0.3], "semi_axes_mm": [0.1, 0.12, 0.08],
     "mu_per_cm": 1.5},
    {"shape": "ellipsoid", "centre_mm": [-0.08, -0.05, 0.25], "semi_axes_mm": [0.12, 0.06, 0.1],
     "mu_per_cm": -0.6},
    {"shape": "ellipsoid", "centre_mm": [0.0, -0.3, -0.35], "semi_axes_mm": [0.2, 0.1, 0.15],
     "mu_per_cm": 0.8},
]}


@pytest.fixture(scope="module")
def ph():
    return phantom_from_dict(PHANTOM)


def _volume(path):
    g = zarr.open_group(str(path), mode="r")
    t = g.attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"]
    return g["0"][:], np.array(t[0]["scale"]), np.array(t[1]["translation"])


def test_line_integrals_of_a_cylinder_are_its_chords(ph):
    cyl = phantom_from_dict({"features": [PHANTOM["features"][0]]})
    u = np.linspace(-0.9e-3, 0.9e-3, 19)
    got = cyl.line_integrals(np.array([0.3]), u, np.array([0.0, 1e-3]))[0]
    r = 0.75e-3
    chord = 2 * np.sqrt(np.clip(r ** 2 - u ** 2, 0, None)) * 100.0      # mu = 100 /m
    np.testing.assert_allclose(got, np.broadcast_to(chord, got.shape), atol=1e-12)
    # moving the axis by +x moves the shadow to -u (u = x cos(theta) + y sin(theta) at 0)
    shifted = cyl.line_integrals(np.array([0.0]), u, np.array([0.0]), (0.2e-3, 0.0))[0, 0]
    expect = 2 * np.sqrt(np.clip(r ** 2 - (u + 0.2e-3) ** 2, 0, None)) * 100.0
    np.testing.assert_allclose(shifted, expect, atol=1e-12)


def test_phantom_yaml_errors_name_the_field():
    with pytest.raises(PlanError, match=r"features\[0\].shape"):
        phantom_from_dict({"features": [{"shape": "cube"}]})
    with pytest.raises(PlanError, match=r"features\[0\]: a cylinder takes exactly"):
        phantom_from_dict({"features": [{"shape": "cylinder", "centre_mm": [0, 0, 0],
                                         "mu_per_cm": 1}]})


def test_quarter_acquisition_matches_the_full_field_scan(tmp_path, ph):
    # two 360° rotations of a 48-column detector (axes at 41.37 and 82.37) against one
    # 180° scan of a detector wide enough for the whole field; both noise-free
    width, overlap = 48, 6
    q = simulate_campaign(ph, tmp_path / "q", pixel_size_m=1e-5, n_rows=2, n_cols=width,
                          n_proj=520, geometry="quarter", overlap=overlap, axis_offset_px=0.37)
    radius = acquisition_columns("quarter", width, overlap)[1][0]
    assert [r["cor"] for r in q] == pytest.approx([41.37, 82.37])
    n = int(2 * radius) + 1
    full = simulate_campaign(ph, tmp_path / "f", pixel_size_m=1e-5, n_rows=2, n_cols=n,
                             n_proj=260, geometry="full")
    sq = reconstruct(ReconParams(inputs=[r["path"] for r in q], output=str(tmp_path / "q.zarr"),
                                 cor=[r["cor"] for r in q], delta_beta=0.0,
                                 fbp_method="linear"), progress=False)
    reconstruct(ReconParams(inputs=[full[0]["path"]], output=str(tmp_path / "f.zarr"),
                            cor=[full[0]["cor"]], delta_beta=0.0, fbp_method="linear",
                            width=sq["slice_width"]), progress=False)
    a, _, _ = _volume(tmp_path / "q.zarr")
    b, _, _ = _volume(tmp_path / "f.zarr")
    m = a.shape[-1]
    c = (m - 1) / 2
    yy, xx = np.mgrid[:m, :m]
    disc = (xx - c) ** 2 + (yy - c) ** 2 < (0.95 * radius) ** 2
    rmse = np.sqrt(np.mean((a - b)[:, disc] ** 2))          # 1/cm; the phantom spans 0..2.5
    assert rmse <= 0.035
    assert np.sqrt(np.mean(b[:, disc] ** 2)) > 0.5          # not two empty volumes


def test_quarter_three_stage_overview_is_one_ome_zarr(tmp_path, ph, capsys):
    recs = simulate_campaign(ph, tmp_path / "ov", pixel_size_m=2e-5, n_rows=8, n_cols=24,
                             n_proj=200, geometry="quarter", overlap=4,
                             z_positions_m=[0.1e-3, 0.0, -0.1e-3])
    assert len(recs) == 6
    paths = [r["path"] for r in recs][::-1]                # any order
    out = tmp_path / "overview.ome.zarr"
    code = main(["reconstruct", *paths, "-o", str(out), "--no-phase", "--cor",
                 f"{recs[0]['cor']},{recs[1]['cor']}", "--fbp", "linear", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    vol, scale, trans = _volume(out)
    # 8 rows per stage, 5-row steps: 5 + 5 + 8 slices; 20 um voxels; the top's translation
    assert vol.shape[0] == 18 and scale.tolist() == [20.0] * 3
    assert trans[0] == pytest.approx(-100.0 - 3.5 * 20.0)
    # the same as one quarter scan of all 18 rows
    tall = simulate_campaign(ph, tmp_path / "tall", pixel_size_m=2e-5, n_rows=18, n_cols=24,
                             n_proj=200, geometry="quarter", overlap=4, z_positions_m=[0.0])
    ref = tmp_path / "tall.ome.zarr"
    assert main(["reconstruct", tall[0]["path"], tall[1]["path"], "-o", str(ref), "--no-phase",
                 "--cor", f"{tall[0]['cor']},{tall[1]['cor']}", "--fbp", "linear",
                 "--quiet"]) == 0
    truth, _, t_ref = _volume(ref)
    assert np.sqrt(np.mean((vol - truth) ** 2) / np.mean(truth ** 2)) <= 1e-3
    assert trans == pytest.approx(t_ref)
    st = zarr.open_group(str(out), mode="r").attrs["hipct"]["parameters"]["stages"]
    assert [len(s["inputs"]) for s in st] == [2, 2, 2]
    assert [s["z_m"] for s in st] == pytest.approx([1e-4, 0.0, -1e-4])


@pytest.mark.parametrize("y_mm", [0.0, 0.12])
def test_voi_lands_where_it_was_scanned_in_the_overview(tmp_path, ph, y_mm):
    # overview: 20 um voxels, half acquisition, two stages; VOI: 5 um voxels, local
    # tomography of the same phantom at x = 0.28 mm, y = y_mm, z = -0.02 mm
    ov = simulate_campaign(ph, tmp_path / "ov", pixel_size_m=2e-5, n_rows=16, n_cols=48,
                           n_proj=240, geometry="half", overlap=6, axis_offset_px=0.3,
                           z_positions_m=[0.1e-3, -0.1e-3])
    pos_m = (-0.02e-3, y_mm * 1e-3, 0.28e-3)
    voi = simulate_campaign(ph, tmp_path / "voi", pixel_size_m=5e-6, n_rows=16, n_cols=64,
                            n_proj=200, geometry="full", z_positions_m=[pos_m[0]],
                            axis_xy_m=(pos_m[2], pos_m[1]), prefix="voi")
    reconstruct(ReconParams(inputs=[r["path"] for r in ov], output=str(tmp_path / "o.zarr"),
                            cor=[ov[0]["cor"]], delta_beta=0.0, fbp_method="linear"),
                progress=False)
    sv = reconstruct(ReconParams(inputs=[voi[0]["path"]], output=str(tmp_path / "v.zarr"),
                                 cor=[voi[0]["cor"]], delta_beta=0.0, fbp_method="linear"),
                     progress=False)
    big, s_o, t_o = _volume(tmp_path / "o.zarr")
    small, s_v, t_v = _volume(tmp_path / "v.zarr")
    # where the simulation put the VOI's first voxel in the overview frame (z down the
    # sample, x along the stage): its translation is within one overview voxel of it
    expect_z = -pos_m[0] * 1e6 - (16 - 1) / 2 * 5.0
    expect_x = pos_m[2] * 1e6 - (sv["slice_width"] - 1) / 2 * 5.0
    expect_y = pos_m[1] * 1e6 - (sv["slice_width"] - 1) / 2 * 5.0
    assert abs(t_v[0] - expect_z) <= s_o[0] and abs(t_v[2] - expect_x) <= s_o[2]
    assert abs(t_v[1] - expect_y) <= s_o[1]

    # the VOI averaged to the overview's voxels, against the overview resampled at their
    # centres, using only the two stores' scale and translation
    f = int(round(s_o[0] / s_v[0]))
    n = np.array(small.shape) // f
    coarse = small[:n[0] * f, :n[1] * f, :n[2] * f].reshape(
        n[0], f, n[1], f, n[2], f).mean(axis=(1, 3, 5))

    def correlation(offset_um=(0.0, 0.0, 0.0)):
        centres = [t_v[a] + offset_um[a] + s_v[a] * (np.arange(n[a]) * f + (f - 1) / 2)
                   for a in range(3)]
        grid = np.meshgrid(*centres, indexing="ij")
        idx = [(g - t_o[a]) / s_o[a] for a, g in enumerate(grid)]
        sampled = ndimage.map_coordinates(big, idx, order=1)
        c = (n[2] - 1) / 2
        yy, xx = np.mgrid[:n[1], :n[2]]
        disc = (xx - c) ** 2 + (yy - c) ** 2 < (0.45 * n[2]) ** 2
        return np.corrcoef(sampled[:, disc].ravel(), coarse[:, disc].ravel())[0, 1]

    assert correlation() >= 0.9
    # the check can fail: the same VOI placed four overview voxels off in x or in y
    # correlates worse
    assert correlation((0.0, 0.0, 80.0)) < correlation() - 0.2
    assert correlation((0.0, 80.0, 0.0)) < correlation() - 0.2


def test_simulate_cli_writes_a_quarter_z_series(tmp_path, capsys):
    import json

    from hipct.reconstruction.io.readers import open_scan
    ph_yaml = tmp_path / "ph.yaml"
    import yaml
    ph_yaml.write_text(yaml.safe_dump(PHANTOM))
    out = tmp_path / "ov"
    code = main(["simulate", "--phantom", str(ph_yaml), "-o", str(out), "--pixel-size", "20um",
                 "--width", "24", "--rows", "6", "--geometry", "quarter", "--stages", "2",
                 "--z-step", "0.08mm", "--position", "0.1,0,0.05", "--overlap", "4",
                 "--no-noise"])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((out / "campaign.json").read_text())
    assert [f["z_m"] for f in manifest["files"]] == pytest.approx([1e-4, 1e-4, 2e-5, 2e-5])
    assert [f["cor"] for f in manifest["files"]] == [19.0, 38.0] * 2
    # 2 x (pi/2) x (2 x 38 + 1) projections per 360° rotation
    assert manifest["projections"] == 2 * 121
    scan = open_scan(manifest["files"][2]["path"])
    assert scan.z_translation_m == pytest.approx(2e-5)
    assert scan.position_m == pytest.approx((2e-5, 0.0, 5e-5))
    assert scan.pixel_size_m == pytest.approx(2e-5) and scan.n_proj == 242
    code = main(["simulate", "--phantom", str(ph_yaml), "-o", str(tmp_path / "x"),
                 "--stages", "3"])
    assert code == 2 and "--z-step" in capsys.readouterr().err


def test_simulate_cli_replaces_only_its_own_folder(tmp_path, capsys):
    import yaml
    ph_yaml = tmp_path / "ph.yaml"
    ph_yaml.write_text(yaml.safe_dump(PHANTOM))
    args = ["simulate", "--phantom", str(ph_yaml), "--pixel-size", "20um", "--width", "16",
            "--rows", "2", "--projections", "20", "--no-noise", "-o"]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    assert main(args + [str(foreign), "--overwrite"]) == 2
    assert "left untouched" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep"
    out = tmp_path / "sim"
    assert main(args + [str(out)]) == 0
    assert main(args + [str(out)]) == 2 and "--overwrite" in capsys.readouterr().err
    assert main(args + [str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    for cwd_like in ("", "."):
        assert main(args + [cwd_like]) == 2
