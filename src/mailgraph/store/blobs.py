"""Content-addressed blob files: attachment bytes stored once under their sha256, plus upload parts.

Layout under the data directory: `blobs/ab/abcdef…` (two-character fan-out keeps directories small)
and `uploads/{session}/{start}-{nonce}.part`, one file per accepted chunk (issue 10: chunks of one
upload may arrive at different server processes; a part per chunk means no two writers ever share a
file, and the store decides which parts count). Writes are crash-safe (temp file, fsync, rename, fsync
of the directory) and idempotent by hash. Reads are bytes or streams (`domain.ports.BlobStorage`),
never paths, so the database-backed store (store/engines/pg_blobs.py, the default with PostgreSQL) takes
this one's place where hosts share only the database. This one is SQLite's default (`--blobs dir`).
Everything here runs in a worker thread (`asyncio.to_thread`), never inside the SQLite writer's units
of work: a blob is written *before* the unit that references it, and a collector removes files that no
row references.

`put` and `remove` share a lock: `put` of an existing blob refreshes its mtime under the lock, and
`remove` re-checks the mtime under the lock, so a blob about to be referenced again is never deleted.
(The lock is per process; across processes the collector's grace period covers the same race.)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from mailgraph.domain.errors import StorageFullError
from mailgraph.files import PRIVATE_DIR, private_opener
from mailgraph.store.full import is_full

_HASH = re.compile(r"^[0-9a-f]{64}$")
_PART = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_READ = 1024 * 1024  # streaming hash block: memory stays bounded whatever the blob size


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """`domain.ports.BlobStorage` on a local directory."""

    def __init__(self, directory: Path) -> None:
        self._blobs = directory / "blobs"
        self._uploads = directory / "uploads"
        # Owner-only, whatever the umask (mkdir's mode is only ever narrowed by it); files are 0600.
        self._blobs.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        self._uploads.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def path(self, blob_hash: str) -> Path:
        """The file of a blob (the hash is validated: it comes from our rows, never from a URL).
        Local to this implementation: the domain reads through `read` and `stream`."""
        if not _HASH.match(blob_hash):
            raise ValueError(f"not a sha256 hex digest: {blob_hash!r}")
        return self._blobs / blob_hash[:2] / blob_hash

    def _upload(self, name: str) -> Path:
        if not _PART.match(name):
            raise ValueError(f"bad upload name: {name!r}")
        return self._uploads / name

    def _install(self, temp: Path, blob_hash: str) -> None:
        target = self.path(blob_hash)
        with self._lock:
            if target.exists():
                os.utime(target)  # refresh: the collector spares recently written blobs
                temp.unlink()
                return
            target.parent.mkdir(mode=PRIVATE_DIR, exist_ok=True)
            os.replace(temp, target)
        _fsync_dir(target.parent)

    def _put(self, data: bytes) -> str:
        blob_hash = hashlib.sha256(data).hexdigest()
        temp = self._blobs / f".tmp-{uuid.uuid4().hex}"
        try:
            with open(temp, "wb", opener=private_opener) as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._install(temp, blob_hash)
        except BaseException:
            temp.unlink(missing_ok=True)  # a disk-full write leaves no half file taking space
            raise
        return blob_hash

    async def put(self, data: bytes) -> str:
        """Store bytes; returns their sha256 (hex). A full disk raises `StorageFullError`."""
        try:
            return await asyncio.to_thread(self._put, data)
        except OSError as exc:
            if is_full(exc):
                raise StorageFullError() from exc
            raise

    async def read(self, blob_hash: str) -> bytes:
        """A blob's bytes, whole."""
        return await asyncio.to_thread(self.path(blob_hash).read_bytes)

    async def stream(self, blob_hash: str, piece: int) -> AsyncIterator[bytes]:
        """A blob's bytes in pieces of `piece` bytes (the last shorter); each read in a worker thread."""
        f = await asyncio.to_thread(open, self.path(blob_hash), "rb")
        try:
            while data := await asyncio.to_thread(f.read, piece):
                yield data
        finally:
            f.close()

    def _write_part(self, upload: str, start: int, data: bytes) -> str:
        directory = self._upload(upload)
        directory.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        name = f"{start:012d}-{uuid.uuid4().hex}"
        temp = directory / f".tmp-{name}"
        try:
            with open(temp, "wb", opener=private_opener) as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        os.replace(temp, directory / f"{name}.part")
        _fsync_dir(directory)
        return name

    async def write_part(self, upload: str, start: int, data: bytes) -> str:
        """Store a chunk of an upload as a new part; returns the part's name. Disk full: `StorageFullError`."""
        try:
            return await asyncio.to_thread(self._write_part, upload, start, data)
        except OSError as exc:
            if is_full(exc):
                raise StorageFullError() from exc
            raise

    def _adopt_parts(self, upload: str, parts: Sequence[str]) -> tuple[str, int]:
        directory = self._upload(upload)
        digest = hashlib.sha256()
        size = 0
        temp = self._blobs / f".tmp-{uuid.uuid4().hex}"
        try:
            with open(temp, "wb", opener=private_opener) as out:
                for part in parts:
                    if not _PART.match(part):
                        raise ValueError(f"bad part name: {part!r}")
                    with open(directory / f"{part}.part", "rb") as f:
                        while block := f.read(_READ):
                            digest.update(block)
                            out.write(block)
                            size += len(block)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        blob_hash = digest.hexdigest()
        self._install(temp, blob_hash)
        return blob_hash, size

    async def adopt_parts(self, upload: str, parts: Sequence[str]) -> tuple[str, int]:
        """Join parts into a blob in 1 MiB blocks, hashing on the way: (hash, size). Disk full:
        `StorageFullError`."""
        try:
            return await asyncio.to_thread(self._adopt_parts, upload, parts)
        except OSError as exc:
            if is_full(exc):
                raise StorageFullError() from exc
            raise

    def _drop_parts(self, upload: str) -> None:
        shutil.rmtree(self._upload(upload), ignore_errors=True)
        (self._uploads / f"{upload}.part").unlink(missing_ok=True)  # a partial file of before 0006

    async def drop_parts(self, upload: str) -> None:
        """Remove every part of an upload."""
        await asyncio.to_thread(self._drop_parts, upload)

    def _remove(self, hashes: Sequence[str], older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        removed = 0
        for blob_hash in hashes:
            target = self.path(blob_hash)
            with self._lock:
                try:
                    if target.stat().st_mtime < cutoff:
                        target.unlink()
                        removed += 1
                except FileNotFoundError:
                    pass
        return removed

    async def remove(self, hashes: Sequence[str], older_than_s: float) -> int:
        """Delete these blobs' files unless written within `older_than_s` seconds; returns how many."""
        return await asyncio.to_thread(self._remove, hashes, older_than_s)

    def _stray(self, older_than_s: float) -> list[str]:
        cutoff = time.time() - older_than_s
        found: list[str] = []
        for entry in self._blobs.rglob("*"):
            try:
                old = entry.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if entry.name.startswith(".tmp-") and old:
                entry.unlink(missing_ok=True)  # a put interrupted by a crash
            elif entry.is_file() and _HASH.match(entry.name) and old:
                found.append(entry.name)
        return found

    async def stray(self, older_than_s: float) -> list[str]:
        """Hashes of blob files older than `older_than_s` seconds; also removes stale temp files."""
        return await asyncio.to_thread(self._stray, older_than_s)

    async def hashes(self) -> list[str]:
        """Every stored blob's hash (no side effects: `mailgraph db import-blobs` lists with it)."""
        return await asyncio.to_thread(
            lambda: sorted(p.name for p in self._blobs.rglob("*") if p.is_file() and _HASH.match(p.name))
        )

    def _usage(self) -> tuple[int, int]:
        files = [p for p in self._blobs.rglob("*") if p.is_file() and _HASH.match(p.name)]
        return len(files), sum(p.stat().st_size for p in files)

    async def usage(self) -> tuple[int, int]:
        """(blobs, bytes) stored, for tests and operations (as `PgBlobStore.usage`)."""
        return await asyncio.to_thread(self._usage)

    async def parts_stored(self) -> int:
        """Upload parts not yet dropped (tests and operations)."""
        return await asyncio.to_thread(lambda: sum(1 for _ in self._uploads.rglob("*.part")))

    async def backdate(self, blob_hash: str, seconds: float) -> None:
        """Make a blob look written `seconds` earlier (tests of the collector's grace period)."""
        path = self.path(blob_hash)
        mtime = path.stat().st_mtime - seconds
        os.utime(path, (mtime, mtime))
