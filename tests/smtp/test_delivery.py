"""Inbound delivery over a real socket: what lands in the Inbox, read back through the Graph API."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from mailgraph.wiring import Runtime
from tests.api.helpers import folder_items, q
from tests.conftest import TokenFor
from tests.smtp.conftest import SmtpTarget, in_thread

SENDER = "Sam Sender <sam@example.org>"


def mime(
    to: str = "Bob Baker <bob@fabrikam.test>",
    subject: str = "Hello over SMTP",
    extra: str = "",
    body: str = "Hi Bob",
) -> bytes:
    """A small RFC 5322 message (CRLF line ends, as on the wire)."""
    text = (
        f"From: {SENDER}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <m-{abs(hash(subject))}@example.org>\r\n"
        f"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n{extra}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    return text.encode()


def send(smtp: SmtpTarget, recipients: list[str], data: bytes, sender: str = "sam@example.org") -> Any:
    """One transaction on a fresh connection; returns smtplib's refused-recipients dict."""
    with smtp.connect() as client:
        return client.sendmail(sender, recipients, data)


async def headers_of(api: AsyncClient, auth: dict[str, str], item: dict[str, Any]) -> list[dict[str, str]]:
    r = await api.get(f"/v1.0/me/messages/{q(item['id'])}?$select=internetMessageHeaders", headers=auth)
    assert r.status_code == 200, r.text
    found: list[dict[str, str]] = r.json()["internetMessageHeaders"]
    return found


async def test_delivers_to_inbox_with_the_fields_of_a_graph_send(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    assert await in_thread(lambda: send(smtp, ["bob@fabrikam.test"], mime())) == {}
    alice = token_for("alice", "Mail.Send")
    r = await api.post(
        "/v1.0/me/sendMail",
        headers=alice,
        json={
            "message": {
                "subject": "Via Graph",
                "toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test"}}],
            }
        },
    )
    assert r.status_code == 202, r.text
    bob = token_for("bob", "Mail.Read")
    inbox = {m["subject"]: m for m in await folder_items(api, bob, "/v1.0/me", "inbox")}
    by_smtp, by_graph = inbox["Hello over SMTP"], inbox["Via Graph"]
    assert set(by_smtp) == set(by_graph)  # the same Graph shape, property for property
    for name in ("isRead", "isDraft", "parentFolderId", "importance", "inferenceClassification", "flag"):
        assert by_smtp[name] == by_graph[name], name
    assert by_smtp["isRead"] is False and by_smtp["isDraft"] is False
    assert by_smtp["internetMessageId"] == f"<m-{abs(hash('Hello over SMTP'))}@example.org>"  # kept
    assert by_smtp["from"] == {"emailAddress": {"name": "Sam Sender", "address": "sam@example.org"}}
    assert by_smtp["sender"] == by_smtp["from"]
    assert by_smtp["toRecipients"][0]["emailAddress"]["address"] == "bob@fabrikam.test"
    assert by_smtp["body"]["content"].strip() == "Hi Bob"
    assert by_smtp["bodyPreview"] == "Hi Bob"
    assert by_smtp["sentDateTime"] == "2026-03-02T10:00:00Z"  # from the Date field
    assert by_smtp["hasAttachments"] is False
    headers = await headers_of(api, bob, by_smtp)
    assert headers[0]["name"] == "Received"  # our trace field first (RFC 5321 §4.4)
    assert "from client.test ([127.0.0.1])" in headers[0]["value"]
    assert "with ESMTP" in headers[0]["value"] and "for <bob@fabrikam.test>" in headers[0]["value"]
    assert {"name": "Subject", "value": "Hello over SMTP"} in headers


async def test_several_recipients_each_get_one_copy_and_bcc_stays_hidden(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    # Carol is only in the envelope (a Bcc); Bob is named twice, in two spellings.
    rcpts = ["bob@fabrikam.test", "BOB@fabrikam.test", "alice@fabrikam.test", "carol@fabrikam-mail.test"]
    data = mime(to="bob@fabrikam.test, Alice Able <alice@fabrikam.test>", subject="Team")
    assert await in_thread(lambda: send(smtp, rcpts, data)) == {}
    for user in ("alice", "bob", "carol"):
        items = await folder_items(api, token_for(user, "Mail.Read"), "/v1.0/me", "inbox")
        assert [m["subject"] for m in items] == ["Team"], user
        assert items[0]["bccRecipients"] == []
        assert [r["emailAddress"]["address"] for r in items[0]["toRecipients"]] == [
            "bob@fabrikam.test",
            "alice@fabrikam.test",
        ]
        received = (await headers_of(api, token_for(user, "Mail.Read"), items[0]))[0]["value"]
        assert " for <" not in received  # several recipients: the trace does not disclose them


async def test_threading_headers_are_kept(
    smtp: SmtpTarget, runtime: Runtime, api: AsyncClient, token_for: TokenFor
) -> None:
    extra = "In-Reply-To: <root@example.org>\r\nReferences: <root@example.org> <second@example.org>\r\n"
    assert (
        await in_thread(lambda: send(smtp, ["bob@fabrikam.test"], mime(subject="Re: thread", extra=extra)))
        == {}
    )
    bob = token_for("bob", "Mail.Read")
    [item] = await folder_items(api, bob, "/v1.0/me", "inbox")
    names = {h["name"]: h["value"] for h in await headers_of(api, bob, item)}
    assert names["In-Reply-To"] == "<root@example.org>"
    users = await runtime.engine.read(lambda tx: tx.directory.list_users())
    bob_user = next(u for u in users if u.mail == "bob@fabrikam.test")
    stored = await runtime.engine.read(lambda tx: tx.messages.get(bob_user.id, item["id"]))
    assert stored is not None
    assert stored.in_reply_to == "<root@example.org>"
    assert stored.references == "<root@example.org> <second@example.org>"


async def test_a_message_without_message_id_or_date_gets_ours(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    data = b"From: sam@example.org\r\nTo: bob@fabrikam.test\r\nSubject: bare\r\n\r\nbody\r\n"
    assert await in_thread(lambda: send(smtp, ["bob@fabrikam.test"], data)) == {}
    [item] = await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox")
    assert item["internetMessageId"].startswith("<") and item["internetMessageId"].endswith("@fabrikam.test>")
    assert item["sentDateTime"] == item["receivedDateTime"]


async def test_broken_mime_is_delivered_best_effort(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    # A multipart whose closing boundary never comes and whose base64 part is not base64: the parser
    # records defects and reads what it can; a mail server keeps such mail rather than bounce it.
    data = (
        b"From: sam@example.org\r\nTo: bob@fabrikam.test\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n'
        b"readable part\r\n--XX\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!!not base64!!!\r\n"
    )
    assert await in_thread(lambda: send(smtp, ["bob@fabrikam.test"], data)) == {}
    [item] = await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox")
    assert item["subject"] == "broken"
    assert "readable part" in item["body"]["content"]


async def test_content_that_is_not_a_message_is_refused_with_5_6_0(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    def go() -> tuple[int, bytes]:
        with smtp.connect() as client:
            client.mail("sam@example.org")
            client.rcpt("bob@fabrikam.test")
            code, text = client.data(b"\r\njust a body, no header fields at all\r\n")
            assert client.noop()[0] == 250  # the session goes on
            return code, text

    code, text = await in_thread(go)
    assert (code, text[:6]) == (550, b"5.6.0 ")
    assert await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox") == []


async def test_several_messages_on_one_connection(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    def go() -> list[tuple[int, bytes]]:
        replies = []
        with smtp.connect() as client:
            for i in range(5):
                client.mail("sam@example.org")
                client.rcpt("bob@fabrikam.test")
                replies.append(client.data(mime(subject=f"n{i}")))
        return replies

    replies = await in_thread(go)
    assert all(code == 250 and text.startswith(b"2.0.0 OK <m-") for code, text in replies)
    items = await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox")
    assert sorted(m["subject"] for m in items) == [f"n{i}" for i in range(5)]


async def test_a_disconnect_during_data_stores_nothing(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    def go() -> None:
        with smtp.connect() as client:
            client.mail("sam@example.org")
            client.rcpt("bob@fabrikam.test")
            client.putcmd("DATA")
            assert client.getreply()[0] == 354
            client.send(b"Subject: half\r\n\r\nthe rest never comes")
        with smtp.connect() as client:  # the server still serves
            assert client.noop()[0] == 250

    await in_thread(go)
    assert await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox") == []


async def test_a_reply_joins_the_conversation_of_the_message_it_answers(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    alice = token_for("alice", "Mail.Send", "Mail.Read")
    r = await api.post(
        "/v1.0/me/sendMail",
        headers=alice,
        json={
            "message": {
                "subject": "Plan",
                "toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test"}}],
            }
        },
    )
    assert r.status_code == 202, r.text
    bob = token_for("bob", "Mail.Read")
    [original] = await folder_items(api, bob, "/v1.0/me", "inbox")
    parent = original["internetMessageId"]
    extra = f"In-Reply-To: {parent}\r\nReferences: <older@example.org> {parent}\r\n"
    rcpts = ["bob@fabrikam.test", "alice@fabrikam.test", "carol@fabrikam-mail.test"]
    assert await in_thread(lambda: send(smtp, rcpts, mime(subject="Re: Plan", extra=extra))) == {}
    replies = {}
    for user, auth in (("bob", bob), ("alice", alice), ("carol", token_for("carol", "Mail.Read"))):
        replies[user] = next(
            m for m in await folder_items(api, auth, "/v1.0/me", "inbox") if m["subject"] == "Re: Plan"
        )
    # Bob holds the original, Alice its Sent Items copy: same conversation. Carol never saw it: a new one.
    assert replies["bob"]["conversationId"] == original["conversationId"]
    assert replies["alice"]["conversationId"] == original["conversationId"]
    assert replies["carol"]["conversationId"] != original["conversationId"]


async def test_smtputf8_envelope_and_raw_utf8_headers(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    data = "From: Jürgen <jürgen@bücher.example>\r\nTo: bob@fabrikam.test\r\nSubject: Grüße\r\n\r\nHallo\r\n".encode()

    def go() -> object:
        with smtp.connect() as client:
            assert client.has_extn("smtputf8")
            return client.sendmail(
                "jürgen@bücher.example", ["bob@fabrikam.test"], data, mail_options=["SMTPUTF8"]
            )

    assert await in_thread(go) == {}
    [item] = await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox")
    assert item["subject"] == "Grüße"
    assert item["from"]["emailAddress"] == {"name": "Jürgen", "address": "jürgen@bücher.example"}


async def test_null_reverse_path_is_accepted_for_bounces(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    def go() -> tuple[int, bytes]:
        with smtp.connect() as client:
            client.putcmd("MAIL FROM:<>")  # RFC 5321 §4.5.5: notifications use the null reverse-path
            assert client.getreply()[0] == 250
            client.rcpt("bob@fabrikam.test")
            return client.data(b"From: MAILER-DAEMON@example.org\r\nSubject: Undelivered Mail\r\n\r\nx\r\n")

    assert (await in_thread(go))[0] == 250
    assert len(await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox")) == 1
