"""The workbench's send inspection (`/_mailgraph/tenants/{t}/sends/{key}`) shows an SMTP submission
exactly as it shows a Graph sendMail: the Sent Items copy, the local deliveries, the outbound recipients."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from mailgraph.wiring import Runtime
from tests.smtp.conftest import in_thread
from tests.submission.conftest import Submission, app_token, user_token
from tests.submission.test_xoauth2 import ALICE, BOB, EVE, message

FAR = "far@example.net"


async def _report(api: httpx.AsyncClient, runtime: Runtime, key: str) -> dict[str, Any]:
    r = await api.get(
        f"/_mailgraph/tenants/{runtime.tenant.id}/sends/" + quote(key, safe=""),
        headers={"Authorization": f"Bearer {runtime.admin_token}"},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _shape(report: dict[str, Any]) -> dict[str, Any]:
    """What a report says about where a send went (ids and times differ between two sends)."""
    sent = report["sentItem"]
    return {
        "sent": (sent["mailboxId"], sent["from"], sent["toRecipients"], sent["bccRecipients"]),
        "deliveries": sorted(
            (d["mailboxId"], d["isRead"], d["bccRecipients"] == []) for d in report["deliveries"]
        ),
        "outbound": [
            (o["from"], [(r["recipient"], r["status"]) for r in o["recipients"]]) for o in report["outbound"]
        ],
        "reports": report["reports"],
    }


async def test_an_smtp_submission_is_inspected_like_a_graph_send(
    api: httpx.AsyncClient, runtime: Runtime, submission: Submission
) -> None:
    # The same message twice: once by Graph's sendMail (app-only), once over SMTP (delegated XOAUTH2).
    graph = {
        "Authorization": "Bearer "
        + await app_token(api, "https://graph.microsoft.com/.default", "graph-only")
    }
    body = {
        "message": {
            "subject": "By Graph",
            "body": {"contentType": "Text", "content": "Sent over SMTP."},
            "toRecipients": [{"emailAddress": {"address": a}} for a in (BOB, FAR)],
            "bccRecipients": [{"emailAddress": {"address": EVE}}],
        }
    }
    r = await api.post(f"/v1.0/users/{ALICE}/sendMail", json=body, headers=graph)
    assert r.status_code == 202, r.text
    access = await user_token(api, "alice")

    def go() -> bytes:
        with submission.signed_in(ALICE, access) as client:
            client.mail(ALICE)
            for rcpt in (BOB, FAR, EVE):
                assert client.rcpt(rcpt)[0] == 250
            code, reply = client.data(message(ALICE, f"{BOB}, {FAR}", "By SMTP", extra=f"Bcc: {EVE}\r\n"))
            assert code == 250
            return reply

    reply = await in_thread(go)
    smtp_id = reply.decode().split()[2]  # "2.0.0 OK <message-id> queued"
    found = await api.get(
        f"/_mailgraph/tenants/{runtime.tenant.id}/messages",
        params={"subject": "By Graph", "mailbox": ALICE, "folder": "sentitems"},
        headers={"Authorization": f"Bearer {runtime.admin_token}"},
    )
    (graph_sent,) = found.json()["value"]

    by_graph = await _report(api, runtime, graph_sent["internetMessageId"])
    by_smtp = await _report(api, runtime, smtp_id)
    assert by_smtp["sentItem"]["internetMessageId"] == smtp_id
    assert by_smtp["sentItem"]["subject"] == "By SMTP"
    assert _shape(by_smtp) == _shape(by_graph)
    shape = _shape(by_smtp)
    assert len(shape["deliveries"]) == 2  # bob and eve, unread, no Bcc shown
    assert [r for _, recipients in shape["outbound"] for r, _ in recipients] == [FAR]
    # The Sent Items id names the send as well as the internetMessageId does.
    again = await _report(api, runtime, by_smtp["sentItem"]["id"])
    assert again["sentItem"]["immutableId"] == by_smtp["sentItem"]["immutableId"]
