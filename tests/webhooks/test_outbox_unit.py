"""The notification outbox is written in the unit of the change: committed with it, or not at all."""

from __future__ import annotations

import pytest

from mailgraph.domain.changes import Change, log_changes
from mailgraph.domain.model import now
from mailgraph.domain.ports import Tx
from mailgraph.domain.subscriptions import Subscription
from mailgraph.domain.webhooks import NotificationHook
from mailgraph.wiring import Runtime
from tests.conftest import Directory


async def _subscribe(runtime: Runtime, directory: Directory, folder: str | None) -> None:
    bob, t = directory.users["bob"], now()
    sub = Subscription("s1", bob.tenant_id, bob.id, "full-app", bob.id, "/me/messages", folder,
                       ("created", "updated", "deleted"), "http://127.0.0.1:9/", None, None, t + 10**9,
                       t + 10**9, False, None, None, (), False, "v1.0", t, t + 10**12)  # fmt: skip
    await runtime.engine.write(lambda tx: tx.subscriptions.insert(sub))


async def test_rolled_back_change_notifies_nobody(runtime: Runtime, directory: Directory) -> None:
    await _subscribe(runtime, directory, None)
    bob = directory.users["bob"]

    async def failing(tx: Tx) -> None:
        tx.changes.record(Change("created", "message", bob.id, "imm", "rest", "f"))
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await runtime.uow.write(failing)
    assert await runtime.engine.read(lambda tx: tx.subscriptions.counts()) == {"pending": 0, "failed": 0}

    async def committed(tx: Tx) -> None:
        tx.changes.record(Change("created", "message", bob.id, "imm", "rest", "f"))
        tx.changes.record(Change("updated", "message", directory.users["alice"].id, "i2", "r2", "f"))

    published = []
    runtime.uow.signals.subscribe(published.append)
    await runtime.uow.write(committed)
    assert await runtime.engine.read(lambda tx: tx.subscriptions.counts()) == {"pending": 1, "failed": 0}
    assert published[-1].notified == 1  # the webhook worker's wake-up


async def test_folder_subscription_sees_moves_as_created_and_deleted(
    runtime: Runtime, directory: Directory
) -> None:
    await _subscribe(runtime, directory, "inbox-id")
    bob = directory.users["bob"]

    async def moves(tx: Tx) -> None:
        tx.changes.record(Change("moved", "message", bob.id, "a", "new-a", "inbox-id", "other", "old-a"))
        tx.changes.record(Change("moved", "message", bob.id, "b", "new-b", "other", "inbox-id", "old-b"))
        tx.changes.record(Change("created", "message", bob.id, "c", "c", "other"))

    await runtime.uow.write(moves)
    rows = await runtime.engine.write(lambda tx: tx.subscriptions.claim(now(), now() + 10**6, 10))
    assert sorted((r.kind, r.event, r.resource_id) for r in rows) == [
        ("fanout", "created", "new-a"),
        ("fanout", "deleted", "old-b"),
    ]


async def test_change_log_and_outbox_are_two_steps_of_one_unit(
    runtime: Runtime, directory: Directory
) -> None:
    """Delta's change log and the notification outbox see the same recorded changes, in the unit's
    transaction: both written on commit, neither on rollback."""
    await _subscribe(runtime, directory, None)
    bob = directory.users["bob"]
    # The notification hook first, the change log last (its clock row lock is then held the shortest).
    assert runtime.uow.before_commit[-1] is log_changes
    assert any(isinstance(step, NotificationHook) for step in runtime.uow.before_commit[:-1])

    async def entries() -> list[tuple[str, str]]:
        # Committed changes are numbered after commit on PostgreSQL (migration 0039): as a delta read,
        # number what is pending first (a no-op on SQLite, which numbers in the unit).
        await runtime.engine.write(lambda tx: tx.change_log.sequence(bob.id))
        got = await runtime.engine.read(lambda tx: tx.change_log.entries(bob.id, 0, 10**12))
        return [(e.kind, e.item_id) for e in got]

    before = await entries()

    async def failing(tx: Tx) -> None:
        tx.changes.record(Change("created", "message", bob.id, "gone", "gone", "f"))
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await runtime.uow.write(failing)
    assert await entries() == before
    assert await runtime.engine.read(lambda tx: tx.subscriptions.counts()) == {"pending": 0, "failed": 0}

    async def committed(tx: Tx) -> None:
        tx.changes.record(Change("created", "message", bob.id, "kept", "kept", "f"))

    await runtime.uow.write(committed)
    assert await entries() == [*before, ("created", "kept")]
    rows = await runtime.engine.write(lambda tx: tx.subscriptions.claim(now(), now() + 10**6, 10))
    assert [(r.event, r.item_id) for r in rows] == [("created", "kept")]
