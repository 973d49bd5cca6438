"""The fast delivery path: fanout rows delivered straight (expanded only for failed POSTs), item bytes
from templates, and the lean keep-alive POST client."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import orjson
import pytest

from mailgraph.delivery.webhook_bodies import Bodies
from mailgraph.delivery.webhook_client import HttpError, PostClient
from mailgraph.delivery.webhooks import _members, _pack
from mailgraph.domain.subscriptions import Notification, Subscription, fanout_ref, match_class
from tests.webhooks.conftest import ServeFn
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_notifications import send_to, subscribe


def _sub(i: int, client_state: str | None) -> Subscription:
    return Subscription(f"s{i}", "tenant", "mbx", "app", "user", "/me/messages", None, ("created",),
                        "http://127.0.0.1:9/", None, client_state, 1_700_000_000_123_456 + i, 0, False, None,
                        None, (), False, "v1.0", 0, 0)  # fmt: skip


def test_template_items_are_the_dict_items_serialised() -> None:
    bodies = Bodies(None, lambda m, s, v: {})
    row = Notification("n1", "s0,s1,s2", "fanout", "deleted", "", "tenant", "mbx", "imm", 'rest"é', None,
                       0, "pending", 0, 0, 0)  # fmt: skip
    subs = [_sub(0, None), _sub(1, 'state "quoted" ü'), _sub(2, "")]
    joined = bodies.fanout().items(row, subs, None, None)
    expected = b",".join(orjson.dumps(bodies.item(row, sub, None)) for sub in subs)
    assert joined == expected
    assert [i["clientState"] for i in orjson.loads(b"[" + joined + b"]")] == [None, 'state "quoted" ü', ""]


def test_pack_cuts_posts_at_the_batch_size() -> None:
    row_a = Notification("a", "", "fanout", "created", "", "", "", "", "", None, 0, "pending", 0, 0, 0)
    row_b = Notification("b", "", "fanout", "created", "", "", "", "", "", None, 0, "pending", 0, 0, 0)
    subs = [_sub(i, None) for i in range(5)]
    chunks = _pack([(row_a, subs[:3]), (row_b, subs)], 4)
    assert [[(r.id, len(s)) for r, s in chunk] for chunk in chunks] == [
        [("a", 3), ("b", 1)],
        [("b", 4)],
    ]


async def test_only_the_failed_subscription_is_retried(serve: ServeFn, receiver: Receiver) -> None:
    """Two subscriptions on one Inbox, one receiver failing: the good one gets its notification once,
    the failing one gets it once after it recovers (its own retry row), nobody twice."""
    failing = Receiver(status=500)
    await failing.start()
    try:
        s = await serve()
        bob = s.token("bob", "Mail.ReadWrite")
        good = await subscribe(s, bob, notificationUrl=f"{receiver.url}/ok", resource="/me/messages")
        bad = await subscribe(s, bob, notificationUrl=f"{failing.url}/down", resource="/me/messages")
        await send_to(s, "alice", "bob@fabrikam.test", "one")
        await receiver.wait_for(lambda i: len(i) >= 1)
        counts = await s.runtime.engine.read(lambda tx: tx.subscriptions.counts())
        assert counts["pending"] == 1  # the failed pair only, as a change row of its own
        failing.status = 202
        items = await failing.wait_for(lambda i: len(i) >= 1, within=5.0)
        await asyncio.sleep(1.2)  # two more retry periods: nothing else may arrive
        assert [i["subscriptionId"] for i in receiver.items()] == [good["id"]]
        assert [i["subscriptionId"] for i in failing.items()] == [bad["id"]]
        assert items[0]["resourceData"]["id"] == receiver.items()[0]["resourceData"]["id"]
        assert await s.runtime.engine.read(lambda tx: tx.subscriptions.counts()) == {
            "pending": 0,
            "failed": 0,
        }
    finally:
        await failing.stop()


async def _serve_raw(answers: list[bytes]) -> tuple[asyncio.Server, list[bytes]]:
    """A raw HTTP server that answers each request with the next of `answers` (then closes if asked)."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while answers:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            seen.append(await reader.readexactly(length))
            answer = answers.pop(0)
            writer.write(answer)
            await writer.drain()
            if b"connection: close" in answer.lower() or b"content-length" not in answer.lower():
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, seen


async def test_post_client_reads_every_body_framing_and_reuses_connections() -> None:
    answers = [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n",
        b"HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 204 No Content\r\n\r\n",
        b"HTTP/1.1 201 Created\r\n\r\nuntil close",
    ]
    server, seen = await _serve_raw(answers)
    port = server.sockets[0].getsockname()[1]
    client = PostClient(None)
    try:
        statuses: list[Any] = []
        for i in range(5):
            statuses.append(await client.post(f"http://127.0.0.1:{port}/hook?q=1", b"body%d" % i, "text/x"))
        assert statuses == [202, 200, 500, 204, 201]
        assert seen == [b"body0", b"body1", b"body2", b"body3", b"body4"]
    finally:
        await client.close()
        server.close()


async def test_post_client_resends_once_on_a_connection_closed_while_idle() -> None:
    # The server answers one request per connection and closes it without saying so: the pooled
    # connection is stale on the second POST, which goes out again on a new connection.
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = PostClient(None)
    try:
        assert await client.post(f"http://127.0.0.1:{port}/", b"1", "text/x") == 202
        await asyncio.sleep(0.05)
        assert await client.post(f"http://127.0.0.1:{port}/", b"2", "text/x") == 202
    finally:
        await client.close()
        server.close()
    with pytest.raises(HttpError):  # nobody listens any more
        await client.post(f"http://127.0.0.1:{port}/", b"3", "text/x")


def test_a_fanout_row_resolves_to_its_subscriptions() -> None:
    """New rows name their subscriptions by set version and match classes (`fanout_ref`); rows written
    before migration 0035 list their ids, and are still resolved."""
    mailbox_wide = [replace(_sub(i, None), since_version=i) for i in range(3)]  # versions 0, 1, 2
    in_folder = replace(_sub(3, None), folder_id="inbox", since_version=1)
    other_box = replace(_sub(4, None), mailbox_id="other", since_version=0)
    subs = {s.id: s for s in [*mailbox_wide, in_folder, other_box]}
    wide = match_class(None, ("created",), False)

    def row(ref: str) -> Notification:
        return Notification("n", ref, "fanout", "created", "", "tenant", "mbx", "i", "r", None, 0,
                            "pending", 0, 0, 0)  # fmt: skip

    assert [s.id for s in _members(row(fanout_ref(1, [wide])), subs)] == ["s0", "s1"]
    both = fanout_ref(2, [wide, match_class("inbox", ("created",), False)])
    assert [s.id for s in _members(row(both), subs)] == ["s0", "s1", "s2", "s3"]
    assert [s.id for s in _members(row("s2,gone,s0"), subs)] == ["s2", "s0"]  # the old form
