"""A direct reply / forward to an external address wakes the delivery worker after its commit, like a
send does (the outbox pattern, docs/architecture.md): the relay gets it at once, not at the next poll."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from mailgraph.domain import ingest
from mailgraph.domain.inbound import received_message
from mailgraph.domain.model import InternetMessageHeader
from mailgraph.domain.ports import Tx
from mailgraph.mime.parse import parse
from mailgraph.wiring import Runtime
from tests.api.helpers import folder_items, q
from tests.conftest import Directory, TokenFor
from tests.delivery.conftest import MakeWorker
from tests.delivery.helpers import entries
from tests.delivery.sink import Sink, eventually

POLL_S = 60.0  # the worker's idle poll: only the wake-up can deliver within the bounded wait below
WITHIN_S = 20.0  # generous for a loaded 2-core machine, still a third of the poll
ORIGINAL = (
    b"From: Far Sender <far@example.net>\r\n"
    b"To: alice@fabrikam.test\r\n"
    b"Subject: Question\r\n"
    b"Message-ID: <q1@example.net>\r\n"
    b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"Can you help?\r\n"
)


async def _receive_external(runtime: Runtime, directory: Directory) -> None:
    """An external message in Alice's Inbox, as the inbound SMTP path stores it."""
    trace = InternetMessageHeader("Received", "from mx.example.net by fabrikam.test")
    now = time.time_ns() // 1000
    message = received_message(parse(ORIGINAL), "", trace, now, "fabrikam.test")

    async def unit(tx: Tx) -> None:
        await ingest.deliver(tx, message, [directory.users["alice"]], now)

    await runtime.engine.write(unit)


@pytest.mark.parametrize("kind", ["reply", "forward"])
async def test_a_reply_to_an_external_sender_wakes_the_worker(
    api: httpx.AsyncClient,
    token_for: TokenFor,
    runtime: Runtime,
    directory: Directory,
    sink: Sink,
    make_worker: MakeWorker,
    kind: str,
) -> None:
    worker = make_worker(relay=sink.url, queue_poll_s=POLL_S)
    runtime.uow.signals.subscribe(worker.on_commit)  # as `serve` wires it
    cycles: list[int] = []
    run_once = worker.run_once

    async def counted() -> int:  # observe the loop's cycles (what each one handled)
        handled = await run_once()
        cycles.append(handled)
        return handled

    worker.run_once = counted  # type: ignore[method-assign]
    await worker.start()
    await _receive_external(runtime, directory)
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    (original,) = await folder_items(api, alice, "/v1.0/me", "inbox")
    body: dict[str, Any] = {"comment": "Sure"}
    if kind == "forward":
        body["toRecipients"] = [{"emailAddress": {"address": "other@example.org"}}]
    # The first (empty) cycle is over, so the worker sits in its 60 s idle wait: only a wake-up ends it.
    await eventually(lambda: cycles == [0], within=WITHIN_S)
    r = await api.post(f"/v1.0/me/messages/{q(original['id'])}/{kind}", json=body, headers=alice)
    assert r.status_code == 202, r.text
    (received,) = await eventually(lambda: sink.received, within=WITHIN_S)
    expected = "far@example.net" if kind == "reply" else "other@example.org"
    assert received.rcpt_tos == [expected]
    assert received.mail_from == "alice@fabrikam.test"
    message = received.message
    assert message["Subject"] == ("RE: Question" if kind == "reply" else "FW: Question")
    assert message["In-Reply-To"] == "<q1@example.net>"
    await worker.stop()
    assert [e.status for e in await entries(runtime)] == ["delivered"]
