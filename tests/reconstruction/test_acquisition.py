"""Half and quarter acquisition against the full-field reconstruction of the same object."""

import numpy as np
import pytest

from hipct.errors import HipctError
from hipct.reconstruction import acquisition as acq
from hipct.reconstruction import fbp, phantom

N = 512
ELL = phantom.shepp_logan(0.45 * N)          # object 460 px wide: wider than the detectors below
TH180 = np.arange(750) * np.pi / 750
TH360 = np.arange(1500) * 2 * np.pi / 1500


@pytest.fixture(scope="module")
def full_field():
    u = np.arange(N) - (N - 1) / 2
    return fbp.fbp(phantom.sinogram(ELL, TH180, u), TH180, u[0])


def _mask(n):
    c = (n - 1) / 2
    yy, xx = np.mgrid[:n, :n]
    return (xx - c) ** 2 + (yy - c) ** 2 < (0.47 * n) ** 2


def _reconstruct(scans):
    sinos = [phantom.sinogram(ELL, s.theta, np.arange(s.n_cols) - s.cor)[None] for s in scans]
    merged, layout = acq.merge_to_180(sinos, scans)
    return fbp.fbp(merged[0], layout.theta, layout.u0, n=N), layout


@pytest.mark.parametrize("cor", [280.3, 19.6])     # axis near the right / left edge
def test_half_acquisition_matches_full_field(full_field, cor):
    scan = acq.SubScan(TH360, 300, cor)            # 300-px detector, 360°, offset axis
    rec, layout = _reconstruct([scan])
    assert layout.radius >= 278
    rmse = np.sqrt(np.mean((rec - full_field)[_mask(N)] ** 2))
    assert rmse <= 0.035                            # measured ~0.011


def test_quarter_acquisition_matches_full_field(full_field):
    # two 360° rotations of a 200-px detector: the outer one has its axis off the detector
    scans = [acq.SubScan(TH360, 200, 280.3), acq.SubScan(TH360, 200, 100.7)]
    rec, layout = _reconstruct(scans)
    assert layout.radius >= 278
    rmse = np.sqrt(np.mean((rec - full_field)[_mask(N)] ** 2))
    assert rmse <= 0.035


def test_plain_180_passes_through_without_interpolation():
    sino = np.random.default_rng(0).random((2, TH180.size, 64)).astype(np.float32)
    merged, layout = acq.merge_to_180([sino], [acq.SubScan(TH180, 64, 30.0)])
    np.testing.assert_array_equal(merged, sino)
    assert layout.u0 == -30.0 and layout.n_u == 64


def test_gap_between_subscans_is_an_error():
    scans = [acq.SubScan(TH360, 100, 400.0), acq.SubScan(TH360, 100, 50.0)]
    sinos = [np.zeros((1, TH360.size, 100), np.float32)] * 2
    with pytest.raises(HipctError, match="gap"):
        acq.merge_to_180(sinos, scans)


def test_less_than_180_degrees_is_an_error():
    th = np.linspace(0, 2.0, 50)
    with pytest.raises(HipctError, match="at least 180"):
        acq.merge_to_180([np.zeros((1, 50, 32), np.float32)], [acq.SubScan(th, 32, 16.0)])
