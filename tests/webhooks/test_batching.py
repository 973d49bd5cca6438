"""Batched notification POSTs: the notifications of one claim go out as one `{"value": [...]}` POST per
notification URL and tenant (several changes and several subscriptions in one body); a POST answered
2xx delivers all its items, a failed one retries all of them, each arriving once in the end; URLs and
tenants are never mixed in one body.

The worker is paused while the changes are committed (`runtime.notifier.stop()`), so its next claim
sees all of them at once, as it does under load."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from tests.webhooks.conftest import Served, ServeFn
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_notifications import send_to, subscribe
from tests.webhooks.test_tenant_isolation import ADMIN, _send, _subscribe, _tenant


async def _paused(s: Served) -> None:
    notifier = s.runtime.notifier
    assert notifier is not None
    await notifier.stop()


async def _resume(s: Served) -> None:
    notifier = s.runtime.notifier
    assert notifier is not None
    await notifier.start()


async def _pending(s: Served, expected: int) -> int:
    """The outbox's pending rows once they reach `expected` (delivered rows go in the worker's next
    claim), or as they are after 5 s."""
    for _ in range(100):
        pending = (await s.runtime.engine.read(lambda tx: tx.subscriptions.counts()))["pending"]
        if pending == expected:
            break
        await asyncio.sleep(0.05)
    return pending


def _pairs(items: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((i["subscriptionId"], i["resourceData"]["id"]) for i in items)


async def test_one_post_carries_the_notifications_of_several_changes_and_subscriptions(
    serve: ServeFn, receiver: Receiver
) -> None:
    s = await serve()
    bob = s.token("bob", "Mail.ReadWrite")
    subs = [
        await subscribe(
            s,
            bob,
            notificationUrl=f"{receiver.url}/hook",
            resource="/me/messages",
            changeType="created",
            clientState=f"state-{n}",
        )
        for n in range(3)
    ]
    await _paused(s)
    for n in range(4):
        await send_to(s, "alice", "bob@fabrikam.test", f"batched {n}")
    await _resume(s)
    items = await receiver.wait_for(lambda i: len(i) >= 12)
    assert len(receiver.posts) == 1  # 4 changes x 3 subscriptions, one body
    assert len({i["resourceData"]["id"] for i in items}) == 4
    assert set(_pairs(items).values()) == {1} and len(_pairs(items)) == 12
    states = {sub["id"]: sub["clientState"] for sub in subs}
    assert all(i["clientState"] == states[i["subscriptionId"]] for i in items)  # echoed per item
    assert await _pending(s, 0) == 0


async def test_a_failed_post_retries_all_its_items_and_each_arrives_once(
    serve: ServeFn, receiver: Receiver
) -> None:
    s = await serve()
    bob = s.token("bob", "Mail.ReadWrite")
    for _ in range(2):
        await subscribe(s, bob, notificationUrl=f"{receiver.url}/hook", resource="/me/messages",
                        changeType="created")  # fmt: skip
    await _paused(s)
    receiver.status = 503  # the receiver fails: nothing counts as received
    for n in range(3):
        await send_to(s, "alice", "bob@fabrikam.test", f"retried {n}")
    await _resume(s)
    assert await _pending(s, 6) == 6  # the failed POST left one retry row per (change, subscription)
    assert receiver.posts == []
    receiver.status = 202
    items = await receiver.wait_for(lambda i: len(i) >= 6, within=5.0)
    await asyncio.sleep(1.2)  # two more retry periods: nothing may come twice
    assert len(receiver.items()) == 6
    assert len(_pairs(items)) == 6 and set(_pairs(items).values()) == {1}
    assert len(receiver.posts) == 1  # the retries of one URL and tenant, batched again
    assert await _pending(s, 0) == 0


async def test_different_urls_are_never_mixed_in_one_post(serve: ServeFn, receiver: Receiver) -> None:
    s = await serve()
    bob = s.token("bob", "Mail.ReadWrite")
    by_path: dict[str, set[str]] = {"/a": set(), "/b": set()}
    for path in ("/a", "/b", "/a", "/b"):
        sub = await subscribe(s, bob, notificationUrl=f"{receiver.url}{path}", resource="/me/messages",
                              changeType="created")  # fmt: skip
        by_path[path].add(sub["id"])
    await _paused(s)
    for n in range(3):
        await send_to(s, "alice", "bob@fabrikam.test", f"two urls {n}")
    await _resume(s)
    await receiver.wait_for(lambda i: len(i) >= 12)
    assert sorted(p.path for p in receiver.posts) == ["/a", "/b"]  # one POST per URL
    for post in receiver.posts:
        assert {i["subscriptionId"] for i in post.body["value"]} == by_path[post.path]
        assert len(post.body["value"]) == 6


async def test_a_post_never_mixes_tenants(serve: ServeFn, receiver: Receiver) -> None:
    """Two tenants' apps subscribed with the same URL: their notifications of one claim go in one POST
    each (Graph may mix them; this server does not)."""
    s = await serve(admin_token="isolation-admin")
    (a, token_a), (b, token_b) = await _tenant(s, "A"), await _tenant(s, "B")
    alice_a, bob_a = (u["userPrincipalName"] for u in a["users"])
    alice_b, bob_b = (u["userPrincipalName"] for u in b["users"])
    url = f"{receiver.url}/shared"
    for token, bob in ((token_a, bob_a), (token_a, bob_a), (token_b, bob_b)):
        created = await _subscribe(s, token, bob, url)
        assert created.status_code == 201, created.text
    await _paused(s)
    for n in range(2):
        await _send(s, token_a, alice_a, bob_a, f"A {n}")
        await _send(s, token_b, alice_b, bob_b, f"B {n}")
    await _resume(s)
    await receiver.wait_for(lambda i: len(i) >= 6, within=10)
    tenants = sorted({i["tenantId"] for i in p.body["value"]} == {a["id"]} for p in receiver.posts)
    assert len(receiver.posts) == 2 and tenants == [False, True]
    for post in receiver.posts:
        assert len({i["tenantId"] for i in post.body["value"]}) == 1
    assert Counter(i["tenantId"] for i in receiver.items()) == {a["id"]: 4, b["id"]: 2}
    assert (await s.client.delete(f"/_mailgraph/tenants/{a['id']}", headers=ADMIN)).status_code == 204


async def test_the_workers_own_units_are_written_without_their_own_sync(
    serve: ServeFn, receiver: Receiver
) -> None:
    """The worker's claims, delivery records and retry schedules are bookkeeping a power cut may undo
    (a notification sent again at worst): `durable=False`, so a busy worker adds no fsync between the
    sends' group commits (delivery/webhooks.py). The notifications themselves are the sends' rows."""
    s = await serve()
    bob = s.token("bob", "Mail.ReadWrite")
    await subscribe(
        s, bob, notificationUrl=f"{receiver.url}/hook", resource="/me/messages", changeType="created"
    )
    notifier = s.runtime.notifier
    assert notifier is not None
    inner = notifier._uow
    flags: list[bool] = []

    class Recording:
        async def write(self, fn: Any, *, durable: bool = True) -> Any:
            flags.append(durable)
            return await inner.write(fn, durable=durable)

        def __getattr__(self, name: str) -> Any:
            return getattr(inner, name)

    notifier._uow = Recording()  # type: ignore[assignment]
    receiver.status = 503  # first a failed POST: the retry schedule is written too
    await send_to(s, "alice", "bob@fabrikam.test", "bookkeeping")
    assert await _pending(s, 1) == 1
    receiver.status = 202
    await receiver.wait_for(lambda i: len(i) >= 1, within=5.0)
    assert await _pending(s, 0) == 0
    assert len(flags) >= 2 and not any(flags)  # the claims and the failed POST's retry row
