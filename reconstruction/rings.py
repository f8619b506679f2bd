"""Ring-artefact removal on sinograms.

Column-mean stripe filter (Rivers, "Tutorial introduction to X-ray computed microtomography
data processing", 1998; the principle of tomopy's ``remove_stripe_sf``): a defective or
mis-flat-fielded detector column adds the same offset at every angle, so it shows in the
angular mean of the sinogram as a narrow step on a smooth profile. The offset is that mean
minus a smooth estimate of it, subtracted at every angle; structure that varies with angle is
untouched.

The smooth estimate here is robust to the profile's slope: a running median of the profile
itself returns a monotone profile unchanged whenever the slope exceeds the stripe, so the
median is taken of the profile's *first differences* (where a stripe is an isolated +a/−a pair)
and integrated back; what is left at scales wider than the window (integration drift) is
removed by a Gaussian high-pass of the estimated offsets.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from hipct.errors import HipctError

__all__ = ["remove_stripes"]


def remove_stripes(sino: np.ndarray, size: int = 9) -> np.ndarray:
    """Remove column stripes (rings in the slice) from one or more sinograms.

    Parameters
    ----------
    sino : numpy.ndarray
        ``(n_angles, n_cols)`` or ``(n_rows, n_angles, n_cols)``.
    size : int
        Window (columns) of the running median; stripes up to about ``size // 2`` columns wide
        are removed. 0 disables.

    Returns
    -------
    numpy.ndarray
        Corrected sinogram(s), float32.
    """
    if size < 0:
        raise HipctError(f"rings: filter size must be >= 0, got {size}")
    sino = np.asarray(sino, dtype=np.float32)
    if size == 0:
        return sino
    profile = sino.mean(axis=-2, keepdims=True).astype(np.float64)
    steps = np.diff(profile, axis=-1)
    footprint = [1] * sino.ndim
    footprint[-1] = int(size)
    smooth_steps = ndimage.median_filter(steps, size=footprint, mode="nearest")
    smooth = np.concatenate([profile[..., :1], profile[..., :1]
                             + np.cumsum(smooth_steps, axis=-1)], axis=-1)
    offset = profile - smooth
    offset -= ndimage.gaussian_filter1d(offset, float(size), axis=-1, mode="nearest")
    return (sino - offset).astype(np.float32)
