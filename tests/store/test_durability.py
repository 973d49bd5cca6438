"""Per-unit durability (`UnitOfWork.write(durable=False)`, used by the workbench's ephemeral tenants),
once per engine: such a unit commits like any other and skips only its own sync to disk; durable
units keep theirs. And the SQLite checkpointer's pace (a checkpoint is two more fsyncs).

What a unit reads of its engine's sync setting is what its commit does: SQLite's `synchronous` of
the writer connection (2 FULL: fsync at commit, 1 NORMAL: none), PostgreSQL's `synchronous_commit`
of the transaction (on: the commit waits for the WAL flush, off: it does not).
"""

from __future__ import annotations

import asyncio
import time

from mailgraph.domain.ports import Tx
from mailgraph.store.contract import Engine
from mailgraph.store.engines import open_engine
from mailgraph.store.engines.sqlite import SqliteEngine
from tests.store.test_contract import TENANT, seed, user
from tests.store.test_engine_semantics import _heavy


async def _syncs(tx: Tx) -> bool:
    """Whether this unit's commit waits for its own sync to disk."""
    conn = tx.workbench._conn  # type: ignore[attr-defined]  # the unit's connection, to ask it
    if type(conn).__name__ == "SqliteConn":
        row = await conn.fetch_one("PRAGMA synchronous")
        return bool(row is not None and row[0] == 2)
    row = await conn.fetch_one("SELECT current_setting('synchronous_commit')")
    return bool(row is not None and row[0] != "off")


async def test_a_non_durable_unit_commits_and_skips_only_its_own_sync(engine: Engine) -> None:
    await seed(engine, "alice")
    bob = user("bob")

    async def put_bob(tx: Tx) -> bool:
        await tx.directory.put_user(bob)
        return await _syncs(tx)

    assert await engine.write(put_bob, durable=False) is False
    assert await engine.read(lambda tx: tx.directory.get_user(bob.id)) == bob  # committed, visible
    assert await engine.write(_syncs) is True  # the next durable unit syncs (and with it the one before)
    assert await engine.write(_syncs, durable=False) is False


async def test_a_failing_non_durable_unit_rolls_back_alone(engine: Engine) -> None:
    await seed(engine, "alice")
    carol, dave = user("carol"), user("dave")

    async def failing(tx: Tx) -> None:
        await tx.directory.put_user(carol)
        raise ValueError("the unit's own failure")

    results = await asyncio.gather(
        engine.write(failing, durable=False),
        engine.write(lambda tx: tx.directory.put_user(dave), durable=False),
        return_exceptions=True,
    )
    assert isinstance(results[0], ValueError) and results[1] is None
    assert await engine.read(lambda tx: tx.directory.get_user(carol.id)) is None
    assert await engine.read(lambda tx: tx.directory.get_user(dave.id)) == dave


async def test_non_durable_units_survive_a_clean_close(engine_url: str) -> None:
    first = await open_engine(engine_url)
    await first.write(lambda tx: tx.directory.put_tenant(TENANT), durable=False)
    await first.close()
    second = await open_engine(engine_url)
    try:
        assert await second.read(lambda tx: tx.directory.get_tenant(TENANT.id)) == TENANT
    finally:
        await second.close()


async def test_under_durability_normal_no_unit_syncs(engine_url: str) -> None:
    store = await open_engine(engine_url, durability="normal")
    try:
        assert await store.write(_syncs) is False
        assert await store.write(_syncs, durable=False) is False
    finally:
        await store.close()


async def test_sqlite_a_batch_with_one_durable_unit_is_synced(engine: Engine) -> None:
    if not isinstance(engine, SqliteEngine):  # PostgreSQL: a transaction per unit, no batch to test
        return
    await seed(engine, "alice")
    # The units submitted while the heavy one runs queue up and commit as the next batch, together.
    heavy = asyncio.ensure_future(engine.write(_heavy))
    await asyncio.sleep(0)
    mixed = await asyncio.gather(
        engine.write(_syncs, durable=False), engine.write(_syncs), engine.write(_syncs, durable=False)
    )
    await heavy
    assert engine.units > engine.batches  # they did share a batch
    assert mixed == [True, True, True]
    assert await engine.write(_syncs, durable=False) is False  # alone again: no sync


async def test_sqlite_checkpoints_are_paced_not_one_per_commit(engine: Engine) -> None:
    if not isinstance(engine, SqliteEngine):
        return
    await seed(engine, "alice")
    before, started = engine.checkpoints, time.monotonic()
    for i in range(60):
        await engine.write(lambda tx, i=i: tx.directory.put_user(user(f"paced{i}")))
    ran = engine.checkpoints - before
    # At most one per 0.2 s (plus the one under way), whatever the commit rate: an upper bound only.
    assert ran <= (time.monotonic() - started) / 0.2 + 2
