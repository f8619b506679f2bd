"""Small file-system helpers shared by every writer: atomic text files, umask permissions.

``tempfile.mkstemp`` creates its file with mode 0600 whatever the umask, so a file written
through a temporary name and renamed would stay private; :func:`apply_umask` gives it the
mode an ordinary ``open(path, "w")`` would have.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["current_umask", "apply_umask", "write_text_atomic"]


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path, mode: int = 0o666) -> None:
    """Set ``path``'s permissions to ``mode`` less the umask (as ``open`` would create it)."""
    os.chmod(path, mode & ~current_umask())


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file beside it, then rename.

    The file is never seen half written and gets the umask's permissions.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        apply_umask(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
