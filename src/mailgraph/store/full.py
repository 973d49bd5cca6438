"""Disk full, as the store's back ends report it (issue 17 disk-full trial): one test, one domain error.

The data directory's file system (blobs, upload parts, the SQLite file and its WAL) or PostgreSQL's can
fill up. Each reports it its own way — `OSError` ENOSPC/EDQUOT from the kernel, SQLite's `SQLITE_FULL`
("database or disk is full", https://sqlite.org/rescode.html#full), PostgreSQL's SQLSTATE class 53
(insufficient resources: 53100 disk_full) — and the caller must hear one thing: `StorageFullError`
(Graph 507, SMTP 452 4.3.1), never a 500, with nothing of the unit committed.
"""

from __future__ import annotations

import errno
import sqlite3

from mailgraph.domain.errors import StorageFullError

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_PG_DISK_FULL = "53100"


def is_full(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) says the storage is full."""
    seen: BaseException | None = exc
    for _ in range(8):  # a short chain: __cause__/__context__ of a failed rollback or a wrapped error
        if seen is None:
            return False
        if isinstance(seen, StorageFullError):
            return True
        if isinstance(seen, OSError) and seen.errno in _FULL_ERRNOS:
            return True
        if isinstance(seen, sqlite3.Error) and getattr(seen, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        if getattr(seen, "sqlstate", None) == _PG_DISK_FULL:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def storage_full_or(exc: BaseException) -> BaseException:
    """`StorageFullError` (from `exc`) when `exc` says the storage is full, else `exc` itself."""
    if isinstance(exc, StorageFullError) or not is_full(exc):
        return exc
    full = StorageFullError()
    full.__cause__ = exc
    return full
