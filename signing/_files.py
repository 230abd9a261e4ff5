"""Small file helpers with explicit permissions and no silent overwrites."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_new_file"]


def write_new_file(path: Path, data: bytes, *, mode: int) -> None:
    """Create ``path`` with ``data`` and permission bits ``mode``; never overwrite.

    ``O_EXCL`` makes creation fail if the file exists (also when a symlink was planted
    there), and ``fchmod`` sets the mode regardless of the process umask, so a private
    key is never readable by others, not even for a moment.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
