"""Attachments of received and submitted mail: stored through the attachment API, read back over Graph."""

from __future__ import annotations

import base64
from email.message import EmailMessage

from httpx import AsyncClient

from tests.api.helpers import folder_items, q
from tests.conftest import TokenFor
from tests.smtp.auth_helpers import ALICE_PASSWORD
from tests.smtp.conftest import SmtpTarget, in_thread

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 20
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def with_attachments(sender: str, to: str, subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg.set_content("See the report.")
    msg.add_alternative('<p>See the report. <img src="cid:logo@x"></p>', subtype="html")
    msg.get_payload()[1].add_related(
        PNG, "image", "png", cid="<logo@x>", filename="logo.png", disposition="inline"
    )
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="report.pdf")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))  # SMTP lines end in CRLF


async def attachments_of(
    api: AsyncClient, auth: dict[str, str], item: dict[str, object]
) -> dict[str, dict[str, object]]:
    r = await api.get(f"/v1.0/me/messages/{q(str(item['id']))}/attachments", headers=auth)
    assert r.status_code == 200, r.text
    return {a["name"]: a for a in r.json()["value"]}


async def test_received_attachments_reach_every_recipient(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    data = with_attachments("sam@example.org", "bob@fabrikam.test", "Report")

    def go() -> object:
        with smtp.connect() as client:
            return client.sendmail("sam@example.org", ["bob@fabrikam.test", "alice@fabrikam.test"], data)

    assert await in_thread(go) == {}
    for user in ("bob", "alice"):
        auth = token_for(user, "Mail.Read")
        [item] = await folder_items(api, auth, "/v1.0/me", "inbox")
        assert item["hasAttachments"] is True
        found = await attachments_of(api, auth, item)
        assert set(found) == {"report.pdf", "logo.png"}
        report, logo = found["report.pdf"], found["logo.png"]
        assert report["contentType"] == "application/pdf" and report["isInline"] is False
        assert base64.b64decode(str(report["contentBytes"])) == PDF
        assert report["size"] >= len(PDF)
        assert logo["isInline"] is True and logo["contentId"] in ("logo@x", "<logo@x>")
        assert base64.b64decode(str(logo["contentBytes"])) == PNG


async def test_submitted_attachments_are_in_sent_items_too(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    data = with_attachments("alice@fabrikam.test", "bob@fabrikam.test", "Submitted report")

    def go() -> object:
        with smtp.secure() as client:
            client.login("alice@fabrikam.test", ALICE_PASSWORD)
            return client.sendmail("alice@fabrikam.test", ["bob@fabrikam.test"], data)

    assert await in_thread(go) == {}
    alice = token_for("alice", "Mail.Read")
    [sent] = await folder_items(api, alice, "/v1.0/me", "sentitems")
    assert set(await attachments_of(api, alice, sent)) == {"report.pdf", "logo.png"}
    bob = token_for("bob", "Mail.Read")
    [copy] = await folder_items(api, bob, "/v1.0/me", "inbox")
    found = await attachments_of(api, bob, copy)
    assert base64.b64decode(str(found["report.pdf"]["contentBytes"])) == PDF
