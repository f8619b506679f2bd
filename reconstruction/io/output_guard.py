"""Safety of a volume's output path: what may be replaced, who is writing it, how it is swapped.

* :func:`check_output_path` refuses paths that are not a volume's place: ``''``, the working
  folder or one of its parents, the home folder, the filesystem root, an input file.
* A finished output carries a marker (``.hipct-output.json`` inside a folder output, the
  ``hipct_key`` attribute of ``/volume`` in an HDF5 output) holding the *key* of the run: the
  inputs' checksums, the format, the shape, the data type and every parameter.
  :func:`read_marker` returns it; only a path with a marker (or, from versions without
  markers, hipct's provenance in its metadata) is ever replaced.
* :class:`OutputLock` is an exclusive ``flock`` on ``.NAME.lock`` beside the output, held by
  the run that stages ``NAME``; a second run is refused with the holder's pid, host and start.
* :func:`swap_into_place` moves the staged payload onto the output: with an atomic exchange
  (``renameat2(RENAME_EXCHANGE)``, Linux) where the filesystem has one, else the old output is
  renamed to ``.NAME.old`` first. :func:`recover` (called under the lock before anything
  else) restores or removes that ``.NAME.old``, so a kill at any moment leaves the old or the
  new output whole at ``NAME``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import errno
import json
import os
import shutil
import socket
from pathlib import Path

from hipct.errors import HipctError

__all__ = ["MARKER", "check_output_path", "read_marker", "write_marker", "key_differences",
           "OutputLock", "swap_into_place", "recover", "trash_path", "lock_path"]

MARKER = ".hipct-output.json"


def check_output_path(output, inputs=()) -> Path:
    """The output as a :class:`~pathlib.Path`, or a :class:`HipctError` if it must not be one.

    Refused: an empty path, the working folder or any folder above it, the home folder, the
    filesystem root, any of ``inputs`` and any folder holding one of them.
    """
    text = str(output)
    if not text.strip():
        raise HipctError("--output: empty path; give the volume's path, e.g. -o scan.ome.zarr")
    out = Path(text)
    try:
        resolved = out.resolve()
        cwd = Path.cwd().resolve()
    except (OSError, RuntimeError) as exc:
        raise HipctError(f"--output: cannot resolve {text!r} ({exc})") from None
    home = Path.home().resolve() if "HOME" in os.environ else None
    if resolved == cwd or resolved in cwd.parents or resolved == home \
            or resolved == Path(resolved.anchor) or not out.name or out.name in (".", ".."):
        raise HipctError(f"--output: {text!r} is a working, home or root folder, not a "
                         "volume's path; give a new name, e.g. -o scan.ome.zarr")
    for p in inputs:
        try:
            inp = Path(p).resolve()
        except (OSError, RuntimeError):
            continue
        if inp == resolved:
            raise HipctError(f"--output: {text!r} is an input file; give another path")
        if resolved in inp.parents:
            raise HipctError(f"--output: {text!r} holds the input {p}; replacing it would "
                             "delete the input: give another path")
    return out


def lock_path(out: Path) -> Path:
    """``.NAME.lock`` beside the output."""
    return out.parent / f".{out.name}.lock"


def trash_path(out: Path) -> Path:
    """``.NAME.old`` beside the output: the old output while it is being replaced."""
    return out.parent / f".{out.name}.old"


def read_marker(path: Path) -> dict | None:
    """The run key recorded in a hipct output, or ``None`` when ``path`` is not one."""
    path = Path(path)
    try:
        if path.is_dir() and not path.is_symlink():
            marker = path / MARKER
            if not marker.is_file():
                return _legacy_folder(path)
            data = json.loads(marker.read_text(encoding="utf-8"))
            return data.get("key") if isinstance(data, dict) and data.get("hipct") else None
        if path.is_file():
            import h5py
            with open(path, "rb") as fh:
                if fh.read(8) != b"\x89HDF\r\n\x1a\n":
                    return None
            with h5py.File(path, "r") as f:
                vol = f.get("volume")
                if vol is None or "hipct" not in vol.attrs:
                    return None
                if "hipct_key" not in vol.attrs:
                    return {"written_before_run_keys": True}
                return json.loads(vol.attrs["hipct_key"])
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return None


def _legacy_folder(path: Path) -> dict | None:
    """A folder output of a hipct without markers (provenance ``hipct`` in its metadata)."""
    for name in (".zattrs", "zarr.json", "hipct.json"):
        meta = path / name
        if meta.is_file() and meta.stat().st_size < 64 << 20:
            data = json.loads(meta.read_text(encoding="utf-8"))
            if name == "zarr.json":
                data = data.get("attributes", {}) if isinstance(data, dict) else {}
            if isinstance(data, dict) and isinstance(data.get("hipct"), dict):
                return {"written_before_run_keys": True}
    return None


def write_marker(folder: Path, key: dict) -> None:
    """Record ``key`` in the folder output ``folder`` (for HDF5 the writer sets an attribute)."""
    (Path(folder) / MARKER).write_text(json.dumps({"hipct": True, "key": key}, indent=1),
                                       encoding="utf-8")


def _flatten(value, prefix=""):
    if isinstance(value, dict):
        out = {}
        for k in value:
            out.update(_flatten(value[k], f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def key_differences(old: dict, new: dict, limit: int = 4) -> str:
    """The fields that differ between two run keys, e.g. ``'inputs[0].sha256, format'``."""
    a, b = _flatten(old), _flatten(new)
    names = sorted(k for k in set(a) | set(b) if a.get(k, None) != b.get(k, None))
    if not names:
        return "nothing"
    text = ", ".join(names[:limit])
    return text + (f" and {len(names) - limit} more" if len(names) > limit else "")


class OutputLock:
    """Exclusive lock of one output path (``flock`` on ``.NAME.lock``; released on exit)."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.path = lock_path(self.out)
        self.fd = None

    def acquire(self) -> "OutputLock":
        import fcntl
        self.out.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise
                holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
                os.close(fd)
                raise HipctError(f"output: {self.out} is being written by another hipct run "
                                 f"({holder or 'holder unknown'}); wait for it to finish or "
                                 "choose another --output") from None
            # the file may have been removed by the previous holder after we opened it
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}"
                  .encode(), 0)
        self.fd = fd
        return self

    def release(self, remove: bool = True) -> None:
        """Unlock (and remove the lock file, which no other run can hold meanwhile)."""
        if self.fd is None:
            return
        if remove:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap ``a`` and ``b`` (Linux ``renameat2``); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_into_place(payload: Path, out: Path, *, exchange=None, _step=None) -> None:
    """Move ``payload`` onto ``out``; the old ``out`` (if any) is removed only afterwards.

    ``_step(name)`` is called between the steps (tests inject failures there).
    """
    step = _step or (lambda name: None)
    exchange = exchange or _exchange
    trash = trash_path(out)
    if trash.exists() or trash.is_symlink():
        _remove(trash)
    if out.exists() or out.is_symlink():
        if exchange(payload, out):            # out: new, payload: old
            step("exchanged")
            os.replace(payload, trash)
        else:
            os.replace(out, trash)            # old kept whole beside, restored by recover()
            step("old moved aside")
            os.replace(payload, out)
        step("new in place")
        _remove(trash)
    else:
        os.replace(payload, out)
    step("done")


def recover(out: Path) -> str | None:
    """Finish or undo a replacement that was interrupted (call under the lock).

    Returns what was done (``'restored'``, ``'cleaned'``) or ``None``.
    """
    trash = trash_path(out)
    if not (trash.exists() or trash.is_symlink()):
        return None
    if out.exists() or out.is_symlink():
        _remove(trash)
        return "cleaned"
    os.replace(trash, out)
    return "restored"
