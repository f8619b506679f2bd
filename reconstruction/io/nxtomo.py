"""Writing NXtomo files, streamed frame by frame and moved into place only when complete.

Layout: the NeXus NXtomo application definition at the paths and units ESRF's ``nxtomo``
package (version 2.1 of its layout, recorded in the entry's ``version`` attribute) reads, so
nabu and tomwer open the files without overrides: ``/entry/instrument/detector/data``
(frames, rows, cols) with ``image_key`` and ``image_key_control`` (0 projection, 1 flat,
2 dark), ``x_pixel_size``/``y_pixel_size`` and ``distance`` (sample→detector) in metres,
``x_rotation_axis_pixel_position`` (axis column minus the detector's middle, pixels) and
``half_acquisition``; ``/entry/instrument/source/distance`` (m);
``/entry/instrument/beam/incident_energy`` (keV); angles in ``/entry/sample/rotation_angle``
(degree), the pixel size at the sample in ``/entry/sample/x_pixel_size``/``y_pixel_size`` and
the stage position in ``/entry/sample/{x,y,z}_translation`` (m, one per frame); the ring
current in ``/entry/control/data``. The energy is also written at ``/entry/beam/
incident_energy``, where older readers (and hipct's earlier files) keep it. The detector's
``saturation_value`` attribute (ADU) tells readers which values are clipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["NXtomoWriter"]


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

        self.path = Path(path)
        # one temporary name per process: two writers of one target never share a file
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        key = np.asarray(image_key, dtype=np.int32)
        angles = np.degrees(np.asarray(angles_rad, dtype=np.float64))
        if key.shape != angles.shape:
            raise ValueError("image_key and angles need one entry per frame")
        self.n = key.size
        self.f = h5py.File(self.tmp, "w")
        entry = self.f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["version"] = 2.1           # the nxtomo package's layout version
        entry["definition"] = "NXtomo"
        inst = entry.create_group("instrument")
        inst.attrs["NX_class"] = "NXinstrument"
        det = inst.create_group("detector")
        det.attrs["NX_class"] = "NXdetector"
        self.data = det.create_dataset("data", shape=(self.n, *frame_shape), dtype=dtype,
                                       chunks=(1, *frame_shape))
        det["image_key"] = key
        det["image_key_control"] = key
        md = metadata
        for name, value in (("x_pixel_size", md.get("pixel_size_m")),
                            ("y_pixel_size", md.get("pixel_size_m")),
                            ("distance", md.get("distance_m"))):
            if value is not None:
                det[name] = float(value)
                det[name].attrs["units"] = "m"
        if md.get("saturation") is not None:
            det.attrs["saturation_value"] = float(md["saturation"])
        if md.get("axis_column") is not None:
            det["x_rotation_axis_pixel_position"] = (float(md["axis_column"])
                                                     - (frame_shape[1] - 1) / 2)
        if md.get("half_acquisition") is not None:
            det["half_acquisition"] = bool(md["half_acquisition"])
        if md.get("source_distance_m") is not None:
            src = inst.create_group("source")
            src.attrs["NX_class"] = "NXsource"
            src["distance"] = float(md["source_distance_m"])
            src["distance"].attrs["units"] = "m"
        sample = entry.create_group("sample")
        sample.attrs["NX_class"] = "NXsample"
        sample["rotation_angle"] = angles
        sample["rotation_angle"].attrs["units"] = "degree"
        if md.get("pixel_size_m") is not None:
            for name in ("x_pixel_size", "y_pixel_size"):
                sample[name] = float(md["pixel_size_m"])
                sample[name].attrs["units"] = "m"
        if md.get("position_m") is not None:
            for axis, value in zip("zyx", md["position_m"]):
                sample[f"{axis}_translation"] = np.full(self.n, float(value))
                sample[f"{axis}_translation"].attrs["units"] = "m"
        if md.get("energy_kev") is not None:
            for group in (inst, entry):
                beam = group.create_group("beam")
                beam.attrs["NX_class"] = "NXbeam"
                beam["incident_energy"] = float(md["energy_kev"])
                beam["incident_energy"].attrs["units"] = "keV"
        if md.get("current") is not None:
            ctrl = entry.create_group("control")
            ctrl.attrs["NX_class"] = "NXmonitor"
            ctrl["data"] = np.asarray(md["current"], dtype=np.float64)
            ctrl["data"].attrs["units"] = "mA"
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
