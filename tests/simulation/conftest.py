import pytest

#: a small, fast plan: BM05, 2x optic at binning 2 (4.2 um voxels), a 0.6 mm brain sample in a
#: thin jar, 5 cm propagation: the Paganin length is ~20 pixels, so small windows suffice
SMALL_PLAN = """
name: small-test
beamline: BM05
ring_current: 200 mA
propagation_distance: 0.05 m
filters: [Cu 0.23 mm, carbon 64 mm rods]
detector: {camera: IRIS15, optic: Fixed x2, scintillator: LuAG 50 um, binning: 2}
sample:
  layers: [PET 0.1 mm, ethanol 70% 0.3 mm, brain 0.6 mm]
acquisition: {geometry: half, subframe_time: 4 ms, subframes: 1}
"""


@pytest.fixture
def small_plan_path(tmp_path):
    p = tmp_path / "small.yaml"
    p.write_text(SMALL_PLAN)
    return p


@pytest.fixture
def small_plan(small_plan_path):
    from hipct.planner.plan import load_plan
    return load_plan(small_plan_path)
