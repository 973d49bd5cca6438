"""The store contract for state shared by server processes (migration 0006): authorization and device
codes, used assertion ids, upload parts; and the blob store's parts. Two engines on one database file
stand for two processes: single use and the upload offset must hold across them."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mailgraph.domain import ids
from mailgraph.domain.grants import AuthCode, DeviceCode, Grant
from mailgraph.domain.model import UploadSession
from mailgraph.store.blobs import BlobStore
from mailgraph.store.engines.sqlite import SqliteEngine

GRANT = Grant("tid", "client", "user", ("Mail.Read", "Mail.Send"), ("openid",), "n-1")


@pytest.fixture(params=["sqlite"])
async def engines(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SqliteEngine, SqliteEngine]]:
    """Two engines (as two processes would open them) on one fresh, migrated database."""
    first = SqliteEngine(tmp_path / "db.sqlite")
    await first.read(lambda tx: tx.flows.device("x"))  # migrated before the second one opens it
    second = SqliteEngine(tmp_path / "db.sqlite")
    yield first, second
    await second.close()
    await first.close()


async def test_auth_code_round_trip_and_single_use(engines: tuple[SqliteEngine, SqliteEngine]) -> None:
    a, b = engines
    code = AuthCode(GRANT, "http://localhost/cb", "chal", "S256", 1_700_000_000.25)
    await a.write(lambda tx: tx.flows.put_code("h1", code))
    assert await b.write(lambda tx: tx.flows.take_code("h1")) == code
    assert await a.write(lambda tx: tx.flows.take_code("h1")) is None
    plain = AuthCode(Grant("t", "c", "u", (), ()), "http://localhost/cb", None, "plain", 1.0)
    await a.write(lambda tx: tx.flows.put_code("h2", plain))
    assert await a.write(lambda tx: tx.flows.take_code("h2")) == plain


async def test_a_code_taken_at_two_engines_at_once_goes_to_one(
    engines: tuple[SqliteEngine, SqliteEngine],
) -> None:
    a, b = engines
    for n in range(5):
        key = f"race-{n}"
        await a.write(lambda tx, key=key: tx.flows.put_code(key, AuthCode(GRANT, "r", None, "plain", 9e9)))
        got = await asyncio.gather(
            a.write(lambda tx, key=key: tx.flows.take_code(key)),
            b.write(lambda tx, key=key: tx.flows.take_code(key)),
        )
        assert sorted(g is None for g in got) == [False, True]


async def test_device_codes_move_from_pending_once(engines: tuple[SqliteEngine, SqliteEngine]) -> None:
    a, b = engines
    device = DeviceCode("tid", "client", "Mail.Send", "BCDFGHJKL", 1_700_000_900.5, "http://x")
    assert await a.write(lambda tx: tx.flows.put_device("d1", device)) is True
    taken = DeviceCode("tid", "client", "Mail.Send", "BCDFGHJKL", 1.0)
    assert await a.write(lambda tx: tx.flows.put_device("d2", taken)) is False  # user code in use
    assert await b.read(lambda tx: tx.flows.device("d1")) == device
    assert (await b.read(lambda tx: tx.flows.device_by_user_code("BCDFGHJKL"))) == device
    approved = Grant("tid", "client", "user", ("Mail.Send",), ("openid",))
    assert await b.write(lambda tx: tx.flows.decide_device("BCDFGHJKL", approved)) is True
    assert await a.write(lambda tx: tx.flows.decide_device("BCDFGHJKL", None)) is False  # decided
    found = await a.read(lambda tx: tx.flows.device("d1"))
    assert found is not None and found.grant == approved and found.state == "approved"
    assert await a.write(lambda tx: tx.flows.take_device("d1")) is True
    assert await b.write(lambda tx: tx.flows.take_device("d1")) is False
    other = DeviceCode("tid", "client", "Mail.Send", "MNPQRSTVW", 5.0)
    await a.write(lambda tx: tx.flows.put_device("d3", other))
    await a.write(lambda tx: tx.flows.decide_device("MNPQRSTVW", None))
    declined = await b.read(lambda tx: tx.flows.device("d3"))
    assert declined is not None and declined.denied and declined.state == "declined"


async def test_purge_forgets_what_expired(engines: tuple[SqliteEngine, SqliteEngine]) -> None:
    a, _ = engines
    await a.write(lambda tx: tx.flows.put_code("old", AuthCode(GRANT, "r", None, "plain", 100.0)))
    await a.write(lambda tx: tx.flows.put_code("new", AuthCode(GRANT, "r", None, "plain", 300.0)))
    await a.write(lambda tx: tx.flows.put_device("dev", DeviceCode("t", "c", "s", "BBBBBBBBB", 100.0)))
    assert await a.write(lambda tx: tx.flows.purge(200.0)) == 2
    assert await a.write(lambda tx: tx.flows.take_code("old")) is None
    assert await a.write(lambda tx: tx.flows.take_code("new")) is not None


async def test_assertion_ids_are_used_once_across_engines(engines: tuple[SqliteEngine, SqliteEngine]) -> None:
    a, b = engines
    assert await a.write(lambda tx: tx.flows.use_jti("client", "j1", 1_000.0, 500.0)) is True
    assert await b.write(lambda tx: tx.flows.use_jti("client", "j1", 1_000.0, 600.0)) is False
    assert await b.write(lambda tx: tx.flows.use_jti("other", "j1", 1_000.0, 600.0)) is True
    # Forgotten once expired: an assertion that old fails the time check anyway.
    assert await a.write(lambda tx: tx.flows.use_jti("client", "j1", 3_000.0, 2_000.0)) is True


async def test_upload_offset_moves_once_per_offset(engines: tuple[SqliteEngine, SqliteEngine]) -> None:
    a, b = engines
    session = UploadSession(
        ids.queue_id(), "f" * 64, "mbx", "item", "big.bin", None, 30, False, None, 0, 500, 1
    )
    await a.write(lambda tx: tx.attachments.put_session(session))
    sid = session.id
    got = await asyncio.gather(
        a.write(lambda tx: tx.upload_parts.advance(sid, 0, 10, 900, "p-a")),
        b.write(lambda tx: tx.upload_parts.advance(sid, 0, 10, 900, "p-b")),
    )
    assert sorted(got) == [False, True]
    winner = "p-a" if got[0] else "p-b"
    assert await b.write(lambda tx: tx.upload_parts.advance(sid, 10, 20, 950, "p-2")) is True
    assert await a.read(lambda tx: tx.upload_parts.parts(sid)) == [winner, "p-2"]
    stored = await a.read(lambda tx: tx.attachments.get_session(sid))
    assert stored is not None and stored.received == 20 and stored.expires_at == 950
    assert await a.write(lambda tx: tx.upload_parts.finish(sid, 10)) is False  # not the expected offset
    assert await b.write(lambda tx: tx.upload_parts.finish(sid, 20)) is True
    assert await a.read(lambda tx: tx.attachments.get_session(sid)) is None
    assert await a.read(lambda tx: tx.upload_parts.parts(sid)) == []
    assert await a.write(lambda tx: tx.upload_parts.advance(sid, 20, 30, 990, "p-3")) is False  # gone


async def test_blob_parts_join_in_order_and_stream(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    first = await blobs.write_part("s1", 0, b"hello ")
    loser = await blobs.write_part("s1", 0, b"HELLO ")  # same offset, its own part
    second = await blobs.write_part("s1", 6, b"world")
    assert len({first, loser, second}) == 3
    blob_hash, size = await blobs.adopt_parts("s1", [first, second])
    assert (blob_hash, size) == (hashlib.sha256(b"hello world").hexdigest(), 11)
    assert await blobs.read(blob_hash) == b"hello world"
    assert [p async for p in blobs.stream(blob_hash, 4)] == [b"hell", b"o wo", b"rld"]
    await blobs.drop_parts("s1")
    assert not (tmp_path / "uploads" / "s1").exists()
    with pytest.raises(FileNotFoundError):
        await blobs.adopt_parts("s1", [first])
