"""The blob store contract (`domain.ports.BlobStorage`), once per engine with its default store: the data
directory on SQLite (store/blobs.py), chunked rows on PostgreSQL (store/engines/pg_blobs.py, issue 11).
Plus `--blobs dir` on PostgreSQL, so both choices of the setting are exercised where both exist."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mailgraph.domain.collector import GRACE_S, BlobCollector
from mailgraph.domain.model import Attachment, UploadSession, now
from mailgraph.store.blobs import BlobStore
from mailgraph.store.contract import Engine, EngineUrlError
from mailgraph.store.engines import import_blob_files, open_blobs
from mailgraph.store.engines.pg_blobs import CHUNK, PgBlobStore

BIG = os.urandom(2 * CHUNK + 12345)  # three chunks, the last one short


@pytest.fixture(params=["auto", "dir"])
async def blobs(request: pytest.FixtureRequest, engine: Engine, tmp_path: Path) -> AsyncIterator[Any]:
    """The engine's default blob store (`auto`), and the directory (`dir`, only worth it on PostgreSQL)."""
    if request.param == "dir" and engine.name == "sqlite":
        pytest.skip("auto is dir on SQLite")
    store = open_blobs(engine, tmp_path / "data", request.param)
    assert isinstance(
        store, PgBlobStore if engine.name == "postgres" and request.param == "auto" else BlobStore
    )
    yield store


async def test_put_read_stream_round_trip(blobs: Any) -> None:
    for data in (b"", b"hello", BIG):
        blob_hash = await blobs.put(data)
        assert blob_hash == hashlib.sha256(data).hexdigest()
        assert await blobs.read(blob_hash) == data
        for piece in (1000, CHUNK, 3 * 256 * 1024):
            pieces = [p async for p in blobs.stream(blob_hash, piece)]
            assert b"".join(pieces) == data
            assert all(len(p) == piece for p in pieces[:-1]) and all(0 < len(p) <= piece for p in pieces)
    assert await blobs.put(BIG) == hashlib.sha256(BIG).hexdigest()  # idempotent: stored once
    assert await blobs.usage() == (3, len(b"hello") + len(BIG))


async def test_concurrent_puts_of_one_content_store_it_once(blobs: Any) -> None:
    hashes = await asyncio.gather(*(blobs.put(BIG) for _ in range(4)))
    assert set(hashes) == {hashlib.sha256(BIG).hexdigest()}
    assert await blobs.usage() == (1, len(BIG))
    assert await blobs.read(hashes[0]) == BIG


async def test_unknown_blob_is_not_found(blobs: Any) -> None:
    with pytest.raises(FileNotFoundError):
        await blobs.read("0" * 64)


async def test_parts_join_in_order_and_drop(blobs: Any) -> None:
    first = await blobs.write_part("s1", 0, BIG[: CHUNK + 7])
    loser = await blobs.write_part("s1", 0, b"X" * 10)  # same offset, its own part, never recorded
    second = await blobs.write_part("s1", CHUNK + 7, BIG[CHUNK + 7 :])
    assert len({first, loser, second}) == 3
    blob_hash, size = await blobs.adopt_parts("s1", [first, second])
    assert (blob_hash, size) == (hashlib.sha256(BIG).hexdigest(), len(BIG))
    assert await blobs.read(blob_hash) == BIG
    assert await blobs.adopt_parts("s1", [first, second]) == (blob_hash, size)  # again: stored once
    assert await blobs.parts_stored() == 3  # the parts stay until dropped
    await blobs.drop_parts("s1")
    assert await blobs.parts_stored() == 0
    with pytest.raises(FileNotFoundError):  # cancelled (parts dropped) before the last chunk joined
        await blobs.adopt_parts("s1", [first])
    assert await blobs.read(blob_hash) == BIG  # the blob does not depend on its parts


async def test_remove_spares_what_was_written_or_refreshed_within_the_grace(blobs: Any) -> None:
    young = await blobs.put(b"young")
    old = await blobs.put(BIG)
    await blobs.backdate(old, 3600)
    assert await blobs.remove([young, old], 60) == 1
    assert await blobs.usage() == (1, 5)
    refreshed = await blobs.put(b"put again")
    await blobs.backdate(refreshed, 3600)
    assert await blobs.put(b"put again") == refreshed  # about to be referenced again: refreshed
    assert await blobs.remove([refreshed], 60) == 0
    assert await blobs.read(refreshed) == b"put again"


async def test_collector_removes_unreferenced_and_keeps_referenced(engine: Engine, blobs: Any) -> None:
    kept = await blobs.put(b"referenced")
    stray = await blobs.put(BIG)  # written before a unit that never committed
    released = await blobs.put(b"released")
    t = now()

    def row(blob_hash: str, size: int, item: str) -> Attachment:
        return Attachment(
            "a-" + item, item, 0, "file", "f", "text/plain", size, False, None, None, t, blob_hash
        )

    await engine.write(lambda tx: tx.attachments.insert(row(kept, 10, "m1")))
    await engine.write(lambda tx: tx.attachments.insert(row(released, 8, "m2")))
    await engine.write(lambda tx: tx.attachments.delete("m2", "a-m2", t))
    for blob_hash in (kept, stray, released):
        await blobs.backdate(blob_hash, 3600)
    later = BlobCollector(engine, blobs, lambda: now() + int(2 * GRACE_S * 1_000_000))
    assert await later.collect() == 1  # `released` (no reconcile: m1 is no real message here)
    assert await blobs.usage() == (2, 10 + len(BIG))
    assert await blobs.read(kept) == b"referenced"
    # The reconcile's stray step, as the collector does it: old blobs that no row knows.
    found = await blobs.stray(60)
    known = await engine.read(lambda tx: tx.attachments.known_blobs(found))
    assert await blobs.remove([h for h in found if h not in known], 60) == 1  # `stray`
    assert await blobs.usage() == (1, 10)


async def test_expired_upload_sessions_lose_their_parts(engine: Engine, blobs: Any) -> None:
    t = now()
    session = UploadSession("sess1", "h", "mbx", "item", "f.bin", None, 100, False, None, 0, t - 1, t)
    await engine.write(lambda tx: tx.attachments.put_session(session))
    await blobs.write_part("sess1", 0, b"x" * 50)
    await BlobCollector(engine, blobs, now).collect()
    assert await blobs.parts_stored() == 0


async def test_db_blobs_need_postgres(engine: Engine, tmp_path: Path) -> None:
    if engine.name != "sqlite":
        pytest.skip("PostgreSQL holds blobs")
    with pytest.raises(EngineUrlError, match="needs PostgreSQL"):
        open_blobs(engine, tmp_path, "db")


def test_serve_refuses_db_blobs_on_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mailgraph.cli import main

    assert main(["serve", "--data-dir", str(tmp_path / "d"), "--port", "0", "--blobs", "db"]) == 2
    assert "--blobs db needs PostgreSQL" in capsys.readouterr().err


async def test_a_write_cut_off_midway_leaves_nothing(engine: Engine, blobs: Any) -> None:
    """A crash (here: cancellation) during a blob write never leaves a partial blob: on PostgreSQL the
    row and its chunks commit together; the directory writes a temp file and renames it. Either the
    blob is there whole, or it is not there at all (and no orphan chunk is left)."""
    large = os.urandom(40 * CHUNK)
    task = asyncio.ensure_future(blobs.put(large))
    await asyncio.sleep(0.005)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.5)  # the directory store's worker thread is not interrupted by the cancel
    try:
        assert await blobs.read(hashlib.sha256(large).hexdigest()) == large
        stored = 1
    except FileNotFoundError:
        stored = 0
    assert await blobs.usage() == (stored, stored * len(large))
    if isinstance(blobs, PgBlobStore):
        import asyncpg

        con = await asyncpg.connect(engine.url)
        try:
            assert await con.fetchval("SELECT COUNT(*) FROM blob_chunks") == 40 * stored
        finally:
            await con.close()


def test_postgres_disk_full_is_storage_full() -> None:
    import asyncpg

    from mailgraph.domain.errors import StorageFullError
    from mailgraph.store.engines.pg_blobs import _mapped

    with pytest.raises(StorageFullError), _mapped():
        raise asyncpg.DiskFullError("could not extend file: No space left on device")


async def test_import_blob_files_into_postgres(engine: Engine, tmp_path: Path) -> None:
    """`mailgraph db import-blobs`: a PostgreSQL deployment from before migration 0034 moves its files."""
    if engine.name != "postgres":
        with pytest.raises(EngineUrlError):
            await import_blob_files(engine, tmp_path)
        return
    files = BlobStore(tmp_path)
    old = [await files.put(data) for data in (b"old draft file", BIG)]
    database = open_blobs(engine, tmp_path / "elsewhere", "db")
    await database.put(b"old draft file")  # one of them is there already
    assert await import_blob_files(engine, tmp_path) == (1, 1)
    assert await import_blob_files(engine, tmp_path) == (0, 2)  # idempotent
    assert await database.read(old[1]) == BIG
    assert b"".join([p async for p in database.stream(old[1], CHUNK)]) == BIG
    damaged = files.path(old[1])
    victim = await files.put(b"will be damaged")
    files.path(victim).write_bytes(b"not what its name says")
    with pytest.raises(FileNotFoundError, match="hash to"):
        await import_blob_files(engine, tmp_path)
    with pytest.raises(FileNotFoundError):
        await database.read(victim)  # nothing of it kept
    assert damaged.exists()  # the files stay


async def test_legacy_directory_is_read_where_the_database_lacks_a_blob(
    engine: Engine, tmp_path: Path
) -> None:
    if engine.name != "postgres":
        pytest.skip("the fallback is PostgreSQL's")
    old = await BlobStore(tmp_path).put(b"written before 0034")
    store = open_blobs(engine, tmp_path)  # auto: the database, with the data dir's files behind it
    assert await store.read(old) == b"written before 0034"
    assert [p async for p in store.stream(old, 8)] == [b"written ", b"before 0", b"034"]
    new = await store.put(b"written after")
    assert not BlobStore(tmp_path).path(new).exists()  # new blobs go to the database only
