"""Attachment blobs in PostgreSQL (issue 11): `domain.ports.BlobStorage` as chunked `bytea` rows.

With PostgreSQL, hosts share nothing but the database (docs/scaling.md): an attachment uploaded on
host A is read on host B and relayed by B's worker. Migration 0034 has the tables:

- `blob_contents (hash → content, size, written_at)`: a blob exists when its row does. The row is
  inserted in the same transaction as its chunks (`put`, `adopt_parts`), so a committed blob always
  has all its bytes, and a crash mid-write leaves nothing behind (the transaction never committed).
- `blob_chunks (content, seq, data)`: the bytes in `CHUNK`-sized rows keyed by byte offset, stored
  uncompressed out of line (`STORAGE EXTERNAL`).
- `blob_writes (content → upload, size)`: upload-session parts, each its own content (two processes
  never write into one place), until `drop_parts`; ones whose session is gone are `stray`'s.

Chunk size: 256 KiB. PostgreSQL stores any large `bytea` as ~2 KB TOAST pieces anyway, so the row
size only trades round trips against memory: 256 KiB is 600 rows for Graph's largest upload (150 MB),
a fraction of a millisecond of statement overhead per MiB, while each reader or writer holds at most
two chunks (the one being handed on and the one prefetched): memory stays bounded by request, never
by attachment size. Upload parts (≤ 8 MiB, the upload body limit) are already in memory as a request
body; they are written as chunks of this size in one transaction.

Writes are database I/O outside any unit of work, exactly where the directory store writes files:
before the unit that references the blob (`AttachmentService`, `UploadService`), never inside one.
The reference counts (`blobs`, migration 0003) stay in the units; the collector's grace period covers
the race between a `put` of an existing blob (which refreshes `written_at`) and `remove` (which
deletes only rows older than the grace, under the row lock): the same rule as the file store's mtime.

Reads are short statements (one chunk each, primary-key lookups) on the engine's pool, so a slow
client downloading 150 MB holds no connection between pieces; the next chunk is fetched while the
current one is handed on. Integrity: the hash is computed on write (sha256 of exactly the bytes
stored), sizes are checked on read (a blob whose chunks do not add up raises `BlobDamagedError`).
All SQL lives here; times come from the database's clock (`clock_timestamp()`), one clock for all
hosts, so the grace period does not depend on the hosts' clocks agreeing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Final

import asyncpg

from mailgraph.domain.errors import StorageFullError, StoreUnavailableError
from mailgraph.store.blobs import BlobStore
from mailgraph.store.full import is_full

__all__ = ["CHUNK", "BlobDamagedError", "PgBlobStore"]

CHUNK: Final = 256 * 1024
_HASH_IN_THREAD: Final = 64 * 1024  # larger inputs are hashed in a worker thread (keeps the loop free)
_NOW_US: Final = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint"
_BEFORE_US: Final = f"({_NOW_US} - ($%d::float8 * 1000000)::bigint)"

_CLAIM = (
    "INSERT INTO blob_contents (hash, content, size, written_at) VALUES ($1, $2, $3, "
    + _NOW_US
    + ") ON CONFLICT (hash) DO UPDATE SET written_at = EXCLUDED.written_at RETURNING content"
)
_CHUNK_INSERT = "INSERT INTO blob_chunks (content, seq, data) VALUES ($1, $2, $3)"
_CHUNK_AT = "SELECT data FROM blob_chunks WHERE content = $1 AND seq = $2"


class BlobDamagedError(FileNotFoundError):
    """A blob's chunks do not add up to its recorded size (never written so; a damaged database)."""


def _spans(size: int) -> range:
    return range(0, size, CHUNK)


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    """asyncpg failures as the domain hears them: disk full → `StorageFullError`, a lost connection →
    `StoreUnavailableError` (as the engine maps them for units)."""
    try:
        yield
    except (
        asyncpg.PostgresConnectionError,
        asyncpg.AdminShutdownError,
        asyncpg.CannotConnectNowError,
    ) as exc:
        raise StoreUnavailableError() from exc
    except OSError as exc:
        if is_full(exc):  # pragma: no cover - the client side does not write to disk
            raise StorageFullError() from exc
        raise StoreUnavailableError() from exc
    except asyncpg.PostgresError as exc:
        if is_full(exc):  # SQLSTATE 53100: nothing of the write committed
            raise StorageFullError() from exc
        raise


async def _digest_update(digest: hashlib._Hash, data: bytes | memoryview) -> None:
    if len(data) > _HASH_IN_THREAD:
        await asyncio.to_thread(digest.update, data)
    else:
        digest.update(data)


class PgBlobStore:
    """`domain.ports.BlobStorage` in PostgreSQL tables (migration 0034), on the engine's pool."""

    def __init__(self, pool: asyncpg.Pool, legacy: BlobStore | None = None) -> None:
        self._pool = pool
        # A deployment that ran on PostgreSQL before migration 0034 kept its blobs in the data dir:
        # what the database lacks is read from there, and collected there too (new blobs never go there).
        self._legacy = legacy

    # -- whole blobs ------------------------------------------------------------------------------

    async def put(self, data: bytes) -> str:
        """Store bytes (one transaction: the content row and its chunks); returns their sha256.
        An existing blob is not written again, only refreshed (the collector spares it)."""
        digest = hashlib.sha256()
        await _digest_update(digest, data)
        blob_hash = digest.hexdigest()
        content = uuid.uuid4().hex
        view = memoryview(data)
        with _mapped():
            async with self._pool.acquire() as con, con.transaction():
                if await con.fetchval(_CLAIM, blob_hash, content, len(data)) == content:
                    await con.executemany(
                        _CHUNK_INSERT, [(content, at, view[at : at + CHUNK]) for at in _spans(len(data))]
                    )
        return blob_hash

    async def _content(self, blob_hash: str) -> tuple[str, int]:
        with _mapped():
            row = await self._pool.fetchrow(
                "SELECT content, size FROM blob_contents WHERE hash = $1", blob_hash
            )
        if row is None:
            raise FileNotFoundError(f"no blob {blob_hash}")
        return str(row[0]), int(row[1])

    async def _chunks(self, content: str, size: int) -> AsyncIterator[bytes]:
        """The chunks of a content in order, each fetched by its own statement (a primary-key lookup
        at the next byte offset: chunks are contiguous), the next one fetched while this one is used.
        Chunks are at most CHUNK long; a joined upload's are shorter at its parts' seams."""

        async def fetch(at: int) -> bytes:
            with _mapped():
                data: bytes | None = await self._pool.fetchval(_CHUNK_AT, content, at)
            if not data or at + len(data) > size:
                raise BlobDamagedError(f"blob content {content}: chunk at {at} of {size} missing or damaged")
            return data

        if size == 0:
            return
        ahead = asyncio.ensure_future(fetch(0))
        at = 0
        try:
            while True:
                current = await ahead
                at += len(current)
                if at >= size:
                    yield current
                    return
                ahead = asyncio.ensure_future(fetch(at))
                yield current
        finally:
            if not ahead.done():
                ahead.cancel()
                with contextlib.suppress(BaseException):
                    await ahead

    async def read(self, blob_hash: str) -> bytes:
        """A blob's bytes, whole (small blobs: large ones are streamed)."""
        try:
            content, size = await self._content(blob_hash)
        except FileNotFoundError:
            if self._legacy is None:
                raise
            return await self._legacy.read(blob_hash)
        out = bytearray()
        async for chunk in self._chunks(content, size):
            out += chunk
        return bytes(out)

    async def stream(self, blob_hash: str, piece: int) -> AsyncIterator[bytes]:
        """A blob's bytes in pieces of exactly `piece` bytes (the last shorter)."""
        try:
            content, size = await self._content(blob_hash)
        except FileNotFoundError:
            if self._legacy is None:
                raise
            async for data in self._legacy.stream(blob_hash, piece):
                yield data
            return
        pending = bytearray()
        async for chunk in self._chunks(content, size):
            pending += chunk
            while len(pending) >= piece:
                yield bytes(pending[:piece])
                del pending[:piece]
        if pending:
            yield bytes(pending)

    # -- upload parts -----------------------------------------------------------------------------

    async def write_part(self, upload: str, start: int, data: bytes) -> str:
        """Store a chunk of an upload as a new content of its own; returns its name."""
        name = f"{start:012d}-{uuid.uuid4().hex}"
        view = memoryview(data)
        with _mapped():
            async with self._pool.acquire() as con, con.transaction():
                await con.execute(
                    f"INSERT INTO blob_writes (content, upload, size, started_at) VALUES ($1, $2, $3, {_NOW_US})",
                    name,
                    upload,
                    len(data),
                )
                await con.executemany(
                    _CHUNK_INSERT, [(name, at, view[at : at + CHUNK]) for at in _spans(len(data))]
                )
        return name

    async def adopt_parts(self, upload: str, parts: Sequence[str]) -> tuple[str, int]:
        """Join parts into a blob: hash them streaming (one chunk at a time), then, in one transaction,
        copy their chunks into a new content server-side (no bytes travel back) and record it, unless
        the same bytes are stored already. A part dropped meanwhile (cancel) raises FileNotFoundError."""
        with _mapped():
            rows = await self._pool.fetch(
                "SELECT content, size FROM blob_writes WHERE upload = $1 AND content = ANY($2::text[])",
                upload,
                list(parts),
            )
        sizes = {str(r[0]): int(r[1]) for r in rows}
        if any(part not in sizes for part in parts):
            raise FileNotFoundError(f"upload {upload}: a part is gone (cancelled or collected)")
        digest = hashlib.sha256()
        for part in parts:
            async for chunk in self._chunks(part, sizes[part]):
                await _digest_update(digest, chunk)
        blob_hash, total = digest.hexdigest(), sum(sizes.values())
        content = uuid.uuid4().hex
        with _mapped():
            async with self._pool.acquire() as con, con.transaction():
                if await con.fetchval(_CLAIM, blob_hash, content, total) != content:
                    return blob_hash, total  # the same bytes are stored already (refreshed)
                offset = 0
                for part in parts:
                    copied = await con.execute(
                        "INSERT INTO blob_chunks (content, seq, data)"
                        " SELECT $1, seq + $2, data FROM blob_chunks WHERE content = $3",
                        content,
                        offset,
                        part,
                    )
                    if int(copied.rsplit(" ", 1)[-1]) != len(_spans(sizes[part])):
                        # Dropped after it was hashed: roll the whole blob back.
                        raise FileNotFoundError(f"upload {upload}: part {part} is gone")
                    offset += sizes[part]
        return blob_hash, total

    async def drop_parts(self, upload: str) -> None:
        """Remove every part of an upload, recorded or not."""
        with _mapped():
            async with self._pool.acquire() as con, con.transaction():
                gone = await con.fetch("DELETE FROM blob_writes WHERE upload = $1 RETURNING content", upload)
                if gone:
                    await con.execute(
                        "DELETE FROM blob_chunks WHERE content = ANY($1::text[])", [r[0] for r in gone]
                    )

    # -- collection -------------------------------------------------------------------------------

    async def remove(self, hashes: Sequence[str], older_than_s: float) -> int:
        """Delete these blobs unless written (or refreshed by a `put`) in the last `older_than_s`."""
        if not hashes:
            return 0
        with _mapped():
            async with self._pool.acquire() as con, con.transaction():
                gone = await con.fetch(
                    "DELETE FROM blob_contents WHERE hash = ANY($1::text[]) AND written_at < "
                    + _BEFORE_US % 2
                    + " RETURNING content",
                    list(hashes),
                    older_than_s,
                )
                if gone:
                    await con.execute(
                        "DELETE FROM blob_chunks WHERE content = ANY($1::text[])", [r[0] for r in gone]
                    )
        legacy = 0 if self._legacy is None else await self._legacy.remove(hashes, older_than_s)
        return len(gone) + legacy

    async def stray(self, older_than_s: float) -> list[str]:
        """Blobs older than `older_than_s` that no reference-count row knows (a `put` whose unit never
        committed); also removes upload parts whose session is gone (a crash between the commit of a
        finish or cancel and `drop_parts`)."""
        with _mapped():
            async with self._pool.acquire() as con, con.transaction():
                gone = await con.fetch(
                    "DELETE FROM blob_writes w WHERE started_at < "
                    + _BEFORE_US % 1
                    + " AND NOT EXISTS (SELECT 1 FROM upload_sessions s WHERE s.id = w.upload) RETURNING content",
                    older_than_s,
                )
                if gone:
                    await con.execute(
                        "DELETE FROM blob_chunks WHERE content = ANY($1::text[])", [r[0] for r in gone]
                    )
            rows = await self._pool.fetch(
                "SELECT hash FROM blob_contents c WHERE written_at < "
                + _BEFORE_US % 1
                + " AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = c.hash)",
                older_than_s,
            )
        return [str(r[0]) for r in rows]

    # -- upgrading from the directory ----------------------------------------------------------------

    async def import_directory(self, legacy: BlobStore) -> tuple[int, int]:
        """Copy every blob file of `legacy` the database lacks into it (`mailgraph db import-blobs`):
        (blobs imported, blobs already there). Each in one transaction, read in CHUNK pieces (bounded
        memory whatever the file's size) and hashed on the way: a file whose bytes do not match its
        name is refused (`BlobDamagedError`) and nothing of it is kept. The files stay (remove them once
        every host runs with `--blobs db`)."""
        imported = present = 0
        for blob_hash in await legacy.hashes():
            async with self._pool.acquire() as con, con.transaction():
                content = uuid.uuid4().hex
                size = 0
                digest = hashlib.sha256()
                claimed = await con.fetchval(_CLAIM, blob_hash, content, 0)
                if claimed != content:
                    present += 1
                    continue
                async for data in legacy.stream(blob_hash, CHUNK):
                    await _digest_update(digest, data)
                    await con.execute(_CHUNK_INSERT, content, size, data)
                    size += len(data)
                if digest.hexdigest() != blob_hash:
                    raise BlobDamagedError(f"blob file {blob_hash}: its bytes hash to {digest.hexdigest()}")
                await con.execute("UPDATE blob_contents SET size = $2 WHERE hash = $1", blob_hash, size)
                imported += 1
        return imported, present

    # -- for tests and operations -----------------------------------------------------------------

    async def usage(self) -> tuple[int, int]:
        """(blobs, bytes) stored."""
        with _mapped():
            row = await self._pool.fetchrow("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blob_contents")
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def parts_stored(self) -> int:
        """Upload parts not yet dropped."""
        with _mapped():
            return int(await self._pool.fetchval("SELECT COUNT(*) FROM blob_writes") or 0)

    async def backdate(self, blob_hash: str, seconds: float) -> None:
        """Make a blob look written `seconds` earlier (tests of the collector's grace period)."""
        with _mapped():
            await self._pool.execute(
                "UPDATE blob_contents SET written_at = written_at - ($2::float8 * 1000000)::bigint WHERE hash = $1",
                blob_hash,
                seconds,
            )
