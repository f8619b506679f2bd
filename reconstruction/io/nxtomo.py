"""Writing NXtomo files with ESRF's ``nxtomo`` package, frames streamed, moved into place
only when complete.

The metadata are built as an :class:`nxtomo.NXtomo` and saved by the package (its latest
layout, 2.1, recorded in the entry's ``version`` attribute), so nabu (through tomoscan) reads
the files without overrides: ``image_key`` and ``image_key_control`` (0 projection, 1 flat,
2 dark), ``detector/x_pixel_size``, ``y_pixel_size`` and ``distance`` (sample→detector) in metres,
``detector/x_rotation_axis_pixel_position`` (axis column minus the detector's middle, pixels,
as nabu reads it) and ``detector/half_acquisition``; ``instrument/source/distance`` (m);
``instrument/beam/incident_energy`` (keV, linked from ``/entry/beam/incident_energy`` by the
package); ``sample/rotation_angle`` (degree), the pixel size at the sample in
``sample/x_pixel_size``/``y_pixel_size`` and the stage position in
``sample/{x,y,z}_translation`` (m, one per frame); the ring current in ``control/data`` (A).

The package saves frames it holds in memory (or links to datasets in other files), so the frame
dataset ``/entry/instrument/detector/data`` (frames, rows, cols; one chunk per frame) is added
with h5py beside the package's metadata, with the links and attributes the package gives it
(``/entry/data`` NXdata), and filled frame by frame. Two fields the package does not model are
added the same way: the detector's ``saturation_value`` attribute (ADU: values at or above it
are clipped) and ``/entry/hipct`` (NXnote, JSON provenance).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["NXtomoWriter", "nxtomo_metadata", "write_nxtomo"]

_ENTRY = "entry"


def nxtomo_metadata(image_key, angles_rad, n_cols: int, *, pixel_size_m=None, distance_m=None,
                    source_distance_m=None, energy_kev=None, current_ma=None, position_m=None,
                    axis_column=None, half_acquisition=None):
    """The scan's metadata as an :class:`nxtomo.NXtomo` without frames.

    Parameters
    ----------
    image_key : array of int
        Kind of each frame in acquisition order (0 projection, 1 flat, 2 dark).
    angles_rad : array of float
        Rotation angle of each frame, radians.
    n_cols : int
        Detector width in pixels (the axis position is stored from its middle).
    pixel_size_m, distance_m, source_distance_m, energy_kev : float, optional
        Pixel size at the sample, sample→detector and source→sample distances, energy.
    current_ma : array of float, optional
        Ring current of each frame, mA.
    position_m : tuple of float, optional
        Stage position ``(z, y, x)``, written as one translation per frame.
    axis_column : float, optional
        0-based column of the rotation axis.
    half_acquisition : bool, optional

    Returns
    -------
    nxtomo.NXtomo
    """
    import nxtomo
    from pint import get_application_registry

    q = get_application_registry().Quantity      # the registry the package's quantities use
    key = np.asarray(image_key, dtype=np.int32)
    angles = np.degrees(np.asarray(angles_rad, dtype=np.float64))
    if key.ndim != 1 or key.shape != angles.shape:
        raise ValueError("image_key and angles need one entry per frame")
    nx = nxtomo.NXtomo()
    det, sample = nx.instrument.detector, nx.sample
    det.image_key_control = key
    sample.rotation_angle = q(angles, "degree")
    if pixel_size_m is not None:
        for obj in (det, sample):
            obj.x_pixel_size = q(float(pixel_size_m), "m")
            obj.y_pixel_size = q(float(pixel_size_m), "m")
    if distance_m is not None:
        det.distance = q(float(distance_m), "m")
    if source_distance_m is not None:
        nx.instrument.source.distance = q(float(source_distance_m), "m")
    if energy_kev is not None:
        nx.instrument.beam.incident_energy = q(float(energy_kev), "keV")
    if axis_column is not None:
        det.x_rotation_axis_pixel_position = float(axis_column) - (int(n_cols) - 1) / 2
    if half_acquisition is not None:
        det.half_acquisition = bool(half_acquisition)
    if position_m is not None:
        z, y, x = (np.full(key.size, float(v)) for v in position_m)
        sample.z_translation, sample.y_translation, sample.x_translation = (
            q(z, "m"), q(y, "m"), q(x, "m"))
    if current_ma is not None:
        nx.control.data = q(np.asarray(current_ma, dtype=np.float64), "mA")
    return nx


class NXtomoWriter:
    """Pre-allocates an NXtomo file for a known frame sequence and fills it in any order.

    The file is written as ``.NAME.PID.tmp`` beside the target and renamed by :meth:`close`; on an
    exception inside a ``with`` block the temporary file is removed, so the target is either
    the previous file or the complete new one.

    Parameters
    ----------
    path : path-like
    image_key : array of int
        Kind of each frame, in acquisition order.
    angles_rad : array of float
        Rotation angle of each frame.
    frame_shape : tuple
        ``(rows, cols)``.
    dtype : numpy dtype
        Pixel type (``uint16`` for counts, ``float32`` for noise-free simulations).
    metadata : dict
        Optional ``pixel_size_m``, ``distance_m``, ``source_distance_m``, ``energy_kev``,
        ``current`` (per frame, mA), ``position_m`` (z, y, x), ``saturation`` (ADU),
        ``axis_column`` (0-based column of the rotation axis, when known),
        ``half_acquisition`` (bool), ``provenance`` (JSON-serialisable, in ``/entry/hipct``).
    """

    def __init__(self, path, image_key, angles_rad, frame_shape, dtype, **metadata):
        import h5py

        md = dict(metadata)
        unknown = set(md) - {"pixel_size_m", "distance_m", "source_distance_m", "energy_kev",
                             "current", "position_m", "saturation", "axis_column",
                             "half_acquisition", "provenance"}
        if unknown:
            raise TypeError(f"NXtomoWriter: unknown metadata {sorted(unknown)}")
        self.path = Path(path)
        # one temporary name per process: two writers of one target never share a file
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        nx = nxtomo_metadata(image_key, angles_rad, frame_shape[1],
                             pixel_size_m=md.get("pixel_size_m"),
                             distance_m=md.get("distance_m"),
                             source_distance_m=md.get("source_distance_m"),
                             energy_kev=md.get("energy_kev"), current_ma=md.get("current"),
                             position_m=md.get("position_m"),
                             axis_column=md.get("axis_column"),
                             half_acquisition=md.get("half_acquisition"))
        self.n = int(np.size(image_key))
        self.tmp.unlink(missing_ok=True)
        try:
            nx.save(str(self.tmp), _ENTRY)
            self.f = h5py.File(self.tmp, "a")
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        try:
            self._add_frames(tuple(int(s) for s in frame_shape), dtype, md)
        except BaseException:
            self.abort()
            raise

    def _add_frames(self, frame_shape, dtype, md):
        """The frame dataset and the fields the package does not model (see the module doc)."""
        import h5py

        entry = self.f[_ENTRY]
        det = entry["instrument/detector"]
        det.attrs["NX_class"] = "NXdetector"
        self.data = det.create_dataset("data", shape=(self.n, *frame_shape), dtype=dtype,
                                       chunks=(1, *frame_shape))
        self.data.attrs["interpretation"] = "image"
        target = self.data.name
        self.data.attrs["target"] = target
        nxdata = entry.require_group("data")
        nxdata.attrs["NX_class"] = "NXdata"
        nxdata.attrs["signal"] = "data"
        nxdata["data"] = h5py.SoftLink(target)
        entry.attrs["default"] = "data"
        if md.get("saturation") is not None:
            det.attrs["saturation_value"] = float(md["saturation"])
        if md.get("provenance") is not None:
            note = entry.create_group("hipct")
            note.attrs["NX_class"] = "NXnote"
            note["data"] = json.dumps(md["provenance"], default=str)
            note["type"] = "application/json"

    def write(self, start: int, frames) -> None:
        """Store ``frames`` (k, rows, cols) at frame indices ``start:start + k``."""
        frames = np.asarray(frames)
        self.data[start:start + frames.shape[0]] = frames

    def close(self) -> None:
        """Close the file and move it into place."""
        self.f.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Close and delete the temporary file (the target is left untouched)."""
        try:
            self.f.close()
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def write_nxtomo(path, projections, theta_rad, *, flats=None, darks=None, flat_angles_rad=None,
                 pixel_size_m=None, distance_m=None, energy_kev=None, source_distance_m=None,
                 current=None, position_m=None) -> None:
    """Write a scan held in memory as an NXtomo file: darks, flats (first half), projections,
    flats (rest).

    Written to a temporary file and renamed (:class:`NXtomoWriter`), so a reader never sees a
    half-written file.

    Parameters
    ----------
    path : path-like
    projections : array (n_proj, rows, cols)
    theta_rad : array of float
        Angle of each projection.
    flats, darks : array (n, rows, cols), optional
    flat_angles_rad : array of float, optional
        Angle of each flat (default: the first half at the first projection's angle, the rest
        at the last one's).
    pixel_size_m, distance_m, energy_kev, source_distance_m : float, optional
    current : array of float, optional
        Ring current of each frame in the written order, mA.
    position_m : tuple of float, optional
        Stage position ``(z, y, x)``.
    """
    projections = np.asarray(projections)
    flats = np.zeros((0,) + projections.shape[1:], projections.dtype) if flats is None else flats
    darks = np.zeros((0,) + projections.shape[1:], projections.dtype) if darks is None else darks
    n_f1 = flats.shape[0] // 2
    theta = np.asarray(theta_rad, dtype=np.float64)
    if flat_angles_rad is None:
        fa = np.concatenate([np.full(n_f1, theta[0]), np.full(flats.shape[0] - n_f1, theta[-1])])
    else:
        fa = np.asarray(flat_angles_rad, dtype=np.float64)
    frames = np.concatenate([darks, flats[:n_f1], projections, flats[n_f1:]])
    key = np.concatenate([np.full(darks.shape[0], 2), np.full(n_f1, 1),
                          np.zeros(projections.shape[0]), np.full(flats.shape[0] - n_f1, 1)])
    angles = np.concatenate([np.full(darks.shape[0], theta[0]), fa[:n_f1], theta, fa[n_f1:]])
    with NXtomoWriter(path, key, angles, frames.shape[1:], frames.dtype,
                      pixel_size_m=pixel_size_m, distance_m=distance_m, energy_kev=energy_kev,
                      source_distance_m=source_distance_m, current=current,
                      position_m=position_m) as w:
        w.write(0, frames)
