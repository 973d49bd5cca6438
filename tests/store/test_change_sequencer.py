"""Change numbers under concurrency (migrations 0015, 0039), on every engine.

PostgreSQL numbers changes after commit: writer units leave them in `change_log_pending` and
sequencers (the background one, and delta reads' per-mailbox one) number them. Here random rounds of
concurrent writer units (some failing after writing), background sequencers in small batches,
per-mailbox sequencers and incremental readers run together. Each writer bumps an item's version
under the item row's lock and logs the version, so the log must give, per item, exactly the committed
versions 1, 2, … in order. Every reader snapshot that sees clock `n` must see every entry up to `n`
(commit order), and a reader that always asks for what is after its last `n` must end with every
entry exactly once. A writer that sequences its mailbox after its commit must then read its change.
On SQLite (numbering in the unit) the same invariants hold trivially; the test guards both.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest

from mailgraph.domain.change_log import LogEntry
from mailgraph.domain.change_sequencer import ChangeSequencer
from mailgraph.domain.changes import AfterCommit, Change, ObservedUnitOfWork
from mailgraph.domain.ports import Tx
from mailgraph.store.contract import Engine
from tests.store.test_folder_count_deltas import Boom, _seed

_BUMP = "UPDATE folders SET total_count = total_count + 1 WHERE id = ? RETURNING total_count"
Touch = tuple[str, str]  # (mailbox id, item id): an item is a folder row here, its version a counter


class Reader:
    """A delta-style reader: remembers the last clock it saw per mailbox and asks only for what is after."""

    def __init__(self, engine: Engine, mailboxes: list[str]) -> None:
        self.engine = engine
        self.seen = dict.fromkeys(mailboxes, 0)
        self.got: dict[str, list[LogEntry]] = {m: [] for m in mailboxes}

    async def read(self, mailbox_id: str, prepare: bool) -> None:
        if prepare:  # what a delta read does when it finds pending changes (domain/delta.py)
            await self.engine.write(lambda tx: tx.change_log.sequence(mailbox_id))
        after = self.seen[mailbox_id]

        async def snapshot(tx: Tx) -> tuple[int, list[LogEntry], list[LogEntry]]:
            clock = await tx.change_log.clock(mailbox_id)
            assert clock is not None
            entries = await tx.change_log.entries(mailbox_id, after, clock.n)
            return clock.n, entries, await tx.change_log.entries(mailbox_id, 0, clock.n)

        n, entries, everything = await self.engine.read(snapshot)
        assert n >= after  # a later snapshot never sees an earlier clock
        # Commit order: a snapshot that sees number n sees every number up to n.
        assert [e.seq for e in everything] == list(range(1, n + 1))
        assert [e.seq for e in entries] == list(range(after + 1, n + 1))
        self.got[mailbox_id] += entries
        self.seen[mailbox_id] = n


def _writer(
    uow: ObservedUnitOfWork, engine: Engine, touch: list[Touch], fails: bool, check_own: bool
) -> Callable[[], Awaitable[list[tuple[str, str, str]]]]:
    async def unit(tx: Tx) -> list[tuple[str, str, str]]:
        done = []
        for mailbox_id, item_id in sorted(touch):  # one lock order: no deadlock between writers
            row = await tx.folders._conn.fetch_one(_BUMP, (item_id,))  # type: ignore[attr-defined]
            assert row is not None
            version = str(row[0])
            tx.changes.record(Change("updated", "folder", mailbox_id, item_id, version, ""))
            done.append((mailbox_id, item_id, version))
        if fails:
            raise Boom
        return done

    async def run() -> list[tuple[str, str, str]]:
        done = await uow.write(unit)
        if check_own:  # read-your-writes: sequence the mailbox, then the change is numbered
            mailbox_id, item_id, version = done[0]
            await engine.write(lambda tx: tx.change_log.sequence(mailbox_id))
            entries = await engine.read(lambda tx: tx.change_log.entries(mailbox_id, 0, 10**12))
            assert (item_id, version) in {(e.item_id, e.rest_id) for e in entries}
        return done

    return run


@pytest.mark.parametrize("seed", [1, 2])
async def test_concurrent_writers_sequencers_and_readers(engine: Engine, seed: int) -> None:
    rng = random.Random(seed)
    owners, folders = await _seed(engine)
    for mailbox_id in owners:
        await engine.write(lambda tx, m=mailbox_id: tx.change_log.ensure_clock(m))  # type: ignore[misc]
        # Start every item at version 0 (provisioning counted nothing, but be explicit).
        await engine.write(
            lambda tx, m=mailbox_id: tx.folders._conn.execute(  # type: ignore[misc]
                "UPDATE folders SET total_count = 0 WHERE mailbox_id = ?", (m,)
            )
        )
    uow = ObservedUnitOfWork(engine, AfterCommit())
    items: list[Touch] = [(m, f) for m in owners for f in folders[m][:3]]
    readers = [Reader(engine, owners) for _ in range(2)]
    sequencer = ChangeSequencer(engine, batch=3)  # small batches: sequencers interleave with writers
    committed: list[tuple[str, str, str]] = []
    for _ in range(8):
        writers = [
            _writer(uow, engine, rng.sample(items, rng.randint(1, 3)), rng.random() < 0.2, rng.random() < 0.3)
            for _ in range(6)
        ]
        jobs: list[Awaitable[object]] = [w() for w in writers]
        jobs += [sequencer.run(), sequencer.run()]
        jobs += [r.read(rng.choice(owners), rng.random() < 0.5) for r in readers]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for result in results[: len(writers)]:
            if isinstance(result, BaseException):
                assert isinstance(result, Boom), result
            else:
                committed += result  # type: ignore[arg-type]
        for result in results[len(writers) :]:
            assert not isinstance(result, BaseException), result
    await sequencer.run()
    for r in readers:
        for m in owners:
            await r.read(m, False)
    log = {m: await engine.read(lambda tx, m=m: tx.change_log.entries(m, 0, 10**12)) for m in owners}  # type: ignore[misc]
    for m in owners:
        assert [e.seq for e in log[m]] == list(range(1, len(log[m]) + 1))  # no gap, no duplicate
        for r in readers:  # every change seen exactly once, none skipped
            assert r.got[m] == log[m]
    # Exactly the committed changes, and per item in version (= commit) order.
    logged = [(m, e.item_id, e.rest_id) for m in owners for e in log[m]]
    assert sorted(logged) == sorted(committed)
    for mailbox_id, item_id in items:
        versions = [int(e.rest_id) for e in log[mailbox_id] if e.item_id == item_id]
        assert versions == list(range(1, len(versions) + 1))
    pending = await engine.read(
        lambda tx: tx.folders._conn.fetch_one("SELECT COUNT(*) FROM change_log_pending")  # type: ignore[attr-defined]
    )
    assert pending is not None and int(pending[0]) == 0
