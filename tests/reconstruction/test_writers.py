"""OME-Zarr metadata: built with ome-zarr-models and valid for it when read back."""

import numpy as np
import pytest
import zarr

from hipct.reconstruction.io.writers import ome_image_attrs, ome_multiscales, open_writer

VOXEL_UM = 2.5
ORIGIN_UM = (100.0, -40.0, 7.5)


def _write(tmp_path, fmt, shape=(64, 64, 66)):
    rng = np.random.default_rng(1)
    vol = rng.random(shape, dtype=np.float32)
    out = tmp_path / f"v.{fmt}"
    w = open_writer(fmt, out, shape, np.float32, {"hipct": {"inputs": [], "parameters": {}}},
                    voxel_um=VOXEL_UM, origin_um=ORIGIN_UM, chunk_z=32)
    w.write(0, vol)
    w.finalise()
    return out, vol


@pytest.mark.parametrize("fmt, version", [("ome-zarr", "0.4"), ("ome-zarr-v3", "0.5")])
def test_written_store_validates_with_ome_zarr_models(tmp_path, fmt, version):
    import ome_zarr_models
    out, vol = _write(tmp_path, fmt)
    group = zarr.open_group(str(out), mode="r")
    image = ome_zarr_models.open_ome_zarr(group)        # parses and validates the whole store
    assert type(image).__module__ == f"ome_zarr_models.v0{version[-1]}.image"
    assert image.ome_zarr_version == version
    ms = (image.attributes if version == "0.4" else image.attributes.ome).multiscales[0]
    assert [(a.name, a.type, a.unit) for a in ms.axes] == [(a, "space", "micrometer")
                                                           for a in "zyx"]
    assert [d.path for d in ms.datasets] == ["0", "1"]   # 64 rows: one 2×2×2 level (32 < 64)
    for level, ds in enumerate(ms.datasets):
        scale, translation = ds.coordinateTransformations
        assert (scale.type, translation.type) == ("scale", "translation")
        assert scale.scale == [VOXEL_UM * 2 ** level] * 3
        np.testing.assert_allclose(translation.translation,
                                   np.array(ORIGIN_UM) + (2 ** level - 1) / 2 * VOXEL_UM)
    # level 1's voxel [0, 0, 0] is the mean of level 0's first 2×2×2 voxels, whose centres
    # lie half a level-0 voxel from level 0's origin: where its translation puts it
    np.testing.assert_allclose(group["1"][0, 0, 0], vol[:2, :2, :2].mean(), rtol=1e-6)
    assert group["1"].shape == (32, 32, 33)
    np.testing.assert_allclose(ms.datasets[1].coordinateTransformations[1].translation,
                               np.array(ORIGIN_UM) + 0.5 * VOXEL_UM)


def test_the_models_refuse_what_ome_zarr_does_not_allow():
    from pydantic import ValidationError
    with pytest.raises(ValueError, match="'0.4' or '0.5'"):
        ome_multiscales(1, 1.0, (0, 0, 0), "v", "0.3")
    with pytest.raises(ValidationError, match="inconsistent dimensionality"):
        ome_multiscales(1, 1.0, (0, 0), "v", "0.4")      # a 2-D translation for 3 axes


def test_version_placement_follows_the_specification():
    v04 = ome_image_attrs(1, 1.0, (0, 0, 0), "v", "0.4")
    v05 = ome_image_attrs(1, 1.0, (0, 0, 0), "v", "0.5")
    assert v04["multiscales"][0]["version"] == "0.4" and "ome" not in v04
    assert v05["ome"]["version"] == "0.5" and "version" not in v05["ome"]["multiscales"][0]
