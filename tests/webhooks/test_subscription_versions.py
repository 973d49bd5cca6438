"""Subscription sets are cached per process by version (migration 0027), and stay correct when the set is
changed behind the process's back: the store bumps the version in the transaction of every insert,
renew and delete, whoever makes it (another `serve` process or host writes the same rows this test
writes straight through the engine, past every in-process cache)."""

from __future__ import annotations

import asyncio

from mailgraph.delivery.webhooks import _members
from mailgraph.domain.changes import Change
from mailgraph.domain.model import SECOND, now
from mailgraph.domain.ports import Tx
from mailgraph.domain.subscriptions import Subscription, graph_time
from mailgraph.wiring import Runtime
from tests.conftest import Directory
from tests.webhooks.conftest import ServeFn
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_notifications import send_to, subscribe


def _sub(sub_id: str, directory: Directory, expires_in: int = 10**9) -> Subscription:
    bob, t = directory.users["bob"], now()
    return Subscription(sub_id, bob.tenant_id, bob.id, "full-app", bob.id, "/me/messages", None,
                        ("created",), "http://127.0.0.1:9/", None, None, t + expires_in, t + 10**9, False,
                        None, None, (), False, "v1.0", t, t + 10**12)  # fmt: skip


async def _change(runtime: Runtime, directory: Directory, item: str) -> None:
    """Commit one created message change for Bob through the observed unit of work."""
    bob = directory.users["bob"]

    async def unit(tx: Tx) -> None:
        tx.changes.record(Change("created", "message", bob.id, item, item, "f"))

    await runtime.uow.write(unit)


async def _drain(runtime: Runtime, directory: Directory) -> dict[str, list[str]]:
    """The outbox rows by item, each with the live subscriptions it is for (as the worker resolves
    its reference, sorted); then empty the outbox."""
    bob = directory.users["bob"]
    rows = await runtime.engine.write(lambda tx: tx.subscriptions.claim(now(), now() + 10**6, 10))
    live = await runtime.engine.read(lambda tx: tx.subscriptions.of_mailbox(bob.id, now()))
    await runtime.engine.write(lambda tx: tx.subscriptions.delivered([r.id for r in rows], now() + 10**6))
    assert all(len(r.subscription_id) < 64 for r in rows)  # a reference, not a list of ids
    return {r.item_id: sorted(sub.id for sub in _members(r, {s.id: s for s in live})) for r in rows}


async def _notified(runtime: Runtime, directory: Directory, item: str) -> list[str]:
    """The subscriptions one change of Bob's is for (sorted), then empty the outbox."""
    await _change(runtime, directory, item)
    return (await _drain(runtime, directory)).get(item, [])


async def test_the_unit_sees_sets_changed_by_another_process(runtime: Runtime, directory: Directory) -> None:
    assert await _notified(runtime, directory, "m0") == []  # no subscription ever: nothing
    await runtime.engine.write(lambda tx: tx.subscriptions.insert(_sub("s1", directory)))
    assert await _notified(runtime, directory, "m1") == ["s1"]
    assert await _notified(runtime, directory, "m2") == ["s1"]  # from the cached set
    await runtime.engine.write(lambda tx: tx.subscriptions.insert(_sub("s2", directory)))
    assert await _notified(runtime, directory, "m3") == ["s1", "s2"]
    await runtime.engine.write(lambda tx: tx.subscriptions.delete("s1"))
    assert await _notified(runtime, directory, "m4") == ["s2"]
    await runtime.engine.write(lambda tx: tx.subscriptions.delete("s2"))
    assert await _notified(runtime, directory, "m5") == []


async def test_a_row_is_not_for_subscriptions_created_after_it(
    runtime: Runtime, directory: Directory
) -> None:
    """A fanout row names its subscriptions by the set's version: one created after the change (a
    later version, `since_version`) does not get it, even when the worker resolves the row later."""
    await runtime.engine.write(lambda tx: tx.subscriptions.insert(_sub("old", directory)))
    await _change(runtime, directory, "before")
    await runtime.engine.write(lambda tx: tx.subscriptions.insert(_sub("new", directory)))
    await _change(runtime, directory, "after")
    assert await _drain(runtime, directory) == {"before": ["old"], "after": ["new", "old"]}


async def test_an_expiring_subscription_drops_out_of_the_cached_set(
    runtime: Runtime, directory: Directory
) -> None:
    await runtime.engine.write(lambda tx: tx.subscriptions.insert(_sub("long", directory)))
    await runtime.engine.write(lambda tx: tx.subscriptions.insert(_sub("short", directory, 2 * SECOND)))
    assert await _notified(runtime, directory, "m1") == ["long", "short"]
    await asyncio.sleep(2.1)  # past the short one's expiry (the version did not move)
    assert await _notified(runtime, directory, "m2") == ["long"]


async def test_the_worker_sees_renewals_and_deletions_by_another_process(
    serve: ServeFn, receiver: Receiver
) -> None:
    s = await serve()
    bob = s.token("bob", "Mail.ReadWrite")
    first = await subscribe(s, bob, notificationUrl=f"{receiver.url}/a", resource="/me/messages",
                            changeType="created")  # fmt: skip
    second = await subscribe(s, bob, notificationUrl=f"{receiver.url}/b", resource="/me/messages",
                             changeType="created")  # fmt: skip
    await send_to(s, "alice", "bob@fabrikam.test", "one")
    before = {i["subscriptionId"]: i["subscriptionExpirationDateTime"] for i in
              await receiver.wait_for(lambda items: len(items) >= 2)}  # fmt: skip

    renewed = now() + 3600 * SECOND
    await s.runtime.engine.write(lambda tx: tx.subscriptions.renew(first["id"], renewed, renewed))
    await send_to(s, "alice", "bob@fabrikam.test", "two")
    await receiver.wait_for(lambda items: len(items) >= 4)
    latest = {i["subscriptionId"]: i["subscriptionExpirationDateTime"] for i in receiver.items()}
    assert latest[first["id"]] == graph_time(renewed)  # the body was built from the reread set
    assert latest[first["id"]] != before[first["id"]]
    assert latest[second["id"]] == before[second["id"]]

    await s.runtime.engine.write(lambda tx: tx.subscriptions.delete(second["id"]))
    await send_to(s, "alice", "bob@fabrikam.test", "three")
    await receiver.wait_for(lambda items: len(items) >= 5)
    await send_to(s, "alice", "bob@fabrikam.test", "four")
    items = await receiver.wait_for(lambda items: len(items) >= 6)
    assert [i["subscriptionId"] for i in items[4:]] == [first["id"], first["id"]]
