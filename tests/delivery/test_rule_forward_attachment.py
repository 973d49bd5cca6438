"""A rule's forwardAsAttachmentTo to an external address reaches the relay as a MIME message with the
delivered original as a message/rfc822 part; the forwarder runs after the delivery's commit and its own
commit wakes the delivery worker (the outbox pattern twice, docs/architecture.md)."""

from __future__ import annotations

import time
from dataclasses import replace
from email.message import EmailMessage

import httpx

from mailgraph.domain import ingest
from mailgraph.domain.inbound import received_message
from mailgraph.domain.model import InternetMessageHeader
from mailgraph.domain.ports import Tx
from mailgraph.domain.rule_engine import LOOP_HEADER
from mailgraph.mime.parse import parse
from mailgraph.wiring import Runtime, rule_forwarder
from tests.conftest import Directory, TokenFor
from tests.delivery.conftest import FAST, MakeWorker
from tests.delivery.helpers import entries
from tests.delivery.sink import Sink, eventually

POLL_S = 60.0  # idle polls: only the wake-ups can deliver within the bounded wait below
WITHIN_S = 20.0
FAR = "far@example.net"
ORIGINAL = (
    b"From: Near Sender <near@example.org>\r\n"
    b"To: alice@fabrikam.test\r\n"
    b"Subject: Invoice 42\r\n"
    b"Message-ID: <inv42@example.org>\r\n"
    b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"Please pay by Friday.\r\n"
)


async def _receive(runtime: Runtime, directory: Directory) -> None:
    """An external message delivered to Alice as the inbound SMTP path delivers it."""
    trace = InternetMessageHeader("Received", "from mx.example.org by fabrikam.test")
    now = time.time_ns() // 1000
    message = received_message(parse(ORIGINAL), "near@example.org", trace, now, "fabrikam.test")

    async def unit(tx: Tx) -> None:
        await ingest.deliver(tx, message, [directory.users["alice"]], now, envelope_from="near@example.org")

    await runtime.uow.write(unit)


def _attached(message: EmailMessage) -> EmailMessage:
    (part,) = [p for p in message.walk() if p.get_content_type() == "message/rfc822"]
    (inner,) = part.iter_parts()
    assert isinstance(inner, EmailMessage)
    return inner


async def test_an_external_recipient_gets_the_original_as_a_message_rfc822_part(
    api: httpx.AsyncClient,
    token_for: TokenFor,
    runtime: Runtime,
    directory: Directory,
    sink: Sink,
    make_worker: MakeWorker,
) -> None:
    r = await api.post(
        "/v1.0/me/mailFolders/inbox/messageRules",
        json={"displayName": "to the accountant", "sequence": 1,
              "actions": {"forwardAsAttachmentTo": [{"emailAddress": {"address": FAR}}]}},
        headers=token_for("alice", "MailboxSettings.ReadWrite"),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    worker = make_worker(relay=sink.url, queue_poll_s=POLL_S)
    forwarder = rule_forwarder(
        replace(FAST, queue_poll_s=POLL_S), runtime.uow, runtime.app.services.attachments.blobs
    )
    runtime.uow.signals.subscribe(worker.on_commit)  # as `serve` wires them
    runtime.uow.signals.subscribe(forwarder.on_commit)
    await worker.start()
    await forwarder.start()
    try:
        await _receive(runtime, directory)
        (received,) = await eventually(lambda: sink.received, within=WITHIN_S)
    finally:
        await forwarder.stop()
        await worker.stop()
    assert received.rcpt_tos == [FAR] and received.mail_from == "alice@fabrikam.test"
    outer = received.message
    assert outer["Subject"] == "FW: Invoice 42"
    assert outer["From"] == "alice@fabrikam.test" or "alice@fabrikam.test" in outer["From"]
    assert outer[LOOP_HEADER] == "alice@fabrikam.test"
    inner = _attached(outer)
    assert inner["Subject"] == "Invoice 42" and "near@example.org" in inner["From"]
    assert inner["Message-ID"] == "<inv42@example.org>"
    body = inner.get_body(("plain",))
    assert body is not None and "Please pay by Friday." in body.get_content()
    assert [e.status for e in await entries(runtime)] == ["delivered"]
    assert await forwarder.service.pending() == []
