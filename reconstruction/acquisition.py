"""Scan geometries (180°, 360°, half and quarter acquisition) merged into one 180° sinogram.

Every geometry is reduced to the same thing before filtering: a parallel-beam sinogram over
180° on a regular grid of axis-relative detector coordinates ``u``. Each sub-scan ``i`` of an
acquisition (one for 180°/360°/half acquisition, two for quarter acquisition) has its
rotation axis at absolute detector column ``cor_i`` (0-based, may lie outside the detector for
the outer scan of a quarter acquisition). It measures the line ``(theta, u)`` at column
``cor_i + u`` and, if it covers 360°, also at angle ``theta + pi`` and column ``cor_i - u``
(the same line seen from the other side).

Where several measurements of one line exist (the overlap of a half acquisition, the seam of a
quarter acquisition, every line of a full 360° scan) they are blended with weights that fall
linearly to the detector edges over the overlap width, normalised to sum to one
(the usual half-acquisition weighting; cf. Cho et al., *Phys. Med. Biol.* 40, 1863 (1995)).
The output grid is aligned on the first sub-scan's columns, so a plain 180° scan is passed
through without interpolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hipct.errors import HipctError

__all__ = ["SubScan", "Merged", "scan_range", "is_full_turn", "merge_to_180", "covered_radius",
           "interpolate_angles"]

_FULL_TURN_TOL = 0.02  # fraction of 2 pi: a scan covering >= 98 % of a turn (plus a step) is 360°


@dataclass(frozen=True)
class SubScan:
    """One rotation of an acquisition: its angles (radians), width and axis column."""

    theta: np.ndarray
    n_cols: int
    cor: float


@dataclass(frozen=True)
class Merged:
    """Layout of the merged 180° sinogram: angles, ``u`` of column 0, number of columns."""

    theta: np.ndarray
    u0: float
    n_u: int

    @property
    def radius(self) -> float:
        """Radius (pixels) of the disc every line of which was measured."""
        return min(-self.u0, self.u0 + self.n_u - 1)


def scan_range(theta: np.ndarray) -> float:
    """Angular range covered (radians): last - first + one mean step."""
    theta = np.asarray(theta, dtype=np.float64)
    if theta.size < 2:
        return 0.0
    return float(abs(theta[-1] - theta[0]) * theta.size / (theta.size - 1))


def is_full_turn(theta: np.ndarray) -> bool:
    """True when the angles cover a full 360° turn."""
    return scan_range(theta) >= 2 * np.pi * (1 - _FULL_TURN_TOL)


def _intervals(scans):
    out = []
    for s in scans:
        out.append((-s.cor, s.n_cols - 1 - s.cor, s, False))
        if is_full_turn(s.theta):
            out.append((-(s.n_cols - 1 - s.cor), s.cor, s, True))
    return out


def covered_radius(scans) -> float:
    """Radius (pixels) of the disc fully measured by the given sub-scans."""
    iv = _intervals(scans)
    lo = min(a for a, *_ in iv)
    hi = max(b for _, b, *_ in iv)
    return min(-lo, hi)


def _layout(scans) -> tuple[Merged, list]:
    first = scans[0]
    th = np.asarray(first.theta, dtype=np.float64)
    if scan_range(th) < np.pi * (1 - _FULL_TURN_TOL):
        raise HipctError(f"angles: the scan covers {math.degrees(scan_range(th)):.1f}°; "
                         "at least 180° are needed for filtered back-projection")
    keep = (th - th[0]) < np.pi - 1e-9 if is_full_turn(th) else np.ones(th.size, bool)
    iv = _intervals(scans)
    lo = min(a for a, *_ in iv)
    hi = max(b for _, b, *_ in iv)
    # align the grid on the first scan's detector columns: u = k - cor_0
    u0 = -first.cor - math.floor(-first.cor - lo + 1e-9)
    n_u = int(math.floor(hi - u0 + 1e-9)) + 1
    return Merged(theta=th[keep], u0=float(u0), n_u=n_u), iv


def interpolate_angles(sino, theta, targets, full_turn):
    """Sinogram rows at ``targets`` by linear interpolation in angle (periodic for 360°).

    Parameters
    ----------
    sino : ndarray, shape (rows, angles, columns)
        Sinograms sampled at ``theta``.
    theta : array_like
        Their angles in radians (any order).
    targets : array_like
        Angles in radians to interpolate to.
    full_turn : bool
        The scan covers 360°: interpolate periodically.

    Returns
    -------
    ndarray, shape (rows, len(targets), columns)
    """
    theta = np.asarray(theta, dtype=np.float64)
    order = np.argsort(theta)
    th = theta[order]
    data = sino[:, order]
    if full_turn:
        period = 2 * np.pi
        tq = th[0] + np.mod(targets - th[0], period)
        th_ext = np.concatenate([th, [th[0] + period]])
        idx = np.searchsorted(th_ext, tq, side="right") - 1
        idx = np.clip(idx, 0, th.size - 1)
        nxt = (idx + 1) % th.size
        span = th_ext[idx + 1] - th_ext[idx]
    else:
        tq = np.clip(targets, th[0], th[-1])
        idx = np.clip(np.searchsorted(th, tq, side="right") - 1, 0, th.size - 2)
        nxt = idx + 1
        span = th[nxt] - th[idx]
    f = np.where(span > 0, (tq - th[idx]) / np.where(span > 0, span, 1), 0.0)
    exact = f < 1e-6
    if np.all(exact):
        return data[:, idx]
    f = f.astype(np.float32)[None, :, None]
    return data[:, idx] * (1 - f) + data[:, nxt] * f


def merge_to_180(sinos, scans, overlap_taper: float | None = None):
    """Merge the sub-scans' sinograms into one 180° sinogram on a regular ``u`` grid.

    Parameters
    ----------
    sinos : sequence of numpy.ndarray
        One ``(n_rows, n_angles_i, n_cols_i)`` array per sub-scan (line integrals).
    scans : sequence of SubScan
        Angles and axis column of each sub-scan, in the same order.
    overlap_taper : float, optional
        Width (pixels) of the linear blending ramp at detector edges; default: the narrowest
        overlap between measurements (so the ramp spans the whole overlap).

    Returns
    -------
    (numpy.ndarray, Merged)
        The ``(n_rows, n_angles, n_u)`` float32 sinogram and its layout.
    """
    if len(sinos) != len(scans):
        raise HipctError("acquisition: one axis position (--cor) is needed per input scan")
    layout, iv = _layout(scans)
    u = layout.u0 + np.arange(layout.n_u)
    if overlap_taper is None:
        widths = []
        for i, (a1, b1, *_) in enumerate(iv):
            for a2, b2, *_ in iv[i + 1:]:
                w = min(b1, b2) - max(a1, a2)
                if w > 0:
                    widths.append(w)
        overlap_taper = max(1.0, min(widths)) if widths else 1.0
    n_rows = sinos[0].shape[0]
    acc = np.zeros((n_rows, layout.theta.size, layout.n_u), dtype=np.float32)
    wsum = np.zeros(layout.n_u, dtype=np.float32)
    for sino, scan in zip(sinos, scans):
        sino = np.asarray(sino, dtype=np.float32)
        if sino.shape[1:] != (np.asarray(scan.theta).size, scan.n_cols):
            raise HipctError(f"acquisition: sinogram shape {sino.shape[1:]} does not match "
                             f"{np.asarray(scan.theta).size} angles × {scan.n_cols} columns")
        full = is_full_turn(scan.theta)
        for mirrored in ((False, True) if full else (False,)):
            targets = layout.theta + (np.pi if mirrored else 0.0)
            rows = interpolate_angles(sino, scan.theta, targets, full)
            col = scan.cor - u if mirrored else scan.cor + u
            valid = (col >= 0) & (col <= scan.n_cols - 1)
            if not valid.any():
                continue
            edge = np.minimum(col, scan.n_cols - 1 - col)
            w = np.where(valid, np.clip((edge + 1) / (overlap_taper + 1), 0, 1), 0)
            w = w.astype(np.float32)
            c = np.clip(col, 0, scan.n_cols - 1)
            i0 = np.minimum(np.floor(c).astype(np.int64), scan.n_cols - 2)
            f = (c - i0).astype(np.float32)
            if np.all(f == 0):
                vals = rows[..., i0]
            else:
                vals = rows[..., i0] * (1 - f) + rows[..., i0 + 1] * f
            acc += vals * w
            wsum += w
    if np.any(wsum == 0):
        raise HipctError("acquisition: the sub-scans leave a gap in the field of view; "
                         "check the axis positions (--cor)")
    acc /= wsum
    return acc, layout
