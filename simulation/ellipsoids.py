"""Ellipsoids in 3-D: exact parallel-beam chord lengths and voxelised maps.

A feature is an ellipsoid ``(p - c)ᵀ A (p - c) ≤ 1`` with ``A = R diag(1/a², 1/b², 1/c²) Rᵀ``;
a semi-axis of ``inf`` gives an infinite cylinder (``1/c² = 0``), used for jars and organs
that extend beyond the simulated rows.

Geometry follows :mod:`hipct.reconstruction.fbp`: the rotation axis is ``z``; at angle θ the
detector coordinate is ``u = x cos θ − y sin θ`` (the peers' orientation) and the beam
travels along ``d = (sin θ, cos θ, 0)``. The chord of the line ``q₀ + t d`` through the
ellipsoid is ``2 √((wᵀAd)² − (dᵀAd)(wᵀAw − 1)) / (dᵀAd)`` with ``w = q₀ − c`` (roots of the
quadratic in t).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["Ellipsoid", "rotation", "ChordProjector", "chord_lengths", "inside"]


def rotation(axis_theta: float, axis_phi: float) -> np.ndarray:
    """Rotation taking ``z`` onto the unit vector with polar angle θ and azimuth φ (radians)."""
    ct, st, cp, sp = np.cos(axis_theta), np.sin(axis_theta), np.cos(axis_phi), np.sin(axis_phi)
    ry = np.array([[ct, 0.0, st], [0.0, 1.0, 0.0], [-st, 0.0, ct]])
    rz = np.array([[cp, -sp, 0.0], [sp, cp, 0.0], [0.0, 0.0, 1.0]])
    return rz @ ry


@dataclass(frozen=True)
class Ellipsoid:
    """An ellipsoid of ``material`` embedded in ``parent`` (lengths in metres).

    ``material`` and ``parent`` are keys of the phantom's material table; the phantom's
    line integral of a property P is Σ chord_k · (P[material_k] − P[parent_k]) (the nesting
    rule of the Shepp–Logan phantom), exact when each feature lies inside its parent.
    """

    centre: tuple
    semi_axes: tuple
    rot: np.ndarray
    material: str
    parent: str

    @property
    def matrix(self) -> np.ndarray:
        inv = np.array([0.0 if not np.isfinite(s) else 1.0 / s ** 2 for s in self.semi_axes])
        return self.rot @ np.diag(inv) @ self.rot.T


def _tables(features):
    """Per-feature arrays for the kernel: matrices, centres and shadow half-widths."""
    k = len(features)
    mats = np.zeros((k, 3, 3))
    cents = np.zeros((k, 3))
    half = np.full((k, 2), np.inf)      # shadow half-extent across (any θ) and along z
    for i, f in enumerate(features):
        mats[i] = f.matrix
        cents[i] = f.centre
        finite = [a for a in f.semi_axes if np.isfinite(a)]
        if len(finite) == 3:
            inv = np.linalg.inv(mats[i])        # support function: h(n) = sqrt(nᵀ A⁻¹ n)
            half[i, 0] = max(finite)
            half[i, 1] = np.sqrt(max(inv[2, 2], 0.0))
        elif len(finite) == 2 and not np.isfinite(f.semi_axes[2]) \
                and abs(abs(f.rot[2, 2]) - 1.0) < 1e-12:
            half[i, 0] = max(finite)            # a vertical column: bounded across only
    return mats, cents, half


@njit(cache=True)
def _chord_kernel(mats, cents, half, group, theta, u0, du, nu, z0, dz, nz, out):
    # st = -sin(theta): then d = (-st, ct, 0) and eu = (ct, st, 0) are the module's d and eu
    ct, st = np.cos(theta), -np.sin(theta)
    for k in range(mats.shape[0]):
        a = mats[k]
        cx, cy, cz = cents[k, 0], cents[k, 1], cents[k, 2]
        # A d, A eu, A ez with d = (-st, ct, 0), eu = (ct, st, 0), ez = (0, 0, 1)
        adx = -a[0, 0] * st + a[0, 1] * ct
        ady = -a[1, 0] * st + a[1, 1] * ct
        adz = -a[2, 0] * st + a[2, 1] * ct
        dad = -st * adx + ct * ady
        if dad <= 0.0:
            continue
        aux = a[0, 0] * ct + a[0, 1] * st
        auy = a[1, 0] * ct + a[1, 1] * st
        auz = a[2, 0] * ct + a[2, 1] * st
        eu_ad = ct * adx + st * ady
        ez_ad = adz
        c_ad = cx * adx + cy * ady + cz * adz
        a_uu = ct * aux + st * auy
        a_uz = auz
        a_zz = a[2, 2]
        c_au = cx * aux + cy * auy + cz * auz
        c_az = cx * a[0, 2] + cy * a[1, 2] + cz * a[2, 2]
        c_ac = (cx * (a[0, 0] * cx + a[0, 1] * cy + a[0, 2] * cz)
                + cy * (a[1, 0] * cx + a[1, 1] * cy + a[1, 2] * cz)
                + cz * (a[2, 0] * cx + a[2, 1] * cy + a[2, 2] * cz))
        j0, j1, i0, i1 = 0, nu, 0, nz
        if np.isfinite(half[k, 0]):
            uc = cx * ct + cy * st
            j0 = max(0, int(np.floor((uc - half[k, 0] - u0) / du)))
            j1 = min(nu, int(np.ceil((uc + half[k, 0] - u0) / du)) + 1)
        if np.isfinite(half[k, 1]):
            i0 = max(0, int(np.floor((cz - half[k, 1] - z0) / dz)))
            i1 = min(nz, int(np.ceil((cz + half[k, 1] - z0) / dz)) + 1)
        g = group[k]
        for i in range(i0, i1):
            z = z0 + i * dz
            for j in range(j0, j1):
                u = u0 + j * du
                w_ad = u * eu_ad + z * ez_ad - c_ad
                w_aw = (u * u * a_uu + 2.0 * u * z * a_uz + z * z * a_zz
                        - 2.0 * u * c_au - 2.0 * z * c_az + c_ac)
                disc = w_ad * w_ad - dad * (w_aw - 1.0)
                if disc > 0.0:
                    out[g, i, j] += 2.0 * np.sqrt(disc) / dad


class ChordProjector:
    """Summed chord lengths of groups of features on a uniform detector grid (numba kernel).

    Parameters
    ----------
    features : sequence of Ellipsoid
    group : array of int, optional
        Group index of each feature (default: one group per feature).
    """

    def __init__(self, features, group=None):
        self.tables = _tables(features)
        self.group = (np.arange(len(features)) if group is None
                      else np.asarray(group)).astype(np.int64)
        self.n_groups = int(self.group.max()) + 1 if len(features) else 0

    def __call__(self, theta: float, u_m: np.ndarray, z_m: np.ndarray) -> np.ndarray:
        """``(n_groups, z.size, u.size)`` path lengths (m) at angle ``theta``; grids uniform."""
        u_m = np.asarray(u_m, dtype=np.float64)
        z_m = np.asarray(z_m, dtype=np.float64)
        du = float(u_m[1] - u_m[0]) if u_m.size > 1 else 1.0
        dz = float(z_m[1] - z_m[0]) if z_m.size > 1 else 1.0
        out = np.zeros((self.n_groups, z_m.size, u_m.size))
        _chord_kernel(*self.tables, self.group, float(theta), float(u_m[0]), du, u_m.size,
                      float(z_m[0]), dz, z_m.size, out)
        return out


def chord_lengths(features, theta: float, u_m: np.ndarray, z_m: np.ndarray) -> np.ndarray:
    """Chord length (m) of every feature on the detector grid at angle ``theta``.

    Plain numpy, one feature at a time: the reference for :class:`ChordProjector`.

    Parameters
    ----------
    features : sequence of Ellipsoid
    theta : float
        Rotation angle (radians).
    u_m, z_m : numpy.ndarray
        1-D detector coordinates (m) across and along the axis.

    Returns
    -------
    numpy.ndarray
        ``(n_features, z_m.size, u_m.size)`` float64.
    """
    eu = np.array([np.cos(theta), -np.sin(theta), 0.0])
    ez = np.array([0.0, 0.0, 1.0])
    d = np.array([np.sin(theta), np.cos(theta), 0.0])
    out = np.zeros((len(features), z_m.size, u_m.size))
    uu = u_m[None, :]
    zz = z_m[:, None]
    for k, f in enumerate(features):
        a = f.matrix
        c = np.asarray(f.centre, dtype=np.float64)
        ad = a @ d
        dad = d @ ad
        if dad <= 0:
            continue
        w_ad = uu * (eu @ ad) + zz * (ez @ ad) - c @ ad
        w_aw = (uu * uu * (eu @ a @ eu) + 2 * uu * zz * (eu @ a @ ez) + zz * zz * (ez @ a @ ez)
                - 2 * uu * (c @ a @ eu) - 2 * zz * (c @ a @ ez) + c @ a @ c)
        disc = w_ad * w_ad - dad * (w_aw - 1.0)
        out[k] = 2.0 * np.sqrt(np.maximum(disc, 0.0)) / dad
    return out


def inside(feature: Ellipsoid, points: np.ndarray) -> np.ndarray:
    """Boolean mask of ``points`` (``(..., 3)`` in metres) inside ``feature``."""
    w = points - np.asarray(feature.centre)
    return np.einsum("...i,ij,...j->...", w, feature.matrix, w) <= 1.0
