"""Analytic ellipse phantoms and their exact parallel-beam sinograms.

The sinogram of an ellipse is a closed form (Kak & Slaney 1988, §3.2, eq. 7): for an ellipse of
value ``rho``, semi-axes ``a``, ``b``, rotated by ``phi`` and centred at ``(x0, y0)``,
``p(theta, t) = 2 rho a b sqrt(s^2 - t'^2) / s^2`` with ``s^2 = a^2 cos^2(theta - phi) +
b^2 sin^2(theta - phi)`` and ``t' = t - x0 cos(theta) - y0 sin(theta)`` in a frame whose y axis
points up. These sinograms are independent of the project's back-projector, so they can test it.

Coordinates follow :mod:`hipct.reconstruction.fbp`: ``t = x cos(theta) - y sin(theta)``, with
``x`` along the slice's last axis and ``y`` along its first (rows growing downwards), both in
pixels from the axis; ``phi`` turns from +x towards +y (clockwise as displayed). In the
y-up frame of Kak & Slaney that is ``y0 -> -y0`` and ``phi -> -phi``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Ellipse", "shepp_logan", "asymmetric_phantom", "rasterise", "sinogram"]

#: (value, a, b, x0, y0, phi_deg) in units of the phantom radius; modified Shepp–Logan
#: (Toft 1996) with values on a unit scale: the brain region reads 0.2 … 0.3, the skull 1.0.
_SHEPP_LOGAN = [
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.8740, 0.0, -0.0184, 0.0),
    (-0.2, 0.1100, 0.3100, 0.22, 0.0, -18.0),
    (-0.2, 0.1600, 0.4100, -0.22, 0.0, 18.0),
    (0.1, 0.2100, 0.2500, 0.0, 0.35, 0.0),
    (0.1, 0.0460, 0.0460, 0.0, 0.1, 0.0),
    (0.1, 0.0460, 0.0460, 0.0, -0.1, 0.0),
    (0.1, 0.0460, 0.0230, -0.08, -0.605, 0.0),
    (0.1, 0.0230, 0.0230, 0.0, -0.606, 0.0),
    (0.1, 0.0230, 0.0460, 0.06, -0.605, 0.0),
]


class Ellipse(tuple):
    """``(value, a, b, x0, y0, phi_deg)`` in pixels (a tuple, so lists of them are cheap)."""

    __slots__ = ()

    def __new__(cls, value, a, b, x0=0.0, y0=0.0, phi_deg=0.0):
        return super().__new__(cls, (float(value), float(a), float(b), float(x0), float(y0),
                                     float(phi_deg)))


def _scaled(table, radius_px):
    return [Ellipse(v, a * radius_px, b * radius_px, x * radius_px, -y * radius_px, -p)
            for v, a, b, x, y, p in table]


def shepp_logan(radius_px: float) -> list[Ellipse]:
    """Modified Shepp–Logan phantom scaled so its outer ellipse spans ``radius_px``.

    The table's y axis points up; here rows grow downwards, so y and the angles are negated
    (the head's small ellipses sit at the bottom of the array, as in the usual picture).
    """
    return _scaled(_SHEPP_LOGAN, radius_px)


def asymmetric_phantom(radius_px: float) -> list[Ellipse]:
    """A phantom with no mirror symmetry: a disc, an off-centre bar and a small dot.

    Used to pin the orientation: a reconstruction that came out mirrored or rotated would
    put the bar and the dot in the wrong quadrant.
    """
    r = radius_px
    return [Ellipse(0.5, 0.8 * r, 0.8 * r),
            Ellipse(0.5, 0.35 * r, 0.08 * r, 0.3 * r, -0.4 * r, 30.0),   # bar, upper right
            Ellipse(1.0, 0.07 * r, 0.07 * r, -0.45 * r, 0.3 * r)]          # dot, lower left


def rasterise(ellipses, n: int, supersample: int = 4) -> np.ndarray:
    """Pixel-averaged image of the phantom on the ``n × n`` axis-centred grid."""
    ss = supersample
    c = (n - 1) / 2.0
    sub = (np.arange(n * ss) + 0.5) / ss - 0.5 - c
    img = np.zeros((n * ss, n * ss))
    xx, yy = np.meshgrid(sub, sub)
    for v, a, b, x0, y0, phi in ellipses:
        cp, sp = np.cos(np.radians(phi)), np.sin(np.radians(phi))
        dx, dy = xx - x0, yy - y0
        xr = dx * cp + dy * sp
        yr = -dx * sp + dy * cp
        img[(xr / a) ** 2 + (yr / b) ** 2 <= 1.0] += v
    return img.reshape(n, ss, n, ss).mean(axis=(1, 3))


def sinogram(ellipses, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Exact line integrals ``(n_angles, n_u)`` of the phantom at detector coordinates ``u``."""
    theta = np.asarray(theta, dtype=np.float64)[:, None]
    u = np.asarray(u, dtype=np.float64)[None, :]
    out = np.zeros((theta.shape[0], u.shape[1]))
    for v, a, b, x0, y0, phi in ellipses:
        ang = theta + np.radians(phi)
        s2 = (a * np.cos(ang)) ** 2 + (b * np.sin(ang)) ** 2
        t = u - x0 * np.cos(theta) + y0 * np.sin(theta)
        inside = t * t < s2
        out += np.where(inside, 2 * v * a * b * np.sqrt(np.clip(s2 - t * t, 0, None)) / s2, 0)
    return out
