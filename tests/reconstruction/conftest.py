import contextlib
from pathlib import Path

import numpy as np
import pytest

from hipct.reconstruction import phantom
from hipct.reconstruction.io.nxtomo import write_nxtomo

TOOTH = Path(__file__).resolve().parents[3] / "shared" / "data" / "tooth.h5"


@contextlib.contextmanager
def killed_after_first_slab(monkeypatch):
    """Within the block a run writes its first slab, then dies as a kill would (a
    KeyboardInterrupt in the writer); after it, runs write normally again."""
    from hipct.reconstruction.io import writers
    original = writers._Staged.write
    calls = {"n": 0}

    def dying_write(self, z0, block):
        if calls["n"] == 1:
            raise KeyboardInterrupt
        calls["n"] += 1
        return original(self, z0, block)

    monkeypatch.setattr(writers._Staged, "write", dying_write)
    try:
        yield
    finally:
        monkeypatch.setattr(writers._Staged, "write", original)


@pytest.fixture
def tooth_path():
    if not TOOTH.exists():
        pytest.skip(f"real scan {TOOTH} not present (only in the project's shared/ checkout)")
    return TOOTH


def make_raw_scan(path, *, n_rows=6, width=96, n_proj=181, full_turn=False, cor=None,
                  radius_frac=0.4, flat_level=1000.0, dark_level=100.0, ring_current=None):
    """A small synthetic NXtomo scan of an ellipse phantom (mu per pixel scale ~0.02)."""
    cor = (width - 1) / 2 if cor is None else cor
    span = 2 * np.pi if full_turn else np.pi
    theta = np.arange(n_proj) * span / n_proj
    r = radius_frac * (width if not full_turn else 2 * max(cor, width - 1 - cor)) / 2
    ell = [phantom.Ellipse(v * 0.02, a, b, x, y, p) for v, a, b, x, y, p in phantom.shepp_logan(r)]
    sino = phantom.sinogram(ell, theta, np.arange(width) - cor)
    proj = np.repeat(sino[:, None, :], n_rows, axis=1) * (1 + 0.05 * np.arange(n_rows))[None, :, None]
    counts = dark_level + flat_level * np.exp(-proj)
    flats = np.full((4, n_rows, width), dark_level + flat_level)
    darks = np.full((2, n_rows, width), dark_level)
    write_nxtomo(path, counts.astype(np.float32), theta, flats=flats.astype(np.float32),
                 darks=darks.astype(np.float32), pixel_size_m=5e-6, distance_m=0.1,
                 energy_kev=30.0, current=ring_current)
    return theta, ell


@pytest.fixture
def make_scan():
    """Factory writing a small synthetic NXtomo scan (see :func:`make_raw_scan`)."""
    return make_raw_scan
