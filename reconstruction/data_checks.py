"""Checks of a scan and of the reconstruction options before hours of work.

:func:`check_scan_data` reads a few frames (projections evenly spread over the scan, every
flat and dark, a band of rows) and refuses data no reconstruction can make sense of: frames
that are all non-finite, projections that are constant, flats that are not brighter than the
darks over most of the detector. It warns (:class:`~hipct.errors.HipctWarning`) on angles
that go backwards or repeat, on saturated flats, and reports the fraction of clipped
(saturated) projection pixels. :func:`check_geometry` bounds the options that fix the size
of the work (axis column, slice width).
"""

from __future__ import annotations

import warnings

import numpy as np

from hipct.errors import DataError, HipctError, HipctWarning

__all__ = ["check_scan_data", "check_angles", "check_geometry", "MAX_WIDTH_FACTOR"]

MAX_WIDTH_FACTOR = 4          # --width at most this many binned detector widths
_SAMPLE_PROJ = 9              # projections read for the checks
_SAMPLE_ROWS = 32             # rows read for the checks (a band around the middle)
_BAD_FRACTION = 0.5           # flat <= dark over more than this fraction: refused
_SAT_WARN = 1e-3              # saturated flat pixels above this fraction: warned


def check_angles(scan) -> None:
    """Warn when a scan's projection angles are not increasing or repeat."""
    theta = np.asarray(scan.theta, dtype=np.float64)
    if theta.size < 2:
        return
    step = np.diff(theta)
    if np.any(step == 0) or np.unique(theta).size < theta.size:
        n = theta.size - np.unique(theta).size
        warnings.warn(f"{scan.path}: {n} projection angle(s) repeat; check the angle record "
                      "(a duplicated frame gives a streak)", HipctWarning, stacklevel=2)
    forward, backward = np.count_nonzero(step > 0), np.count_nonzero(step < 0)
    if forward and backward:
        warnings.warn(f"{scan.path}: the projection angles are not monotonic "
                      f"({min(forward, backward)} of {step.size} steps go the other way); "
                      "check the angle record", HipctWarning, stacklevel=2)


def _finite_mean(frames: np.ndarray) -> np.ndarray:
    """Mean over frames of the finite values of each pixel (NaN where none is finite)."""
    ok = np.isfinite(frames)
    count = ok.sum(axis=0)
    total = np.where(ok, frames, 0.0).sum(axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _band(scan, rows) -> slice:
    r0, r1 = rows
    mid = (r0 + r1) // 2
    half = _SAMPLE_ROWS // 2
    return slice(max(r0, mid - half), min(r1, mid + half))


def check_scan_data(scan, rows, flat_source: str = "file") -> dict:
    """Refuse meaningless data, warn on suspicious data; returns the measured fractions.

    Parameters
    ----------
    scan : :class:`~hipct.reconstruction.io.readers.Scan`
    rows : tuple of int
        Detector rows ``(start, stop)`` that will be reconstructed.
    flat_source : str
        ``'file'`` (the flats are used, so they are checked) or ``'scan'``.

    Returns
    -------
    dict
        ``clipped_fraction`` (projection pixels at or above the saturation value) and
        ``flat_below_dark_fraction``.

    Raises
    ------
    DataError
        Frames all non-finite, constant projections, flat - dark <= 0 over most pixels.
    """
    band = _band(scan, rows)
    idx = np.unique(np.linspace(0, scan.n_proj - 1, min(_SAMPLE_PROJ, scan.n_proj)).astype(int))
    proj = np.concatenate([scan.read("proj", band, slice(int(i), int(i) + 1)) for i in idx])
    finite = np.isfinite(proj)
    if not finite.any():
        raise DataError(f"{scan.path}: the projections are all non-finite (NaN or inf); "
                        "the file holds no data")
    vals = proj[finite]
    if vals.min() == vals.max():
        raise DataError(f"{scan.path}: the projections are constant ({vals.min():g} "
                        "everywhere); the file holds no image")
    dark = None
    if scan.n_darks:
        darks = scan.read("dark", band)
        if not np.isfinite(darks).any():
            raise DataError(f"{scan.path}: the darks are all non-finite (NaN or inf)")
        dark = _finite_mean(darks)
    below = 0.0
    if flat_source == "file" and scan.flat_frames.size:
        flats = scan.read("flat", band)
        if not np.isfinite(flats).any():
            raise DataError(f"{scan.path}: the flats are all non-finite (NaN or inf); "
                            "use --flat-source scan")
        flat = _finite_mean(flats)
        signal = flat - (0.0 if dark is None else dark)
        below = float(np.mean(~(signal > 0)))
        if below > _BAD_FRACTION:
            raise DataError(f"{scan.path}: flat - dark <= 0 over {below:.0%} of the detector "
                            "(flats no brighter than darks: swapped or empty frames?); check "
                            "the image keys or use --flat-source scan")
        if scan.saturation:
            with np.errstate(invalid="ignore"):
                sat = float(np.mean(flats >= scan.saturation))
            if sat > _SAT_WARN:
                warnings.warn(f"{scan.path}: {sat:.2%} of the flat-field pixels are saturated "
                              f"(>= {scan.saturation:g}); the transmission there is wrong",
                              HipctWarning, stacklevel=2)
    with np.errstate(invalid="ignore"):
        clipped = float(np.mean(proj >= scan.saturation)) if scan.saturation else 0.0
    if clipped > 0:
        warnings.warn(f"{scan.path}: {clipped:.2%} of the sampled projection pixels are "
                      f"clipped at the saturation value {scan.saturation:g}", HipctWarning,
                      stacklevel=2)
    check_angles(scan)
    return {"clipped_fraction": clipped, "flat_below_dark_fraction": below}


def check_geometry(params, scans) -> None:
    """Bound the axis columns and the slice width before any work (one line each)."""
    ref = scans[0]
    if params.cor is not None:
        # the second rotation of a quarter acquisition turns about an axis beyond the detector
        # (up to about one detector width away); a single scan's axis lies on the detector
        quarter = len(scans) > 1
        for c, s in zip(params.cor, scans):
            lo, hi = (-s.n_cols - 0.5, 2 * s.n_cols - 0.5) if quarter else (-0.5, s.n_cols - 0.5)
            if not np.isfinite(c) or not lo <= c <= hi:
                allowed = (f"a column from {lo + 0.5:g} to {hi + 0.5:g} (quarter acquisition: "
                           "within a detector width of it)" if quarter
                           else f"a column from 0 to {s.n_cols - 1}")
                raise HipctError(f"--cor: {c!r} is outside the detector; allowed: {allowed} "
                                 "(0-based, unbinned)")
    if params.width is not None:
        limit = MAX_WIDTH_FACTOR * max(1, ref.n_cols // max(1, params.binning))
        if not 1 <= params.width <= limit:
            raise HipctError(f"--width: {params.width} is out of range; allowed: 1 to {limit} "
                             f"pixels ({MAX_WIDTH_FACTOR} binned detector widths)")
    if params.binning > min(ref.n_rows, ref.n_cols):
        raise HipctError(f"--bin: {params.binning} is larger than the {ref.n_rows}×{ref.n_cols} "
                         "detector")
