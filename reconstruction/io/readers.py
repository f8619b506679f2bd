"""Lazy readers of raw tomography scans: NXtomo, APS Data Exchange, TIFF stacks + YAML.

Every reader returns a :class:`Scan`: metadata read once, pixel data read on demand by rows
(``read(kind, rows)``), so a scan of any size is processed in vertical chunks. Angles are
returned in radians; lengths in metres; energy in keV. Metadata a file does not record is
``None`` (the plan or the command line must supply it).

Layouts:

* **NXtomo** (NeXus application definition, the ESRF layout): ``/entry/instrument/detector/data``
  with ``image_key`` 0/1/2 = projection/flat/dark, ``/entry/sample/rotation_angle``,
  ``detector/x_pixel_size``, ``detector/distance``, ``instrument/beam/incident_energy``, optional
  ``/entry/control/data`` (ring current) and ``sample/{x,y,z}_translation``. The metadata are
  read by ESRF's ``nxtomo`` package (units from each field's ``units`` attribute), the frames
  with h5py (see :func:`open_nxtomo`).
* **Data Exchange** (APS): ``/exchange/data``, ``data_white``, ``data_dark``, ``theta`` (degrees).
* **TIFF stack**: a YAML sidecar naming file patterns and the geometry (see
  :func:`open_tiff_stack`).
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hipct.errors import DataError

__all__ = ["Scan", "validate_scan", "open_scan", "open_nxtomo", "open_dxchange", "open_tiff_stack",
           "file_checksum"]


@dataclass
class Scan:
    """A raw scan: metadata plus row-wise access to projections, flats and darks."""

    path: str
    layout: str
    n_rows: int
    n_cols: int
    theta: np.ndarray                        # projections' angles, radians
    flat_angles: np.ndarray                  # radians
    flat_frames: np.ndarray                  # acquisition order of each flat
    n_darks: int
    energy_kev: float | None = None
    distance_m: float | None = None          # sample -> detector
    source_distance_m: float | None = None   # source -> sample
    pixel_size_m: float | None = None        # at the sample
    position_m: tuple | None = None          # (z, y, x) stage position of the axis
    z_translation_m: float | None = None     # sample/z_translation (also alone)
    current_proj: np.ndarray | None = None   # ring current of each projection, mA
    current_flat: np.ndarray | None = None   # of each flat, mA
    saturation: float | None = None
    axis_side: str | None = None             # 'left'/'right' when the file records the axis
    _read: object = field(default=None, repr=False)
    files: list = field(default_factory=list, repr=False)

    @property
    def n_proj(self) -> int:
        return int(self.theta.size)

    def read(self, kind: str, rows: slice, frames: slice | None = None) -> np.ndarray:
        """Frames of ``kind`` ('proj', 'flat' or 'dark') for detector rows ``rows``, float32.

        ``frames`` selects a range of those frames (e.g. a batch of projections).
        """
        try:
            return np.asarray(self._read(kind, rows, frames or slice(None)), dtype=np.float32)
        except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
            raise DataError(f"{self.path}: cannot read {kind} rows {rows.start}:{rows.stop} "
                            f"(truncated or corrupt file?): {exc}") from None


def file_checksum(paths, chunk: int = 1 << 22) -> str:
    """SHA-256 of the input file(s), streamed (recorded in the output's provenance)."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(chunk), b""):
                h.update(block)
    return h.hexdigest()


def _h5open(path):
    import h5py
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file ({exc})") from None


def _dataset(group, name: str, path):
    """``group[name]`` when it is an HDF5 dataset, else a one-line :class:`DataError`."""
    import h5py
    obj = group.get(name)
    if not isinstance(obj, h5py.Dataset):
        what = "missing" if obj is None else "a group, not a dataset"
        raise DataError(f"{path}: {group.name.rstrip('/')}/{name} is {what}")
    if obj.dtype.kind not in "biuf":
        raise DataError(f"{path}: {obj.name} holds {obj.dtype} values, not numbers")
    return obj


def validate_scan(scan: Scan, dtype=None) -> Scan:
    """Refuse a scan no reconstruction can use: fewer than two projections, empty frames,
    non-finite angles, or pixels stored as bool/int8 (not detector counts)."""
    if scan.n_proj < 2:
        raise DataError(f"{scan.path}: {scan.n_proj} projection(s); a scan needs at least two")
    if scan.n_rows < 1 or scan.n_cols < 2:
        raise DataError(f"{scan.path}: frames of {scan.n_rows}×{scan.n_cols} pixels are empty")
    for name, values in (("projection", scan.theta), ("flat", scan.flat_angles)):
        if not np.all(np.isfinite(np.asarray(values, dtype=np.float64))):
            raise DataError(f"{scan.path}: the {name} angles have non-finite values")
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt.kind == "b" or dt == np.int8 or dt.kind not in "iuf":
            raise DataError(f"{scan.path}: pixels are stored as {dt}; expected detector counts "
                            "(uint8/uint16/uint32/int16/int32/float)")
    return scan


def _quantity(ds, unit: str, default_unit: str):
    """Scalar or array value of an HDF5 dataset converted to ``unit`` via its ``units``."""
    from hipct.units import ureg
    value = ds[()]
    src = ds.attrs.get("units", ds.attrs.get("unit", default_unit))
    if isinstance(src, bytes):
        src = src.decode()
    src = {"micron": "um", "microns": "um", "deg": "degree"}.get(str(src), str(src))
    try:
        return (ureg.Quantity(np.asarray(value, dtype=np.float64), src).to(unit)).magnitude
    except Exception:
        raise DataError(f"{ds.file.filename}:{ds.name}: unit {src!r} is not a {unit} unit") from None


def _scalar(group, name, unit, default_unit):
    if group is None or name not in group:
        return None
    v = np.ravel(_quantity(group[name], unit, default_unit))
    v = v[np.isfinite(v)]
    return float(np.mean(v)) if v.size else None


def _find_nx_entry(f):
    import h5py
    for name, obj in f.items():
        inst = obj.get("instrument") if isinstance(obj, h5py.Group) else None
        det = inst.get("detector") if isinstance(inst, h5py.Group) else None
        if isinstance(det, h5py.Group) and "data" in det:
            return obj
    return None


def _nxtomo_entry(path, entry):
    """The metadata of NXtomo ``entry`` as ESRF's ``nxtomo`` package reads them (the paths and
    units of the layout version the file records); frames are left on disk (as a data URL)."""
    import nxtomo
    try:
        return nxtomo.NXtomo().load(str(path), entry.name, detector_data_as="as_data_url")
    except Exception as exc:  # the package raises many classes for fields it cannot parse
        raise DataError(f"{path}: the nxtomo package cannot read {entry.name} "
                        f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None


def _unit_of(ds) -> str:
    unit = ds.attrs.get("units", ds.attrs.get("unit", ""))
    return unit.decode() if isinstance(unit, bytes) else str(unit)


def _magnitudes(value, unit: str):
    """A pint quantity of the ``nxtomo`` package as a float64 array in ``unit`` (``None`` stays
    ``None``)."""
    if value is None:
        return None
    try:
        return np.asarray(value.to(unit).magnitude, dtype=np.float64)
    except Exception as exc:  # pint's DimensionalityError, or a value that is not a number
        raise DataError(f"{value!r} is not a {unit} value ({type(exc).__name__})") from None


def _mean(value, unit: str):
    """The mean of the finite values of a quantity in ``unit``, or ``None``."""
    v = _magnitudes(value, unit)
    if v is None:
        return None
    v = np.ravel(v)
    v = v[np.isfinite(v)]
    return float(np.mean(v)) if v.size else None


def open_nxtomo(path) -> Scan:
    """Open an NXtomo file (the first entry with ``instrument/detector/data``).

    The layout is checked with h5py (frames 3-D, one image key and one angle per frame, so a
    damaged file is refused with a message naming the field); the metadata are then read by
    ESRF's ``nxtomo`` package (:meth:`nxtomo.NXtomo.load`, which follows the layout version
    the file records and converts units). That package loads frames as a whole when asked
    for them, so it is asked only for their location: frames are read from the open HDF5
    dataset a few rows at a time, and a scan larger than memory is never loaded.
    """
    f = _h5open(path)
    entry = _find_nx_entry(f)
    if entry is None:
        raise DataError(f"{path}: no NXtomo entry (expected /ENTRY/instrument/detector/data)")
    det = entry["instrument/detector"]
    data = _dataset(det, "data", path)
    if data.ndim != 3:
        raise DataError(f"{path}: detector/data must be 3-D (frames, rows, cols), got {data.shape}")
    if "image_key" not in det and "image_key_control" not in det:
        raise DataError(f"{path}: detector/image_key is missing (0 projection, 1 flat, 2 dark)")
    n_keys = _dataset(det, "image_key_control" if "image_key_control" in det
                      else "image_key", path).shape[:1]
    if n_keys != data.shape[:1]:
        raise DataError(f"{path}: image_key has {n_keys[0] if n_keys else 0} entries for "
                        f"{data.shape[0]} frames")
    sample = entry.get("sample")
    if sample is None or "rotation_angle" not in sample:
        raise DataError(f"{path}: sample/rotation_angle is missing")
    n_angles = _dataset(sample, "rotation_angle", path).shape[:1]
    if n_angles != data.shape[:1]:
        raise DataError(f"{path}: rotation_angle has {n_angles[0] if n_angles else 0} entries "
                        f"for {data.shape[0]} frames")
    nx = _nxtomo_entry(path, entry)
    nxdet, nxsample = nx.instrument.detector, nx.sample
    key = np.array([int(k.value) for k in nxdet.image_key_control])
    try:
        angles = np.radians(_magnitudes(nxsample.rotation_angle, "degree")).ravel()
    except DataError as exc:
        raise DataError(f"{path}: sample/rotation_angle: {exc}") from None
    proj_idx = np.nonzero(key == 0)[0]
    flat_idx = np.nonzero(key == 1)[0]
    dark_idx = np.nonzero(key == 2)[0]
    if proj_idx.size < 2:
        raise DataError(f"{path}: fewer than two projections (image_key 0)")
    if not np.all(np.isfinite(angles[np.concatenate([proj_idx, flat_idx])])):
        raise DataError(f"{path}: rotation_angle has non-finite values")

    def mean(value, unit, name):
        # the package logs and drops a value whose unit is of the wrong kind: refuse it here
        ds = entry.get(name)
        if value is None and getattr(getattr(ds, "dtype", None), "kind", "-") in "biuf":
            raise DataError(f"{path}: {name} has unit {_unit_of(ds)!r}; expected a {unit} unit")
        try:
            return _mean(value, unit)
        except DataError as exc:
            raise DataError(f"{path}: {name}: {exc}") from None

    current = None
    if nx.control.data is not None:
        current = np.ravel(_magnitudes(nx.control.data, "mA"))
        if current.shape[0] != data.shape[0] or not np.all(np.isfinite(current) & (current > 0)):
            current = None
    translations = {a: mean(getattr(nxsample, f"{a}_translation"), "m", f"sample/{a}_translation")
                    for a in "zyx"}
    position = None
    if all(v is not None for v in translations.values()):
        position = tuple(translations[a] for a in "zyx")
    pixel = (mean(nxsample.x_pixel_size, "m", "sample/x_pixel_size")
             or mean(nxdet.x_pixel_size, "m", "instrument/detector/x_pixel_size"))
    # the axis in pixels from the detector's centre, as nabu reads it; only its side is used,
    # and only when the axis is clearly off-centre (half acquisition)
    axis_side = None
    offset = nxdet.x_rotation_axis_pixel_position
    if offset is not None and np.isfinite(offset) and abs(offset) > data.shape[2] / 4:
        axis_side = "right" if offset > 0 else "left"
    energy = mean(nx.instrument.beam.incident_energy, "keV", "instrument/beam/incident_energy")
    if energy is None:               # under the entry, where layout 1.0 keeps it
        energy = _scalar(entry.get("beam"), "incident_energy", "keV", "keV")
    idx = {"proj": proj_idx, "flat": flat_idx, "dark": dark_idx}

    def read(kind, rows, frames):
        sel = idx[kind][frames]
        if sel.size == 0:
            return np.zeros((0, rows.stop - rows.start, data.shape[2]), np.float32)
        lo, hi = int(sel[0]), int(sel[-1]) + 1
        if hi - lo == sel.size:
            return data[lo:hi, rows, :]
        return data[lo:hi, rows, :][sel - lo]

    return validate_scan(Scan(path=str(path), layout="nxtomo", n_rows=data.shape[1], n_cols=data.shape[2],
                theta=angles[proj_idx], flat_angles=angles[flat_idx], flat_frames=flat_idx,
                n_darks=int(dark_idx.size), energy_kev=energy,
                distance_m=mean(nxdet.distance, "m", "instrument/detector/distance"),
                source_distance_m=mean(nx.instrument.source.distance, "m",
                                       "instrument/source/distance"),
                pixel_size_m=pixel, position_m=position, z_translation_m=translations["z"],
                current_proj=None if current is None else current[proj_idx],
                current_flat=None if current is None else current[flat_idx],
                saturation=float(det.attrs["saturation_value"]) if "saturation_value" in det.attrs
                else None, axis_side=axis_side,
                _read=read, files=[str(path)]), data.dtype)


def open_dxchange(path) -> Scan:
    """Open an APS Data Exchange file (``/exchange/data``, ``data_white``, ``data_dark``)."""
    f = _h5open(path)
    ex = f.get("exchange")
    if ex is None or "data" not in ex:
        raise DataError(f"{path}: /exchange/data is missing (not a Data Exchange file)")
    data = _dataset(ex, "data", path)
    for name in ("data_white", "data_dark", "theta"):
        if name in ex:
            _dataset(ex, name, path)
    if data.ndim != 3:
        raise DataError(f"{path}: /exchange/data must be 3-D, got shape {data.shape}")
    for name in ("data_white", "data_dark"):
        if name in ex and ex[name].shape[1:] != data.shape[1:]:
            raise DataError(f"{path}: /exchange/{name} frames are {ex[name].shape[1:]}, "
                            f"projections are {data.shape[1:]}")
    if "theta" not in ex:
        raise DataError(f"{path}: /exchange/theta (angles in degrees) is missing")
    theta = np.radians(np.asarray(ex["theta"][()], dtype=np.float64)).ravel()
    if theta.shape[0] != data.shape[0]:
        raise DataError(f"{path}: {theta.shape[0]} angles for {data.shape[0]} projections")
    if not np.all(np.isfinite(theta)):
        raise DataError(f"{path}: /exchange/theta has non-finite values")
    n_flat = ex["data_white"].shape[0] if "data_white" in ex else 0
    names = {"proj": "data", "flat": "data_white", "dark": "data_dark"}

    def read(kind, rows, frames):
        if names[kind] not in ex:
            return np.zeros((0, rows.stop - rows.start, data.shape[2]), np.float32)
        return ex[names[kind]][frames, rows, :]

    # Data Exchange does not say when flats were taken: treat them as one group at angle 0
    return validate_scan(Scan(path=str(path), layout="dxchange", n_rows=data.shape[1],
                              n_cols=data.shape[2], theta=theta, flat_angles=np.zeros(n_flat),
                              flat_frames=np.arange(n_flat),
                              n_darks=ex["data_dark"].shape[0] if "data_dark" in ex else 0,
                              _read=read, files=[str(path)]), data.dtype)


def open_tiff_stack(sidecar) -> Scan:
    """Open a TIFF stack described by a YAML sidecar.

    The sidecar (paths relative to it)::

        projections: proj_*.tif      # glob, sorted by name
        flats: flat_*.tif            # optional
        darks: dark_*.tif            # optional
        angles: {start: 0, stop: 360}   # degrees, endpoint excluded; or a list of degrees
        pixel_size: 6.5 um           # optional, at the sample
        distance: 0.5 m              # optional, sample -> detector
        energy: 30 keV               # optional
    """
    import tifffile

    from hipct.fields import check_keys, read_yaml
    from hipct.units import parse_quantity

    sidecar = Path(sidecar)
    spec = read_yaml(sidecar, "tiff sidecar")
    if not isinstance(spec, dict) or "projections" not in spec:
        raise DataError(f"{sidecar}: a TIFF-stack sidecar needs 'projections: PATTERN'")
    allowed = {"projections", "flats", "darks", "angles", "pixel_size", "distance", "energy",
               "source_distance"}
    check_keys(spec, sorted(allowed), f"tiff sidecar {sidecar}", error=DataError)

    def files(key):
        if key not in spec:
            return []
        found = sorted(glob.glob(os.path.join(sidecar.parent, str(spec[key]))))
        if not found:
            raise DataError(f"{sidecar}: {key}: no file matches {spec[key]!r}")
        return found

    lists = {"proj": files("projections"), "flat": files("flats"), "dark": files("darks")}
    n = len(lists["proj"])
    ang = spec.get("angles")
    if isinstance(ang, dict):
        try:
            start, stop = float(ang["start"]), float(ang["stop"])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{sidecar}: angles needs numeric 'start' and 'stop' (degrees)") from None
        if not (np.isfinite(start) and np.isfinite(stop)) or start == stop:
            raise DataError(f"{sidecar}: angles start and stop must be finite and differ, got "
                            f"{start!r}, {stop!r}")
        theta = np.radians(start + (stop - start) * np.arange(n) / n)
    elif isinstance(ang, list):
        try:
            theta = np.radians(np.asarray(ang, dtype=np.float64)).ravel()
        except (TypeError, ValueError):
            raise DataError(f"{sidecar}: angles must be a list of numbers (degrees)") from None
        if theta.size != n:
            raise DataError(f"{sidecar}: {theta.size} angles for {n} projection files")
    else:
        raise DataError(f"{sidecar}: angles must be {{start: DEG, stop: DEG}} or a list of degrees")
    try:
        first = tifffile.memmap(lists["proj"][0], mode="r")
    except Exception:
        try:
            first = tifffile.imread(lists["proj"][0])
        except Exception as exc:
            raise DataError(f"{lists['proj'][0]}: not a readable TIFF ({exc})") from None
    if first.ndim != 2:
        raise DataError(f"{lists['proj'][0]}: expected a 2-D image, got shape {first.shape}")

    def load(p, rows):
        try:
            img = tifffile.memmap(p, mode="r")
        except Exception:
            img = tifffile.imread(p)
        if img.shape != first.shape:
            raise DataError(f"{p}: image shape {img.shape} differs from {first.shape}")
        return img[rows]

    def read(kind, rows, frames):
        fl = lists[kind][frames]
        if not fl:
            return np.zeros((0, rows.stop - rows.start, first.shape[1]), np.float32)
        return np.stack([load(p, rows) for p in fl])

    def q(key, kind):
        return parse_quantity(spec[key], kind, key) if key in spec else None

    pixel = q("pixel_size", "length")
    dist = q("distance", "length")
    src = q("source_distance", "length")
    energy = q("energy", "energy")
    n_flat = len(lists["flat"])
    return validate_scan(Scan(path=str(sidecar), layout="tiff", n_rows=first.shape[0], n_cols=first.shape[1],
                theta=theta, flat_angles=np.zeros(n_flat), flat_frames=np.arange(n_flat),
                n_darks=len(lists["dark"]),
                energy_kev=None if energy is None else float(energy.to("keV").magnitude),
                distance_m=None if dist is None else float(dist.to("m").magnitude),
                source_distance_m=None if src is None else float(src.to("m").magnitude),
                pixel_size_m=None if pixel is None else float(pixel.to("m").magnitude),
                _read=read, files=[str(sidecar)] + sum(lists.values(), [])), first.dtype)


def open_scan(path) -> Scan:
    """Open a scan, choosing the reader from the file: NXtomo, Data Exchange or TIFF+YAML."""
    path = str(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise DataError(f"{path}: not a regular file")
    if path.endswith((".yaml", ".yml")):
        return open_tiff_stack(path)
    from hipct.errors import HipctError
    try:
        f = _h5open(path)
        if "exchange" in f:
            return open_dxchange(path)
        if _find_nx_entry(f) is not None:
            return open_nxtomo(path)
    except HipctError:
        raise
    except Exception as exc:  # damaged metadata: h5py raises many classes
        raise DataError(f"{path}: damaged HDF5 file ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())[:200]})") from None
    raise DataError(f"{path}: neither NXtomo (/ENTRY/instrument/detector/data) nor "
                    "Data Exchange (/exchange/data)")
