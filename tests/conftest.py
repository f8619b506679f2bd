from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "bm18_hemisphere_overview.yaml"


@pytest.fixture
def example_path():
    return EXAMPLE


@pytest.fixture
def example_dict():
    import yaml
    return yaml.safe_load(EXAMPLE.read_text())
