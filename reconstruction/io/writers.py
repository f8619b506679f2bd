"""Volume writers for the registration chain: OME-Zarr (+ NIfTI-Zarr header), TIFF, HDF5.

All writers stage their output in a hidden sibling ``.NAME.partial/`` and move it into place
only when everything (data, pyramid, metadata) is written, so ``NAME`` never exists half
written. One run at a time holds ``NAME`` (a lock beside it); a journal in the staging folder
records which slabs of slices are complete and the run's key (inputs' checksums, format,
shape, data type, every parameter); ``resume=True`` continues an interrupted run from it,
refuses when the key differs (naming what changed) and does nothing when ``NAME`` is already
complete with that key. Only an output carrying hipct's marker is ever replaced, and the old
one is removed only once the new one is in place (:mod:`.output_guard`).

OME-Zarr layout (NGFF 0.4 on Zarr v2 by default, 0.5 on Zarr v3 on request): arrays ``0``,
``1``, … of a 2×2×2 mean pyramid, axes ``z, y, x`` in micrometres, each level's
``coordinateTransformations`` a ``scale`` then a ``translation`` (physical position of the
centre of voxel ``[0, 0, 0]``: for level ``l`` it moves by ``(2^l - 1)/2`` level-0 voxels).
The metadata are built with the ``ome-zarr-models`` package's models, which validate them.
A 1-D ``uint8`` array ``nifti`` holds a NIfTI-1 header (qform and sform both set, units
micrometre) so NIfTI-Zarr readers and MRI tools see the same geometry.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np

from hipct.errors import DataError, HipctError

from .output_guard import (OutputLock, check_output_path, key_differences, lock_path, read_marker,
                           recover, swap_into_place, write_marker)

__all__ = ["FORMATS", "open_writer", "check_free_space", "to_uint16", "uint16_window",
           "nifti_header", "ome_multiscales", "ome_image_attrs", "pyramid_tile_rows",
           "PYRAMID_BYTES_PER_VOXEL", "UINT16_PIECE_VOXELS"]

FORMATS = ("ome-zarr", "ome-zarr-v3", "tiff", "hdf5")
_JOURNAL = "hipct-progress.json"


def uint16_window(block: np.ndarray) -> tuple[float, float]:
    """The 0.1th to 99.9th percentile of the finite values: the range a uint16 volume keeps
    (one unit wide when the block is constant)."""
    vals = np.asarray(block)[np.isfinite(block)]       # a copy: partitioned in place below
    window = (float(np.percentile(vals, 0.1, overwrite_input=True)),
              float(np.percentile(vals, 99.9, overwrite_input=True)))
    return window if window[1] > window[0] else (window[0], window[0] + 1.0)


#: bytes per output voxel of one pyramid level while it is made: the 8 source voxels as read
#: (up to 8 B each) and in float64 (64 B), the float64 mean, its rounding and the cast
PYRAMID_BYTES_PER_VOXEL = 8 * 8 + 8 * 8 + 8 + 8 + 8


def pyramid_tile_rows(budget_bytes: float, z_rows: int, nx_out: int, itemsize: int,
                      multiple: int = 1) -> int:
    """Output rows (y) per tile of a pyramid level ``z_rows`` slices high and ``nx_out``
    wide that keep its working set (:data:`PYRAMID_BYTES_PER_VOXEL`, the cast included)
    under ``budget_bytes``; a multiple of ``multiple`` (the chunk width) when that fits."""
    per_row = float(z_rows) * nx_out * (PYRAMID_BYTES_PER_VOXEL + itemsize)
    rows = max(1, int(budget_bytes // per_row))
    return rows - rows % multiple if rows >= multiple else rows


UINT16_PIECE_VOXELS = 1 << 20   # voxels converted at a time: the float64 temporaries stay small


def to_uint16(block: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Map ``[lo, hi]`` linearly onto 0..65535 (clipped, rounded).

    Converted in pieces of ``2**20`` voxels, so the float64 arithmetic needs about 24 MB
    whatever the block's size.
    """
    lo, hi = window
    src = np.asarray(block)
    out = np.empty(src.shape, np.uint16)
    flat_in, flat_out = src.reshape(-1), out.reshape(-1)
    for i in range(0, flat_in.size, UINT16_PIECE_VOXELS):
        scaled = (np.asarray(flat_in[i:i + UINT16_PIECE_VOXELS], np.float64) - lo) / (hi - lo)
        flat_out[i:i + UINT16_PIECE_VOXELS] = np.round(np.clip(scaled, 0, 1) * 65535)
    return out


def _ome_models(version: str):
    """The ``ome-zarr-models`` classes of OME-Zarr ``version`` ('0.4' or '0.5')."""
    from types import SimpleNamespace
    if version == "0.4":
        from ome_zarr_models.v04.axes import Axis
        from ome_zarr_models.v04.image import ImageAttrs
        from ome_zarr_models.v04.multiscales import Dataset, Multiscale
    elif version == "0.5":
        from ome_zarr_models.v05.axes import Axis
        from ome_zarr_models.v05.image import ImageAttrs
        from ome_zarr_models.v05.multiscales import Dataset, Multiscale
    else:
        raise ValueError(f"OME-Zarr version must be '0.4' or '0.5', not {version!r}")
    return SimpleNamespace(Axis=Axis, Dataset=Dataset, Multiscale=Multiscale,
                           ImageAttrs=ImageAttrs)


def _multiscale(n_levels: int, voxel_um: float, origin_um, name: str, version: str):
    models = _ome_models(version)
    datasets = []
    for level in range(n_levels):
        f = 2 ** level
        shift = (f - 1) / 2 * voxel_um
        datasets.append(models.Dataset.build(path=str(level), scale=[voxel_um * f] * 3,
                                             translation=[float(o) + shift for o in origin_um]))
    return models.Multiscale(
        axes=[models.Axis(name=a, type="space", unit="micrometer") for a in "zyx"],
        datasets=datasets, name=name, type="mean", metadata={"method": "2x2x2 mean (hipct)"},
        **({"version": "0.4"} if version == "0.4" else {}))


def ome_multiscales(n_levels: int, voxel_um: float, origin_um, name: str, version: str) -> dict:
    """The ``multiscales`` entry, built and validated with the ``ome-zarr-models`` package.

    Axes ``z, y, x`` (space, micrometre); level ``l`` (array ``"l"``) a ``scale`` of
    ``voxel_um·2^l`` on each axis then a ``translation`` to the centre of its voxel
    ``[0, 0, 0]``: ``origin_um + (2^l - 1)/2·voxel_um`` (the centre of a 2×2×2 mean).

    Parameters
    ----------
    n_levels : int
        Number of pyramid levels (level 0 is full resolution).
    voxel_um : float
        Level-0 voxel size, µm.
    origin_um : sequence of float
        Position ``(z, y, x)`` of the centre of level 0's voxel ``[0, 0, 0]``, µm.
    name : str
    version : {"0.4", "0.5"}
        OME-Zarr version (0.4 records it in the entry, 0.5 beside ``multiscales``).

    Returns
    -------
    dict
        The JSON form of :class:`ome_zarr_models.v04.multiscales.Multiscale` (or ``v05``).
    """
    return _multiscale(n_levels, voxel_um, origin_um, name, version).model_dump(
        mode="json", exclude_none=True)


def ome_image_attrs(n_levels: int, voxel_um: float, origin_um, name: str, version: str) -> dict:
    """The OME-Zarr attributes of the image group (:class:`ome_zarr_models.v04.image.ImageAttrs`
    for 0.4, under ``"ome"`` with ``ome_zarr_models.v05.image.ImageAttrs`` for 0.5); the
    parameters are those of :func:`ome_multiscales`."""
    models = _ome_models(version)
    ms = _multiscale(n_levels, voxel_um, origin_um, name, version)
    if version == "0.4":
        return models.ImageAttrs(multiscales=[ms]).model_dump(mode="json", exclude_none=True)
    return {"ome": models.ImageAttrs(version="0.5", multiscales=[ms]).model_dump(
        mode="json", exclude_none=True)}


def nifti_header(shape_zyx, voxel_um: float, origin_um, dtype) -> tuple[bytes, dict]:
    """NIfTI-1 header bytes (and the JSON form NIfTI-Zarr stores beside it).

    NIfTI's ``i, j, k`` run along the array's last, middle and first axes (x, y, z); the
    affine maps them to micrometres with the OME-Zarr translation, for both qform and sform.
    """
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(tuple(int(s) for s in shape_zyx[::-1]))
    hdr.set_data_dtype(np.dtype(dtype))
    oz, oy, ox = (float(o) for o in origin_um)
    affine = np.array([[voxel_um, 0, 0, ox], [0, voxel_um, 0, oy], [0, 0, voxel_um, oz],
                       [0, 0, 0, 1.0]])
    hdr.set_xyzt_units(xyz="micron", t="sec")
    hdr.set_qform(affine, code="aligned")
    hdr.set_sform(affine, code="aligned")
    hdr.set_zooms((voxel_um,) * 3)
    hdr["magic"] = b"n+1"
    meta = {"NIIFormat": "n+1", "Dim": [int(s) for s in shape_zyx[::-1]],
            "VoxelSize": [voxel_um] * 3, "Unit": {"L": "micron", "T": "sec"},
            "DataType": str(np.dtype(dtype)), "QForm": "aligned_anat", "SForm": "aligned_anat",
            "Affine": affine[:3].tolist()}
    return hdr.binaryblock, meta


def _fault(exc: OSError, what: str) -> HipctError:
    """A file-system error while writing as a one-line :class:`DataError` saying what to do."""
    where = exc.filename or what
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DataError(f"output: disk full while writing {where}; free space, then rerun "
                         "the same command with --resume")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return DataError(f"output: cannot write {where} ({exc.strerror}); choose a writable "
                         "--output folder")
    return DataError(f"output: cannot write {where} ({exc.strerror or exc}); fix it, then "
                     "rerun with --resume")


class _Staged:
    """Shared staging, lock, journal and final swap (see :mod:`.output_guard`)."""

    payload_name = "payload"
    format_name = ""

    def __init__(self, out: Path, shape, dtype, attrs: dict, resume: bool, overwrite: bool):
        info = attrs.get("hipct", {})
        inputs = info.get("inputs") or []
        self.out = check_output_path(out, [i.get("path") for i in inputs if i.get("path")])
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.attrs = attrs
        self.staging = self.out.parent / f".{self.out.name}.partial"
        self.payload = self.staging / self.payload_name
        self.key = {"format": self.format_name, "shape": list(self.shape),
                    "dtype": str(self.dtype),
                    "inputs": [{"sha256": i.get("sha256")} for i in inputs],
                    "parameters": json.loads(json.dumps(info.get("parameters", {}),
                                                        default=str))}
        self.done: list = []
        self.complete = False
        self.lock = OutputLock(self.out)
        try:
            self.lock.acquire()
        except OSError as exc:
            raise _fault(exc, str(lock_path(self.out))) from None
        try:
            self._prepare(resume, overwrite)
        except OSError as exc:
            self.lock.release()
            raise _fault(exc, str(self.staging)) from None
        except BaseException:
            self.lock.release()
            raise

    def _read_journal(self, resume: bool):
        journal = self.staging / _JOURNAL
        if not journal.is_file():
            return None
        try:
            state = json.loads(journal.read_text(encoding="utf-8"))
            if not isinstance(state, dict) or not isinstance(state.get("done"), list):
                raise ValueError("not a journal")
            state["done"] = [(int(a), int(b)) for a, b in state["done"]]
        except (ValueError, TypeError, UnicodeDecodeError):
            if not resume:
                return None
            raise DataError(f"--resume: the journal {journal} is damaged; rerun without "
                            "--resume to start again") from None
        return state

    def _prepare(self, resume: bool, overwrite: bool):
        recover(self.out)
        state = self._read_journal(resume)
        exists = self.out.exists() or self.out.is_symlink()
        marker = read_marker(self.out) if exists else None
        if state is not None and state.get("finalising") and marker == state.get("key"):
            shutil.rmtree(self.staging, ignore_errors=True)    # the swap had completed
            state = None
        if exists:
            if resume and marker == self.key:
                self.complete = True
                shutil.rmtree(self.staging, ignore_errors=True)
                return
            if not overwrite:
                if resume and marker is not None:
                    raise HipctError(f"--resume: {self.out} is complete but was made with "
                                     f"other {key_differences(marker, self.key)}; give "
                                     "--overwrite to replace it")
                raise HipctError(f"output: {self.out} exists; remove it or give --overwrite")
            if marker is None:
                raise HipctError(f"--overwrite: {self.out} was not written by hipct (it has "
                                 "no hipct marker); refusing to replace it: remove it "
                                 "yourself or choose another --output")
        if resume and state is not None:
            if state.get("key") != self.key:
                raise HipctError(f"--resume: the interrupted run in {self.staging} differs in "
                                 f"{key_differences(state.get('key') or {}, self.key)}; rerun "
                                 "without --resume to start again")
            self.done = list(state["done"])
            try:
                self._open_existing()
            except HipctError:
                raise
            except Exception as exc:  # zarr/h5py raise many classes for a damaged store
                raise DataError(f"--resume: the staged data in {self.payload} is damaged "
                                f"({type(exc).__name__}); rerun without --resume") from None
        else:
            if self.staging.exists():
                shutil.rmtree(self.staging)
            self.staging.mkdir(parents=True)
            self._create()

    def is_done(self, z0, z1) -> bool:
        return self.complete or (z0, z1) in self.done

    def _journal(self, finalising: bool = False):
        tmp = self.staging / (_JOURNAL + ".tmp")
        tmp.write_text(json.dumps({"key": self.key, "done": [list(d) for d in self.done],
                                   "finalising": finalising}), encoding="utf-8")
        os.replace(tmp, self.staging / _JOURNAL)

    def write(self, z0: int, block: np.ndarray):
        """Write slices ``z0 : z0 + len(block)`` and record them as done."""
        try:
            self._write(z0, np.asarray(block, dtype=self.dtype))
        except OSError as exc:
            raise _fault(exc, str(self.payload)) from None
        self.mark_done(z0, z0 + block.shape[0])

    def mark_done(self, z0: int, z1: int):
        """Record slices ``z0:z1`` as written (by this process or by a :meth:`region_writer`)."""
        self.done.append((z0, z1))
        try:
            self._journal()
        except OSError as exc:
            raise _fault(exc, str(self.staging / _JOURNAL)) from None

    def region_writer(self):
        """A picklable ``(z0, block) -> None`` that another process may call to write a slab
        into the staging area in parallel with others (disjoint slabs), or ``None`` when the
        format cannot take parallel writers (then the caller writes with :meth:`write`)."""
        return None

    def _mark(self):
        write_marker(self.payload, self.key)

    def finalise(self, _step=None):
        """Finish (pyramid, metadata) and move the result into place.

        The old output is removed only once the new one is at its place; nothing to do when
        the output was already complete. ``_step`` lets tests interrupt the swap.
        """
        if not self.complete:
            try:
                self._finish()
                self._mark()
                self._journal(finalising=True)
                swap_into_place(self.payload, self.out, _step=_step)
                shutil.rmtree(self.staging, ignore_errors=True)
            except OSError as exc:
                raise _fault(exc, str(self.out)) from None
        self.lock.release()

    def abandon(self):
        """Release the lock without finishing (the staging area stays for --resume)."""
        self.lock.release()


class OmeZarrWriter(_Staged):
    """OME-Zarr multiscale image with a NIfTI-Zarr ``nifti`` header array."""

    def __init__(self, out, shape, dtype, attrs, resume, overwrite, *, voxel_um, origin_um,
                 zarr_version=2, chunk=128, chunk_z=None, memory_bytes=None):
        self.zarr_version = zarr_version
        self.memory_bytes = memory_bytes    # bounds the pyramid's tiles (None: whole slabs)
        self.format_name = "ome-zarr" if zarr_version == 2 else "ome-zarr-v3"
        self.chunks = tuple(min(c, s) for c, s in zip((chunk_z or chunk, chunk, chunk), shape))
        self.voxel_um = float(voxel_um)
        self.origin_um = tuple(float(o) for o in origin_um)
        super().__init__(out, shape, dtype, attrs, resume, overwrite)

    def _compressor(self):
        if self.zarr_version == 2:
            import numcodecs
            return {"compressors": numcodecs.Blosc(cname="zstd", clevel=3,
                                                   shuffle=numcodecs.Blosc.BITSHUFFLE),
                    "chunk_key_encoding": {"name": "v2", "separator": "/"}}
        from zarr.codecs import BloscCodec
        return {"compressors": BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"),
                "dimension_names": ["z", "y", "x"]}

    def _create(self):
        import zarr
        self.group = zarr.open_group(str(self.payload), mode="w", zarr_format=self.zarr_version)
        self.level0 = self.group.create_array("0", shape=self.shape, chunks=self.chunks,
                                              dtype=self.dtype, fill_value=0,
                                              **self._compressor())

    def _open_existing(self):
        import zarr
        self.group = zarr.open_group(str(self.payload), mode="r+")
        self.level0 = self.group["0"]

    def _write(self, z0, block):
        self.level0[z0:z0 + block.shape[0]] = block

    def region_writer(self):
        # slabs are whole multiples of the chunk height, so writers never share a chunk
        return ZarrRegion(str(self.payload / "0"), str(self.dtype))

    def _finish(self):
        prev = self.level0
        level = 0
        while min(prev.shape) >= 2 * 32 and level < 8:
            level += 1
            shape = tuple(s // 2 for s in prev.shape)
            arr = self.group.create_array(str(level), shape=shape,
                                          chunks=tuple(min(c, s) for c, s in zip(self.chunks, shape)),
                                          dtype=self.dtype, fill_value=0, overwrite=True,
                                          **self._compressor())
            step = self.chunks[0]
            tile = shape[1]
            if self.memory_bytes is not None:
                tile = min(shape[1], pyramid_tile_rows(self.memory_bytes, min(step, shape[0]),
                                                       shape[2], self.dtype.itemsize,
                                                       arr.chunks[1]))
            for z in range(0, shape[0], step):
                z1 = min(z + step, shape[0])
                for y in range(0, shape[1], tile):      # the mean of 2×2×2 blocks is local
                    y1 = min(y + tile, shape[1])
                    src = np.asarray(prev[2 * z:2 * z1, 2 * y:2 * y1, :2 * shape[2]], np.float64)
                    mean = src.reshape(z1 - z, 2, y1 - y, 2, shape[2], 2).mean(axis=(1, 3, 5))
                    del src
                    if np.issubdtype(self.dtype, np.integer):
                        mean = np.round(mean)
                    arr[z:z1, y:y1] = mean.astype(self.dtype)
                    del mean
            prev = arr
        version = "0.4" if self.zarr_version == 2 else "0.5"
        attrs = dict(self.attrs)
        attrs.update(ome_image_attrs(level + 1, self.voxel_um, self.origin_um, self.out.name,
                                     version))
        self.group.attrs.update(attrs)
        header, meta = nifti_header(self.shape, self.voxel_um, self.origin_um, self.dtype)
        kw = {} if self.zarr_version == 3 else {
            "chunk_key_encoding": {"name": "v2", "separator": "/"}}
        nii = self.group.create_array("nifti", shape=(len(header),), chunks=(len(header),),
                                      dtype="uint8", compressors=None, overwrite=True, **kw)
        nii[:] = np.frombuffer(header, dtype=np.uint8)
        nii.attrs.update(meta)


class TiffWriter(_Staged):
    """One TIFF per slice (``slice_00000.tif``…) plus ``hipct.json`` with the metadata."""

    format_name = "tiff"

    def __init__(self, out, shape, dtype, attrs, resume, overwrite, *, voxel_um, origin_um):
        self.voxel_um = voxel_um
        self.origin_um = origin_um
        super().__init__(out, shape, dtype, attrs, resume, overwrite)

    def _create(self):
        self.payload.mkdir()

    def _open_existing(self):
        pass

    def _write(self, z0, block):
        TiffRegion(str(self.payload), self.voxel_um)(z0, block)

    def region_writer(self):
        return TiffRegion(str(self.payload), self.voxel_um)

    def _finish(self):
        meta = dict(self.attrs)
        meta.update({"voxel_size_um": self.voxel_um, "origin_um": list(self.origin_um),
                     "shape_zyx": list(self.shape), "dtype": str(self.dtype)})
        (self.payload / "hipct.json").write_text(json.dumps(meta, indent=1, default=str))


class ZarrRegion:
    """Writes slabs of the staged level-0 array (picklable: a path, opened on each call)."""

    def __init__(self, path: str, dtype: str):
        self.path, self.dtype = os.path.abspath(path), dtype

    def __call__(self, z0: int, block: np.ndarray):
        import zarr
        arr = zarr.open_array(self.path, mode="r+")
        arr[z0:z0 + block.shape[0]] = np.asarray(block, dtype=self.dtype)


class TiffRegion:
    """Writes slabs as one TIFF per slice into the staging folder (picklable)."""

    def __init__(self, folder: str, voxel_um: float):
        self.folder, self.voxel_um = os.path.abspath(folder), float(voxel_um)

    def __call__(self, z0: int, block: np.ndarray):
        import tifffile
        res = 1e4 / self.voxel_um  # pixels per cm
        for k, img in enumerate(block):
            name = Path(self.folder) / f"slice_{z0 + k:05d}.tif"
            tifffile.imwrite(name, img, resolution=(res, res), resolutionunit="CENTIMETER",
                             metadata=None)


class Hdf5Writer(_Staged):
    """``/volume`` (z, y, x) with voxel size, origin and provenance as attributes."""

    payload_name = "volume.h5"
    format_name = "hdf5"

    def __init__(self, out, shape, dtype, attrs, resume, overwrite, *, voxel_um, origin_um):
        self.voxel_um = voxel_um
        self.origin_um = origin_um
        super().__init__(out, shape, dtype, attrs, resume, overwrite)

    def _create(self):
        import h5py
        with h5py.File(self.payload, "w") as f:
            f.create_dataset("volume", shape=self.shape, dtype=self.dtype,
                             chunks=tuple(min(64, s) for s in self.shape))

    def _open_existing(self):
        import h5py
        try:
            h5py.File(self.payload, "r").close()
        except OSError:
            raise DataError(f"--resume: {self.payload} is damaged; rerun without --resume") from None

    def _write(self, z0, block):
        import h5py
        with h5py.File(self.payload, "r+") as f:
            f["volume"][z0:z0 + block.shape[0]] = block
            f.flush()

    def _finish(self):
        import h5py
        with h5py.File(self.payload, "r+") as f:
            v = f["volume"]
            v.attrs["voxel_size_um"] = self.voxel_um
            v.attrs["origin_um"] = np.asarray(self.origin_um, dtype=np.float64)
            v.attrs["axes"] = "zyx"
            v.attrs["hipct"] = json.dumps(self.attrs, default=str)

    def _mark(self):
        import h5py
        with h5py.File(self.payload, "r+") as f:
            f["volume"].attrs["hipct_key"] = json.dumps(self.key)


def check_free_space(writer: _Staged, fraction: float = 1.0) -> None:
    """Refuse an uncompressed output (TIFF, HDF5) that cannot fit on its disk; warn for
    OME-Zarr, whose compressed size is not known in advance (then a full disk stops the run
    with a message and ``--resume`` continues it).

    ``fraction`` is the part of the volume still to write.
    """
    import warnings

    from hipct.errors import HipctWarning
    nbytes = float(np.prod(writer.shape)) * writer.dtype.itemsize * fraction
    if writer.format_name.startswith("ome-zarr"):
        nbytes *= 8 / 7                       # the 2x2x2 pyramid adds 1/8 + 1/64 + ...
    try:
        free = shutil.disk_usage(writer.staging).free
    except OSError:
        return
    if nbytes <= free:
        return
    text = (f"output: the volume needs about {nbytes / 1e6:.4g} MB but only {free / 1e6:.4g} MB "
            f"are free beside {writer.out}")
    if writer.format_name in ("tiff", "hdf5"):
        if not writer.done:                     # nothing written yet: leave nothing behind
            shutil.rmtree(writer.staging, ignore_errors=True)
        writer.abandon()
        raise DataError(text + "; free space or choose another --output")
    warnings.warn(text + " (uncompressed; compression may make it fit)", HipctWarning,
                  stacklevel=2)


def open_writer(fmt: str, out, shape, dtype, attrs: dict, *, voxel_um: float, origin_um,
                resume: bool = False, overwrite: bool = False, chunk_z: int = 128,
                memory_bytes: float | None = None):
    """Create (or, with ``resume``, reopen) a staged writer for ``fmt`` (one of FORMATS).

    ``chunk_z`` is the OME-Zarr chunk height; the pipeline makes it divide its slab height so
    a slab always rewrites whole chunks (a slab redone on resume leaves no stale chunk).
    ``memory_bytes`` bounds the OME-Zarr pyramid's working set (tiles along y).
    """
    if fmt not in FORMATS:
        raise HipctError(f"--format: unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    kw = dict(voxel_um=voxel_um, origin_um=origin_um)
    if fmt == "ome-zarr":
        return OmeZarrWriter(out, shape, dtype, attrs, resume, overwrite, zarr_version=2,
                             chunk_z=chunk_z, memory_bytes=memory_bytes, **kw)
    if fmt == "ome-zarr-v3":
        return OmeZarrWriter(out, shape, dtype, attrs, resume, overwrite, zarr_version=3,
                             chunk_z=chunk_z, memory_bytes=memory_bytes, **kw)
    if fmt == "tiff":
        return TiffWriter(out, shape, dtype, attrs, resume, overwrite, **kw)
    return Hdf5Writer(out, shape, dtype, attrs, resume, overwrite, **kw)
