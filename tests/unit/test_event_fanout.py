"""The SSE fan-out (api/control/fanout.py): one subscriber for many streams, frames built once per
group, only the watched mailboxes' changes, batched writes, and a bounded backlog that ends in
`event: resync` instead of growing without limit."""

from __future__ import annotations

import asyncio

import orjson

from mailgraph.api.control.fanout import RESYNC, EventHub, frames
from mailgraph.domain.changes import AfterCommit, Change, Commit


def _commit(mailbox: str, n: int = 1, queued: int = 0) -> Commit:
    return Commit(
        tuple(Change("created", "message", mailbox, f"i{k}", f"r{k}", "inbox") for k in range(n)), queued
    )


async def _first(stream: object) -> bytes:
    return await anext(stream)  # type: ignore[call-overload, no-any-return]


async def test_streams_of_one_tenant_share_frames_and_see_only_their_mailboxes() -> None:
    signals = AfterCommit()
    hub = EventHub(signals)
    a1, a2 = hub.stream(frozenset({"a"})), hub.stream(frozenset({"a"}))
    b = hub.stream(frozenset({"b"}))
    for s in (a1, a2, b):
        assert (await _first(s)).startswith(b"retry: 1000")
    assert hub.clients == 3
    signals.publish(_commit("a", 2, queued=1))
    signals.publish(_commit("b"))
    got1, got2 = await _first(a1), await _first(a2)
    assert got1 is got2  # the same bytes object: serialized once for the group
    assert got1.count(b"event: message") == 2 and b"event: queue" in got1
    event = got1.split(b"\n\n")[0].split(b"data: ")[1]
    assert orjson.loads(event) == {"kind": "created", "mailboxId": "a", "id": "i0", "restId": "r0",
                                   "folderId": "inbox", "fromFolderId": None}  # fmt: skip
    only_b = await _first(b)
    assert only_b == frames(_commit("b"), frozenset({"b"})) and b'"a"' not in only_b
    for s in (a1, a2, b):
        await s.aclose()  # type: ignore[attr-defined]
    assert hub.clients == 0


async def test_a_slow_reader_gets_resync_instead_of_an_unbounded_backlog() -> None:
    signals = AfterCommit()
    hub = EventHub(signals, max_pending=2_000)
    slow, other = hub.stream(frozenset({"a"})), hub.stream(frozenset({"a"}))
    await _first(slow), await _first(other)
    for _ in range(50):  # ~9 KB of events while `slow` reads nothing
        signals.publish(_commit("a"))
    assert await _first(slow) == RESYNC  # its backlog went; it must reload
    signals.publish(_commit("a"))
    assert (await _first(slow)).startswith(b"event: message")  # and it goes on live
    assert await _first(other) == RESYNC  # `other` did not read either: the same bound for every client
    await asyncio.gather(slow.aclose(), other.aclose())  # type: ignore[attr-defined]
