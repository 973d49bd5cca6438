"""Durable small-file writes shared by the key ring, the TLS certificates and other state files, and the
owner-only modes of everything in the data directory (issue 17: mail must not be readable by other local
users, whatever the umask).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_opener(path: str, flags: int) -> int:
    """`open(..., opener=private_opener)`: a new file is created 0600 (the umask can only remove bits)."""
    return os.open(path, flags, PRIVATE_FILE)


def make_private(root: Path) -> int:
    """Give `root` mode 0700 and everything under it 0700 (directories) or 0600 (files).

    Run at start-up, so data directories created by older versions (0755 directories, 0644 database and
    blobs) are fixed too. Symbolic links are neither followed nor changed. Returns how many modes changed.
    """
    changed = 0

    def fix(path: str, want: int) -> None:
        nonlocal changed
        try:
            st = os.lstat(path)
        except FileNotFoundError:  # removed meanwhile (a collected blob, a finished upload)
            return
        if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) == want:
            return
        os.chmod(path, want)
        changed += 1

    fix(str(root), PRIVATE_DIR)
    for top, dirs, files in os.walk(root):
        for name in dirs:
            fix(os.path.join(top, name), PRIVATE_DIR)
        for name in files:
            fix(os.path.join(top, name), PRIVATE_FILE)
    return changed


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` so readers never see half a file and a crash never loses the rename.

    A temporary file in the same directory (created 0600) is written, fsynced, given `mode` and
    renamed over `path`; then the directory is fsynced so the rename itself is durable (POSIX).
    Group and other bits of `mode` are dropped: every such file lives in the owner-only data directory.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode & PRIVATE_DIR)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # not possible on every platform (e.g. Windows)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
