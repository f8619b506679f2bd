"""Dark and flat-field correction: raw counts to transmission ``I/I0``.

``T = (I - D) / (F(theta) - D)`` per pixel, with ``D`` the mean dark and ``F(theta)`` the flat
for the projection's angle: flats taken in groups (before/after a scan, or in angular sections
for local-tomography zooms) are each averaged (median, robust to zingers) and
interpolated linearly between the two groups nearest in angle. When the ring current was
recorded, each frame is first divided by its current so a decaying beam is not read as
absorption. Without flats, :func:`synthetic_flat` builds one from the scan itself.

Unsafe pixels never pass silently: a non-positive flat−dark, a non-positive or non-finite
sample signal and saturated raw counts are counted, clipped and reported in one warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from hipct.errors import DataError, HipctWarning

__all__ = ["FlatGroups", "group_flats", "flat_for_angles", "normalise", "synthetic_flat"]

_FLOOR = 1e-6  # transmission floor: -ln(1e-6) = 13.8, far above any real tissue path


@dataclass
class FlatGroups:
    """Averaged flats ``(n_groups, rows, cols)`` and the angle (radians) of each group."""

    images: np.ndarray
    angles: np.ndarray


def group_flats(flats: np.ndarray, frame_index: np.ndarray, angles: np.ndarray,
                current: np.ndarray | None = None) -> FlatGroups:
    """Average flats acquired in contiguous runs of frames into groups.

    Parameters
    ----------
    flats : numpy.ndarray
        ``(n_flats, rows, cols)`` dark-subtracted flats.
    frame_index : numpy.ndarray
        Position of each flat in the acquisition sequence (runs of consecutive indices form
        a group).
    angles : numpy.ndarray
        Rotation angle (radians) recorded with each flat.
    current : numpy.ndarray, optional
        Ring current of each flat; flats are normalised by it first.
    """
    if flats.shape[0] == 0:
        raise DataError("flats: the scan has no flat fields (image_key 1); "
                        "give --flat-source scan to synthesise them from the projections")
    data = np.asarray(flats, dtype=np.float32)
    if current is not None:
        data = data / np.asarray(current, np.float32)[:, None, None]
    breaks = np.nonzero(np.diff(frame_index) > 1)[0] + 1
    groups = np.split(np.arange(flats.shape[0]), breaks)
    images = np.stack([np.median(data[g], axis=0) for g in groups])
    ang = np.array([float(np.mean(angles[g])) for g in groups])
    return FlatGroups(images, ang)


def flat_for_angles(groups: FlatGroups, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    """For each angle, the two bracketing flat groups and the weight of the second.

    Returns ``(i0, i1, w)`` so the flat is ``(1 - w) * images[i0] + w * images[i1]``.
    Angles outside the flats' range take the nearest group.
    """
    order = np.argsort(groups.angles)
    ang = groups.angles[order]
    theta = np.asarray(theta, dtype=np.float64)
    if ang.size == 1:
        z = np.zeros(theta.size, dtype=int)
        return order[z], order[z], np.zeros(theta.size)
    j = np.clip(np.searchsorted(ang, theta) - 1, 0, ang.size - 2)
    span = ang[j + 1] - ang[j]
    w = np.clip((theta - ang[j]) / np.where(span > 0, span, 1), 0, 1)
    return order[j], order[j + 1], w


def normalise(proj: np.ndarray, dark: np.ndarray, groups: FlatGroups, theta: np.ndarray,
              current: np.ndarray | None = None, saturation: float | None = None,
              where: str = "") -> np.ndarray:
    """Transmission ``(I - D) / (F(theta) - D)`` of a chunk of projections.

    Parameters
    ----------
    proj : numpy.ndarray
        ``(n_proj, rows, cols)`` raw projections.
    dark : numpy.ndarray
        ``(rows, cols)`` mean dark.
    groups : FlatGroups
        Dark-subtracted, averaged flats (rows matching ``proj``).
    theta : numpy.ndarray
        Angle of each projection (radians).
    current : numpy.ndarray, optional
        Ring current of each projection (same unit as used in :func:`group_flats`).
    saturation : float, optional
        Raw value at which the camera saturates; such pixels are counted and reported.
    where : str
        Text naming the chunk in the warning.

    Returns
    -------
    numpy.ndarray
        float32 transmission, clipped to ``[1e-6, inf)``, non-finite values set to 1.
    """
    raw = np.asarray(proj, dtype=np.float32)
    n_sat = int(np.count_nonzero(raw >= saturation)) if saturation else 0
    signal = raw - dark
    if current is not None:
        signal /= np.asarray(current, np.float32)[:, None, None]
    i0, i1, w = flat_for_angles(groups, theta)
    w = w.astype(np.float32)[:, None, None]
    with np.errstate(invalid="ignore"):          # an infinite flat pixel: counted below
        flat = groups.images[i0] * (1 - w) + groups.images[i1] * w
    bad_flat = ~(flat > 0)
    n_bad_flat = int(np.count_nonzero(bad_flat))
    flat[bad_flat] = 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        t = signal / flat
    t[bad_flat] = 1.0
    nonfinite = ~np.isfinite(t)
    n_nan = int(np.count_nonzero(nonfinite))
    t[nonfinite] = 1.0
    low = t < _FLOOR
    n_low = int(np.count_nonzero(low))
    t[low] = _FLOOR
    parts = []
    total = t.size
    if n_bad_flat:
        parts.append(f"{n_bad_flat} pixels with flat <= dark set to transmission 1")
    if n_nan:
        parts.append(f"{n_nan} non-finite values set to 1")
    if n_low:
        parts.append(f"{n_low} pixels at or below the dark clipped to {_FLOOR:g}")
    if n_sat:
        parts.append(f"{n_sat} saturated raw pixels (>= {saturation:g})")
    if parts:
        warnings.warn(f"flat-field{(' ' + where) if where else ''}: " + "; ".join(parts)
                      + f" (of {total} values)", HipctWarning, stacklevel=2)
    return t


def synthetic_flat(proj: np.ndarray, sigma_px: float = 0.0) -> np.ndarray:
    """A flat synthesised from the scan itself: the per-pixel median over all projections.

    For local-tomography zooms without a usable reference, the median over angles removes
    what does not rotate with the sample (beam profile, scintillator defects, the jar's mean
    absorption). Optionally smoothed by a Gaussian of ``sigma_px`` along the detector rows.
    """
    from scipy import ndimage

    flat = np.median(np.asarray(proj, dtype=np.float32), axis=0)
    if sigma_px > 0:
        flat = ndimage.gaussian_filter(flat, sigma_px, mode="nearest")
    return flat
