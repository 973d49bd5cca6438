"""Backup and restore of an SQLite data directory (`mailgraph backup DEST`, `mailgraph restore SRC`).

A backup is a directory: the database copied with SQLite's online backup API (one read transaction,
so it is a consistent snapshot even while the server writes; https://sqlite.org/backup.html), then
every other file of the data directory — keys, TLS material, the admin token, upload parts and the
blobs. Blobs are written *before* the unit that references them commits (store/blobs.py), so every
blob the snapshot references already existed when the copy of `blobs/` began; the one race left — a
blob dereferenced after the snapshot and collected during the copy — is closed by checking every
reference of the copied database and copying what is missing again (or failing, naming it).

Restore copies a backup into a data directory that does not exist or is empty (it never overwrites),
after checking the backup's database (`PRAGMA integrity_check`) and its blob references.
PostgreSQL deployments back up with `pg_dump` instead (docs/reliability.md).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from mailgraph.files import PRIVATE_DIR, make_private

DB = "mailgraph.db"
# The database and what lives beside it only while a server runs (the wake-up pipes, store/engines/wakeups.py).
_DB_FILES = {DB, f"{DB}-wal", f"{DB}-shm", f"{DB}-journal", f"{DB}.wake"}
MANIFEST = "mailgraph-backup.txt"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BackupReport:
    """What a backup or restore copied."""

    path: Path
    db_bytes: int
    files: int
    blobs: int


def _referenced(db: Path) -> set[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT hash FROM blobs WHERE refcount > 0").fetchall()
    finally:
        con.close()
    return {str(r[0]) for r in rows}


def _blob(root: Path, digest: str) -> Path:
    return root / "blobs" / digest[:2] / digest


def _empty_or_missing(path: Path, what: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{what} {path} exists and is not empty; nothing was overwritten")


def _copy_files(src: Path, dst: Path, skip: set[str]) -> int:
    """Copy every regular file under `src` except the top-level names in `skip`; returns how many."""
    copied = 0
    for top, dirs, files in os.walk(src):
        rel = Path(top).relative_to(src)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d not in skip]
        (dst / rel).mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        for name in files:
            if rel == Path(".") and name in skip:
                continue
            try:
                if not stat.S_ISREG(os.lstat(Path(top) / name).st_mode):
                    continue  # only regular files: no pipes, sockets or links
                shutil.copy2(Path(top) / name, dst / rel / name)
            except FileNotFoundError:  # removed meanwhile (a finished upload part, a collected blob)
                continue
            copied += 1
    return copied


def _complete_blobs(src: Path, dst: Path) -> int:
    """Copy referenced blobs the bulk copy missed; raise if one is missing at the source as well."""
    missing = []
    for digest in _referenced(dst / DB):
        target = _blob(dst, digest)
        if target.exists():
            continue
        source = _blob(src, digest)
        if not source.exists():
            missing.append(digest)
            continue
        target.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        shutil.copy2(source, target)
    if missing:
        raise BackupError(f"{len(missing)} referenced blob(s) are missing, e.g. {missing[0]}")
    return len(_referenced(dst / DB))


def backup(data_dir: Path, dest: Path, database: Path | None = None) -> BackupReport:
    """Back up the SQLite data directory `data_dir` into `dest` (which must not exist, or be empty).

    `database` is the SQLite file when it is not `data_dir/mailgraph.db` (`--database sqlite:///…`);
    the backup holds it as `mailgraph.db` either way.

    Raises:
        BackupError: no database in `data_dir`, `dest` not empty, or a referenced blob is missing.
    """
    source_db = database or data_dir / DB
    if not source_db.is_file():
        raise BackupError(f"{source_db} does not exist: not a mailgraph data directory")
    _empty_or_missing(dest, "backup destination")
    dest.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    os.chmod(dest, PRIVATE_DIR)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # Created 0600 before SQLite opens it (SQLite gives new files the umask's mode).
    os.close(os.open(dest / DB, os.O_CREAT | os.O_WRONLY, 0o600))
    src = sqlite3.connect(f"file:{source_db}?mode=ro", uri=True, timeout=60)
    dst = sqlite3.connect(dest / DB)
    try:
        src.backup(dst)  # all pages in one step: one read transaction, a consistent snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
    finally:
        dst.close()
        src.close()
    files = _copy_files(data_dir, dest, _DB_FILES)
    blobs = _complete_blobs(data_dir, dest)
    (dest / MANIFEST).write_text(
        f"mailgraph backup of {data_dir.resolve()}\nstarted {started}\nblobs referenced {blobs}\n",
        encoding="utf-8",
    )
    make_private(dest)
    return BackupReport(dest, (dest / DB).stat().st_size, files, blobs)


def restore(src: Path, data_dir: Path) -> BackupReport:
    """Restore the backup `src` into `data_dir`, which must not exist or be empty.

    Raises:
        BackupError: `src` is no backup (no database, a damaged one, a missing blob) or `data_dir`
            is not empty. Nothing is written to a non-empty `data_dir`.
    """
    _empty_or_missing(data_dir, "data directory")
    db = src / DB
    if not db.is_file() or not (src / MANIFEST).is_file():
        raise BackupError(f"{src} is not a mailgraph backup (no {DB} and {MANIFEST})")
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            verdict = con.execute("PRAGMA integrity_check").fetchone()
        finally:
            con.close()
        referenced = _referenced(db)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{db} is not a readable SQLite database: {exc}") from exc
    if verdict is None or verdict[0] != "ok":
        raise BackupError(f"{db} fails its integrity check: {verdict}")
    missing = [d for d in referenced if not _blob(src, d).exists()]
    if missing:
        raise BackupError(f"the backup lacks {len(missing)} referenced blob(s), e.g. {missing[0]}")
    data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    files = _copy_files(src, data_dir, {MANIFEST})
    make_private(data_dir)
    return BackupReport(data_dir, db.stat().st_size, files, len(referenced))
