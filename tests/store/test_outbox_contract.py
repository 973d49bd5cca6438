"""Store contract of the outbound queue's delivery methods: guarded record, retry, purge, per-message listing.

Uses the engine fixture of `tests/store/conftest.py`, so every engine that joins it runs these too.
"""

from __future__ import annotations

import asyncio

from mailgraph.domain import ids
from mailgraph.domain.model import QueueEntry
from mailgraph.domain.ports import Tx
from mailgraph.store.contract import Engine
from mailgraph.store.engines import open_engine
from tests.store.test_contract import message, seed


async def _queue(engine: Engine, outbound_id: str, *recipients: str) -> list[QueueEntry]:
    if outbound_id == "o1":
        await seed(engine, "alice")
    users = await engine.read(lambda tx: tx.directory.list_users())
    owner = users[0]
    folders = await engine.read(lambda tx: tx.folders.well_known_ids(owner.id))
    m = message(owner, folders["sentitems"], 10)
    m.internet_message_id = f"<{outbound_id}@x.test>"
    entries = [
        QueueEntry(
            ids.queue_id(), outbound_id, owner.id, r, "x.test", "queued", 0, 10, None, None, None, 99, 10
        )
        for r in recipients
    ]
    await engine.write(lambda tx: tx.outbox.add(outbound_id, m, entries))
    return entries


async def test_record_under_a_lease_only_while_that_lease_holds(engine: Engine) -> None:
    await _queue(engine, "o1", "a@x.test")
    (first,) = await engine.write(lambda tx: tx.outbox.claim_due(20, 50, 10))
    (second,) = await engine.write(lambda tx: tx.outbox.claim_due(60, 90, 10))  # the first lease ran out
    assert first.id == second.id
    stale = await engine.write(lambda tx: tx.outbox.record(first.id, "failed", 60, 550, "no", lease=50))
    assert stale is False
    ok = await engine.write(lambda tx: tx.outbox.record(first.id, "delivered", 70, 250, "ok", lease=90))
    assert ok is True
    (entry,) = await engine.read(lambda tx: tx.outbox.list_entries())
    assert (entry.status, entry.attempts, entry.last_reply_code, entry.lease_until) == (
        "delivered",
        1,
        250,
        None,
    )
    again = await engine.write(lambda tx: tx.outbox.record(first.id, "failed", 80, 550, "no", lease=90))
    assert again is False  # no longer sending: a late duplicate outcome changes nothing


async def test_list_by_message_retry_and_purge(engine: Engine) -> None:
    await _queue(engine, "o1", "a@x.test", "b@x.test")
    await _queue(engine, "o2", "c@x.test")
    by_id = await engine.read(lambda tx: tx.outbox.list_entries(None, 100, None, "o1"))
    by_mid = await engine.read(lambda tx: tx.outbox.list_entries(None, 100, None, "<o1@x.test>"))
    assert {e.recipient for e in by_id} == {e.recipient for e in by_mid} == {"a@x.test", "b@x.test"}
    claimed = await engine.write(lambda tx: tx.outbox.claim_due(20, 50, 10))

    async def settle(tx: Tx) -> None:
        for e in claimed:
            await tx.outbox.record(
                e.id, "failed" if e.recipient == "a@x.test" else "delivered", 30, 250, "x", lease=50
            )

    await engine.write(settle)
    assert await engine.write(lambda tx: tx.outbox.retry(100, 200, ["deferred"], [])) == 0
    revived = await engine.write(lambda tx: tx.outbox.retry(100, 200, ["failed"], []))
    assert revived == 1
    (entry,) = await engine.read(lambda tx: tx.outbox.list_entries("queued"))
    assert (entry.recipient, entry.next_attempt_at, entry.expires_at) == ("a@x.test", 100, 200)
    only_c = [e.id for e in claimed if e.recipient == "c@x.test"]
    assert await engine.write(lambda tx: tx.outbox.retry(100, 200, ["delivered"], only_c)) == 1
    assert await engine.write(lambda tx: tx.outbox.purge(["delivered"])) == 1  # b
    assert await engine.read(lambda tx: tx.outbox.get_message("o1")) is not None  # a still refers to it
    assert await engine.write(lambda tx: tx.outbox.purge(["queued"])) == 2
    assert await engine.read(lambda tx: tx.outbox.list_entries()) == []
    assert await engine.read(lambda tx: tx.outbox.get_message("o1")) is None
    assert await engine.read(lambda tx: tx.outbox.get_message("o2")) is None


async def test_concurrent_claims_from_two_engines_never_share_an_entry(engine_url: str) -> None:
    """Two engines (as two processes would) on one database, claiming at once, lease disjoint entries."""
    first = await open_engine(engine_url)
    second = await open_engine(engine_url)
    try:
        await seed(first, "alice")
        queued: set[str] = set()
        for n in range(4):
            entries = await _queue(first, f"o{n + 2}", *(f"r{n}-{i}@x.test" for i in range(40)))
            queued |= {e.id for e in entries}

        async def drain(engine: Engine) -> list[str]:
            got: list[str] = []
            while True:
                claimed = await engine.write(lambda tx: tx.outbox.claim_due(20, 10**15, 3))
                if not claimed:
                    return got
                assert all(e.status == "sending" and e.lease_until == 10**15 for e in claimed)
                got += [e.id for e in claimed]

        results = await asyncio.gather(*(drain(e) for e in (first, second, first, second)))
        every = [i for r in results for i in r]
        assert len(every) == len(set(every)) == len(queued) and set(every) == queued
        # Which engine wins each race is up to the scheduler (SQLite's busy handler can starve one for a
        # whole drain on a loaded machine): the property is that no entry is leased twice, checked above.
    finally:
        await first.close()
        await second.close()
