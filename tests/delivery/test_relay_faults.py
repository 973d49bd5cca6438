"""The acceptance tests of issue 5's outbound half, against an aiosmtpd sink on 127.0.0.1.

A relay that is down, answers 421/451, answers 550, or drops the connection during DATA: no recipient
is lost, none is relayed twice, and each permanent failure yields exactly one non-delivery report.
Cycles are driven with `run_once()` so each attempt is observable; back-off is 10 ms (settings).
"""

from __future__ import annotations

import base64
import socket

import httpx
import pytest

from mailgraph.delivery.policy import RetryPolicy
from mailgraph.delivery.queue import QueueAdmin
from mailgraph.wiring import Runtime, clock
from tests.conftest import TokenFor
from tests.delivery.conftest import MakeWorker
from tests.delivery.helpers import entries, inbox, mail, send
from tests.delivery.sink import Sink, eventually


async def _until_handled(worker: object) -> int:
    run_once = worker.run_once  # type: ignore[attr-defined]
    return int(await eventually(run_once, within=10))


async def test_one_transaction_per_message_and_domain_with_bcc_only_in_the_envelope(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, sink: Sink, make_worker: MakeWorker
) -> None:
    body = mail(
        ["x1@example.net", "X2@Example.NET", "y@example.org", "bob@fabrikam.test"],
        subject="Quarterly",
        bcc=["hidden@example.net"],
    )
    await send(api, token_for(), body)
    worker = make_worker(relay=sink.url)
    assert await worker.run_once() == 4
    got = sorted(sink.received, key=lambda r: len(r.rcpt_tos))
    assert [sorted(r.rcpt_tos) for r in got] == [
        ["y@example.org"],
        sorted(["x1@example.net", "X2@Example.NET", "hidden@example.net"]),
    ]
    queued = await entries(runtime)
    for r in got:
        assert r.mail_from == "alice@fabrikam.test"
        msg = r.message
        assert msg["Bcc"] is None and b"hidden@example.net" not in r.data
        assert msg["Message-ID"] == queued[0].internet_message_id
        assert r.data.startswith(b"Received: from graph-api by ")
        assert msg["Subject"] == "Quarterly"
    assert {(e.status, e.attempts, e.last_reply_code) for e in queued} == {("delivered", 1, 250)}
    assert await worker.run_once() == 0
    assert len(sink.received) == 2  # nothing relayed twice


async def test_relay_down_defers_then_delivers_once(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, sink: Sink, make_worker: MakeWorker
) -> None:
    sink.stop()
    await send(api, token_for(), mail(["far@example.net"]))
    worker = make_worker(relay=sink.url + "?timeout=5")
    assert await worker.run_once() == 1
    (entry,) = await entries(runtime)
    assert entry.status == "deferred" and entry.last_reply_code is None
    assert "connection" in (entry.last_reply_text or "")
    sink.start()
    await _until_handled(worker)
    (entry,) = await entries(runtime)
    assert (entry.status, entry.attempts) == ("delivered", 2)
    assert len(sink.received) == 1
    assert not [m for m in await inbox(api, token_for()) if m["subject"].startswith("Undeliverable")]


@pytest.mark.parametrize("where", ["rcpt-421", "rcpt-451", "data-451"])
async def test_transient_replies_defer_then_deliver_once(
    where: str,
    api: httpx.AsyncClient,
    token_for: TokenFor,
    runtime: Runtime,
    sink: Sink,
    make_worker: MakeWorker,
) -> None:
    stage, code = where.split("-")
    if stage == "rcpt":
        sink.handler.rcpt_replies["far@example.net"] = f"{code} 4.7.1 try again later"
    else:
        sink.handler.data_replies.append(f"{code} 4.3.0 try again later")
    await send(api, token_for(), mail(["far@example.net"]))
    worker = make_worker(relay=sink.url)
    assert await worker.run_once() == 1
    (entry,) = await entries(runtime)
    assert (entry.status, entry.last_reply_code) == ("deferred", int(code))
    sink.handler.rcpt_replies.clear()
    await _until_handled(worker)
    (entry,) = await entries(runtime)
    assert (entry.status, entry.attempts) == ("delivered", 2)
    assert len(sink.received) == 1


async def test_permanent_rejection_fails_that_recipient_with_one_report(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, sink: Sink, make_worker: MakeWorker
) -> None:
    sink.handler.rcpt_replies["nobody@example.net"] = "550 5.1.1 no such user here"
    await send(api, token_for(), mail(["nobody@example.net", "someone@example.net"], subject="Plans"))
    worker = make_worker(relay=sink.url)
    assert await worker.run_once() == 2
    status = {e.recipient: (e.status, e.last_reply_code) for e in await entries(runtime)}
    assert status == {"nobody@example.net": ("failed", 550), "someone@example.net": ("delivered", 250)}
    assert [r.rcpt_tos for r in sink.received] == [["someone@example.net"]]
    assert await worker.run_once() == 0
    reports = [m for m in await inbox(api, token_for()) if m["subject"] == "Undeliverable: Plans"]
    assert len(reports) == 1
    text = reports[0]["body"]["content"]
    assert "nobody@example.net" in text and "550 5.1.1 no such user here" in text
    assert "someone@example.net" not in text.split("Original message details:")[0]
    assert reports[0]["from"]["emailAddress"]["address"] == "postmaster@fabrikam.test"


async def test_data_rejection_fails_the_group_with_one_report_listing_both(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, sink: Sink, make_worker: MakeWorker
) -> None:
    sink.handler.data_replies.append("554 5.6.0 content rejected")
    await send(api, token_for(), mail(["a@example.net", "b@example.net"], subject="Spammy"))
    worker = make_worker(relay=sink.url)
    assert await worker.run_once() == 2
    assert {(e.status, e.last_reply_code) for e in await entries(runtime)} == {("failed", 554)}
    reports = [m for m in await inbox(api, token_for()) if m["subject"] == "Undeliverable: Spammy"]
    assert len(reports) == 1
    assert (
        "a@example.net" in reports[0]["body"]["content"] and "b@example.net" in reports[0]["body"]["content"]
    )
    assert sink.received == []


async def test_connection_dropped_during_data_is_retried_and_relayed_once(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, sink: Sink, make_worker: MakeWorker
) -> None:
    sink.handler.drop_data = 1
    await send(api, token_for(), mail(["far@example.net", "near@example.net"]))
    worker = make_worker(relay=sink.url)
    assert await worker.run_once() == 2
    assert {(e.status, e.last_reply_code) for e in await entries(runtime)} == {("deferred", None)}
    await _until_handled(worker)
    assert {(e.status, e.attempts) for e in await entries(runtime)} == {("delivered", 2)}
    (got,) = sink.received
    assert sorted(got.rcpt_tos) == ["far@example.net", "near@example.net"]


async def test_expiry_fails_with_one_report(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, make_worker: MakeWorker
) -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    await send(api, token_for(), mail(["far@example.net"], subject="Late"))
    worker = make_worker(relay=f"smtp://127.0.0.1:{closed}?timeout=5")
    assert await worker.run_once() == 1
    # An operator's retry with a tiny expiry: the next failed attempt is past it.
    assert await QueueAdmin(runtime.engine, clock, RetryPolicy(expiry_s=0.001)).retry() == 1
    await _until_handled(worker)
    (entry,) = await entries(runtime)
    assert entry.status == "failed" and entry.attempts == 2
    reports = [m for m in await inbox(api, token_for()) if m["subject"] == "Undeliverable: Late"]
    assert len(reports) == 1 and "expired" in reports[0]["body"]["content"]


async def test_a_crashed_workers_lease_expires_and_its_entries_are_delivered_once(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, sink: Sink, make_worker: MakeWorker
) -> None:
    await send(api, token_for(), mail(["far@example.net"]))
    now = clock()
    crashed_lease = now + 300_000  # 0.3 s: the "crashed" worker claimed and never came back
    claimed = await runtime.engine.write(lambda tx: tx.outbox.claim_due(now, crashed_lease, 10))
    assert len(claimed) == 1
    worker = make_worker(relay=sink.url)
    assert await worker.run_once() == 0  # still leased
    await _until_handled(worker)
    (entry,) = await entries(runtime)
    assert entry.status == "delivered"
    # The crashed worker wakes up late: its stale lease records nothing (no second outcome, no NDR).
    stale = await runtime.engine.write(
        lambda tx: tx.outbox.record(entry.id, "failed", now, 550, "late", lease=crashed_lease)
    )
    assert stale is False
    (entry,) = await entries(runtime)
    assert (entry.status, entry.attempts) == ("delivered", 1)
    assert len(sink.received) == 1


async def test_attachments_are_relayed_and_a_report_attaches_the_original(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, sink: Sink, make_worker: MakeWorker
) -> None:
    sink.handler.rcpt_replies["gone@example.org"] = "550 5.1.1 gone"
    attachment = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "notes.txt",
        "contentType": "text/plain",
        "contentBytes": base64.b64encode(b"attached words").decode(),
    }
    body = mail(["ok@example.net", "gone@example.org"], subject="With file")
    body["message"]["attachments"] = [attachment]
    await send(api, token_for(), body)
    worker = make_worker(relay=sink.url)
    assert await worker.run_once() == 2
    (got,) = sink.received
    parts = {p.get_filename(): p.get_content() for p in got.message.iter_attachments()}
    assert parts == {"notes.txt": "attached words"}
    (report,) = [m for m in await inbox(api, token_for()) if m["subject"] == "Undeliverable: With file"]
    assert report["hasAttachments"] is True
    r = await api.get(
        f"/v1.0/users/alice@fabrikam.test/messages/{report['id']}/attachments", headers=token_for()
    )
    (original,) = r.json()["value"]
    assert original["@odata.type"] == "#microsoft.graph.itemAttachment"


async def test_an_unreachable_relay_is_tried_once_per_cycle(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, sink: Sink, make_worker: MakeWorker
) -> None:
    sink.stop()
    for i in range(3):
        await send(api, token_for(), mail([f"r{i}@example.net"], subject=f"m{i}"))
    worker = make_worker(relay=sink.url, worker_concurrency=1)
    assert await worker.run_once() == 3
    texts = sorted(e.last_reply_text or "" for e in await entries(runtime))
    assert {e.status for e in await entries(runtime)} == {"deferred"}
    assert texts[0].startswith("connection to the relay failed")
    assert all(t.startswith("not attempted this cycle: connection") for t in texts[1:])
    sink.start()

    async def all_relayed() -> bool:
        await worker.run_once()
        return len(sink.received) == 3

    await eventually(all_relayed, within=10)
    assert sorted(str(r.message["Subject"]) for r in sink.received) == ["m0", "m1", "m2"]
