"""Capture mode, the admin endpoint, the queue commands, waking the worker, and delivery receipts."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import quote

import httpx

from mailgraph.wiring import Runtime
from tests.conftest import TokenFor
from tests.delivery.conftest import MakeWorker
from tests.delivery.helpers import entries, inbox, mail, send
from tests.delivery.sink import Sink, eventually


def _admin(runtime: Runtime) -> dict[str, str]:
    return {"Authorization": f"Bearer {runtime.admin_token}"}


async def test_capture_mode_keeps_mail_and_shows_it(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, sink: Sink, make_worker: MakeWorker
) -> None:
    await send(api, token_for(), mail(["far@example.net"], subject="Kept", bcc=["secret@example.org"]))
    worker = make_worker()  # no relay: capture
    assert worker.mode == "capture"
    assert await worker.run_once() == 2
    assert {e.status for e in await entries(runtime)} == {"captured"}
    assert sink.received == []  # nothing left the machine
    r = await api.get("/admin/queue?status=captured", headers=_admin(runtime))
    assert r.status_code == 200
    listed = r.json()["value"]
    assert {e["recipient"] for e in listed} == {"far@example.net", "secret@example.org"}
    assert listed[0]["lastReply"]["code"] == 250 and "captured" in listed[0]["lastReply"]["text"]
    message_id = listed[0]["messageId"]
    shown = (await api.get(f"/admin/queue/{message_id}", headers=_admin(runtime))).json()
    assert shown["subject"] == "Kept" and len(shown["recipients"]) == 2
    # By internetMessageId too (percent-encoded, as a client would put it in a path).
    by_mid = await api.get(
        "/admin/queue/" + quote(shown["internetMessageId"], safe=""),
        headers=_admin(runtime),
    )
    assert by_mid.status_code == 200 and by_mid.json()["messageId"] == message_id
    mime = await api.get(f"/admin/queue/{message_id}/mime", headers=_admin(runtime))
    assert mime.status_code == 200 and mime.headers["content-type"] == "message/rfc822"
    assert b"Subject: Kept" in mime.content and b"secret@example.org" not in mime.content
    assert shown["internetMessageId"].encode() in mime.content


async def test_admin_retry_and_errors(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, make_worker: MakeWorker
) -> None:
    await send(api, token_for(), mail(["far@example.net"]))
    assert await make_worker().run_once() == 1
    (entry,) = await entries(runtime)
    r = await api.post(f"/admin/queue/{entry.outbound_id}/retry", headers=_admin(runtime))
    assert r.status_code == 200 and r.json() == {"retried": 1}
    assert [e.status for e in await entries(runtime)] == ["queued"]
    assert (
        await api.post(f"/admin/queue/{entry.outbound_id}/retry", headers=_admin(runtime))
    ).status_code == 404
    assert (await api.get("/admin/queue")).status_code == 401
    bad = await api.get("/admin/queue", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "InvalidAuthenticationToken"
    graph = await api.get("/admin/queue", headers=token_for())  # a Graph token is not the admin credential
    assert graph.status_code == 401
    assert (await api.get("/admin/queue/unknown", headers=_admin(runtime))).status_code == 404
    assert (await api.get("/admin/queue?status=lost", headers=_admin(runtime))).status_code == 400
    assert (await api.get("/admin/queue?limit=x", headers=_admin(runtime))).status_code == 400
    assert (await api.delete("/admin/queue", headers=_admin(runtime))).status_code == 405
    assert (await api.get("/admin/other", headers=_admin(runtime))).status_code == 404


async def test_a_send_wakes_the_running_worker(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, sink: Sink, make_worker: MakeWorker
) -> None:
    worker = make_worker(relay=sink.url, queue_poll_s=60.0)  # only the wake-up can be in time
    runtime.uow.signals.subscribe(worker.on_commit)
    await worker.start()
    await send(api, token_for(), mail(["far@example.net"]))
    await eventually(lambda: sink.received, within=15)
    assert (await entries(runtime))[0].status in ("sending", "delivered")
    await worker.stop()
    assert [e.status for e in await entries(runtime)] == ["delivered"]


async def test_delivery_receipt_for_local_recipients(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    await send(
        api,
        token_for(),
        mail(["bob@fabrikam.test", "far@example.net"], subject="Ack?", isDeliveryReceiptRequested=True),
    )
    receipts = [m for m in await inbox(api, token_for()) if m["subject"] == "Delivered: Ack?"]
    assert len(receipts) == 1
    assert "bob@fabrikam.test" in receipts[0]["body"]["content"]
    assert "far@example.net" not in receipts[0]["body"]["content"]  # external: no receipt claimed
    await send(api, token_for(), mail(["bob@fabrikam.test"], subject="No ack"))
    assert not [m for m in await inbox(api, token_for()) if m["subject"] == "Delivered: No ack"]


async def test_queue_commands(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, make_worker: MakeWorker
) -> None:
    await send(api, token_for(), mail(["far@example.net"], subject="Via CLI"))
    assert await make_worker().run_once() == 1
    data = str(runtime.data_dir)

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "mailgraph", "queue", *args, "--data-dir", data],
            capture_output=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.decode()

    listing = run("list")
    assert "captured" in listing and "far@example.net" in listing and "1 entry" in listing
    (entry,) = await entries(runtime)
    assert "Subject: Via CLI" in run("show", entry.internet_message_id)
    assert "0 entries due" in run("retry")  # captured is not retried unless asked
    assert "1 entry due" in run("retry", "--status", "captured")
    assert [e.status for e in await entries(runtime)] == ["queued"]
    assert "0 entries deleted" in run("purge")
    assert "1 entry deleted" in run("purge", "--status", "queued")
    assert await entries(runtime) == []
