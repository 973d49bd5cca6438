"""MIME over Graph through the real app: `$value`, MIME create, MIME sendMail, bad and hostile MIME."""

from __future__ import annotations

import base64
from email import message_from_bytes, policy
from typing import Any

import pytest
from httpx import AsyncClient

from tests.api.helpers import JSON, assert_graph_error, create_draft, folder_items, q
from tests.conftest import TokenFor

ROOTS = ["/v1.0", "/beta"]
TEXT = {"Content-Type": "text/plain"}


def b64(raw: bytes) -> bytes:
    return base64.encodebytes(raw)  # wrapped at 76 columns, as clients send it (spec §2.1)


def mime(subject: str = "From MIME", to: str = "bob@fabrikam.test", **extra: str) -> bytes:
    head = [
        "From: Alice Able <alice@fabrikam.test>",
        f"To: Bob Baker <{to}>",
        "Cc: =?utf-8?q?Carol_Cl=C3=A4rk?= <carol@fabrikam-mail.test>",
        f"Subject: {subject}",
        "Message-ID: <mime-1@client.test>",
        "In-Reply-To: <orig@x.test>",
        "References: <root@x.test> <orig@x.test>",
        "X-Ticket: T-42",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b1"',
        *(f"{k.replace('_', '-')}: {v}" for k, v in extra.items()),
    ]
    body = [
        "",
        "--b1",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "Gr=C3=BC=C3=9Fe, Bob",
        "--b1",
        "Content-Type: application/pdf",
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="q3.pdf"',
        "",
        base64.b64encode(b"%PDF-1.4 quarterly").decode(),
        "--b1--",
        "",
    ]
    return "\r\n".join(head + body).encode()


async def get_value(api: AsyncClient, headers: dict[str, str], path: str) -> Any:
    r = await api.get(f"{path}/$value", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/plain"
    return message_from_bytes(r.content, policy=policy.default)


@pytest.mark.parametrize("version", ROOTS)
async def test_value_of_a_draft_and_its_sent_and_received_copies(
    api: AsyncClient, token_for: TokenFor, version: str
) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    bob = token_for("bob", "Mail.Read")
    extra = {
        "bccRecipients": [{"emailAddress": {"address": "carol@fabrikam-mail.test"}}],
        "internetMessageHeaders": [{"name": "x-ticket", "value": "T-7"}],
        "importance": "high",
    }
    draft = await create_draft(api, alice, f"{version}/me", subject="Grüße", **extra)
    mail = await get_value(api, alice, f"{version}/me/messages/{q(draft['id'])}")
    assert mail["Subject"] == "Grüße"
    assert mail["Message-ID"] == draft["internetMessageId"]
    assert mail["From"] == "Alice Able <alice@fabrikam.test>"  # the owner, as once sent (spec §2.2)
    assert mail["Bcc"] == "carol@fabrikam-mail.test"  # the sender's own copy shows Bcc
    assert mail["x-ticket"] == "T-7" and mail["Importance"] == "high"
    assert mail["Thread-Index"] == draft["conversationIndex"]
    assert mail.get_content().rstrip("\r\n") == "Hi there"
    folder = await get_value(api, alice, f"{version}/me/mailFolders/drafts/messages/{q(draft['id'])}")
    assert folder["Message-ID"] == draft["internetMessageId"]
    r = await api.post(f"{version}/me/messages/{q(draft['id'])}/send", headers=alice)
    assert r.status_code == 202
    sent = (await folder_items(api, alice, f"{version}/me", "sentitems"))[0]
    assert (await get_value(api, alice, f"{version}/me/messages/{q(sent['id'])}"))["Bcc"]
    copy = (await folder_items(api, bob, f"{version}/me", "inbox"))[0]
    received = await get_value(api, bob, f"{version}/me/messages/{q(copy['id'])}")
    assert "Bcc" not in received  # recipients' copies never show Bcc (RFC 5322 §3.6.3)
    assert received["Subject"] == "Grüße"


async def test_value_errors(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    r = await api.get("/v1.0/me/messages/AAMkAGI1AAAt9AHjAAA=/$value", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    draft = await create_draft(api, alice)
    r = await api.get(f"/v1.0/me/mailFolders/inbox/messages/{q(draft['id'])}/$value", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    basic = token_for("alice", "Mail.ReadBasic")  # the MIME would reveal the body (spec §2.4)
    r = await api.get(f"/v1.0/me/messages/{q(draft['id'])}/$value", headers=basic)
    assert_graph_error(r, 403, "ErrorAccessDenied")
    r = await api.get(f"/v1.0/me/messages/{q(draft['id'])}/$value?$select=subject", headers=alice)
    assert r.status_code == 400


async def test_internet_message_headers_select(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    bob = token_for("bob", "Mail.Read")
    headers = [{"name": "x-ticket", "value": "T-1"}]
    draft = await create_draft(api, alice, internetMessageHeaders=headers)
    assert "internetMessageHeaders" not in draft  # only via $select (spec §2.2)
    r = await api.get(f"/v1.0/me/messages/{q(draft['id'])}?$select=internetMessageHeaders", headers=alice)
    assert r.json()["internetMessageHeaders"] == headers  # a draft: its custom headers
    await api.post(f"/v1.0/me/messages/{q(draft['id'])}/send", headers=alice)
    copy = (await folder_items(api, bob, "/v1.0/me", "inbox"))[0]
    r = await api.get(f"/v1.0/me/messages/{q(copy['id'])}?$select=internetMessageHeaders", headers=bob)
    shown = {h["name"]: h["value"] for h in r.json()["internetMessageHeaders"]}
    assert shown["Message-ID"] == draft["internetMessageId"]  # received: the transport header set
    assert shown["x-ticket"] == "T-1" and shown["Subject"] == "Hello" and "Bcc" not in shown


@pytest.mark.parametrize("root", ["/v1.0/me", "/beta/users/alice@fabrikam.test"])
async def test_create_draft_from_mime(api: AsyncClient, token_for: TokenFor, root: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    r = await api.post(f"{root}/messages", content=b64(mime()), headers=alice | TEXT)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["isDraft"] is True
    assert draft["subject"] == "From MIME"
    assert draft["body"] == {"contentType": "text", "content": "Grüße, Bob"}
    assert draft["toRecipients"] == [{"emailAddress": {"name": "Bob Baker", "address": "bob@fabrikam.test"}}]
    assert draft["ccRecipients"][0]["emailAddress"]["name"] == "Carol Clärk"
    assert draft["internetMessageId"] == "<mime-1@client.test>"  # the MIME's own id is kept
    assert draft["hasAttachments"] is True
    r = await api.get(f"{root}/messages/{q(draft['id'])}/attachments", headers=alice)
    assert [(a["name"], a["contentType"]) for a in r.json()["value"]] == [("q3.pdf", "application/pdf")]
    value = await get_value(api, alice, f"{root}/messages/{q(draft['id'])}")
    assert value["In-Reply-To"] == "<orig@x.test>"
    assert value["References"] == "<root@x.test> <orig@x.test>"
    assert value["X-Ticket"] == "T-42"
    parts = [p.get_filename() for p in value.iter_attachments()]
    assert parts == ["q3.pdf"]


async def test_create_in_folder_from_mime(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    r = await api.post("/v1.0/me/mailFolders/inbox/messages", content=b64(mime()), headers=alice | TEXT)
    assert r.status_code == 201, r.text
    assert len(await folder_items(api, alice, "/v1.0/me", "inbox")) == 1


@pytest.mark.parametrize("version", ROOTS)
async def test_send_mail_in_mime_mode(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.Send", "Mail.ReadWrite")
    bob = token_for("bob", "Mail.Read")
    raw = mime(subject="=?utf-8?b?" + base64.b64encode("Q3 – Zahlen".encode()).decode() + "?=")
    r = await api.post(f"{version}/me/sendMail", content=b64(raw), headers=alice | TEXT)
    assert r.status_code == 202, r.text
    assert r.content == b""
    assert await folder_items(api, alice, f"{version}/me", "drafts") == []
    sent = await folder_items(api, alice, f"{version}/me", "sentitems")
    assert [s["subject"] for s in sent] == ["Q3 – Zahlen"]
    inbox = await folder_items(api, bob, f"{version}/me", "inbox")
    assert len(inbox) == 1
    copy = inbox[0]
    assert copy["subject"] == "Q3 – Zahlen"
    assert copy["from"]["emailAddress"]["address"] == "alice@fabrikam.test"
    assert copy["body"]["content"] == "Grüße, Bob"
    assert copy["internetMessageId"] == "<mime-1@client.test>"
    assert copy["hasAttachments"] is True
    value = await get_value(api, bob, f"{version}/me/messages/{q(copy['id'])}")
    assert value["In-Reply-To"] == "<orig@x.test>"


async def test_send_mail_mime_from_someone_else_is_denied(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.Send")
    raw = mime().replace(b"From: Alice Able <alice@fabrikam.test>", b"From: <ceo@fabrikam.test>")
    r = await api.post("/v1.0/me/sendMail", content=b64(raw), headers=alice | TEXT)
    assert_graph_error(r, 403, "ErrorSendAsDenied")


@pytest.mark.parametrize("path", ["/v1.0/me/messages", "/beta/me/sendMail"])
@pytest.mark.parametrize("body", [b"not base64 at all!", b"QUJ", b"", "ünïcode".encode()])
async def test_bad_base64(api: AsyncClient, token_for: TokenFor, path: str, body: bytes) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    r = await api.post(path, content=body, headers=alice | TEXT)
    error = assert_graph_error(r, 400, "ErrorMimeContentInvalidBase64String")
    assert error["message"] == "Invalid base64 string for MIME content."


def nested(depth: int) -> bytes:
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth)
    )
    return b"Subject: s\r\nTo: bob@fabrikam.test\r\n" + head + b"Content-Type: text/plain\r\n\r\nx\r\n"


def many(parts: int) -> bytes:
    body = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(parts))
    return b"Subject: s\r\nTo: bob@fabrikam.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + body


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"just words, no header", id="not a message"),
        pytest.param(many(5000), id="5000 parts"),
        pytest.param(nested(100), id="100 deep"),
        pytest.param(b"To: " + b"(" * 50_000 + b"\r\n\r\nx", id="nested comments"),
        pytest.param(b"Subject: " + b"a" * 100_000 + b"\r\n\r\nx", id="huge header"),
    ],
)
@pytest.mark.parametrize("path", ["/v1.0/me/messages", "/v1.0/me/sendMail"])
async def test_malformed_and_hostile_mime(
    api: AsyncClient, token_for: TokenFor, path: str, raw: bytes
) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    r = await api.post(path, content=b64(raw), headers=alice | TEXT)
    assert_graph_error(r, 400, "ErrorMimeContentConversionFailed")
    assert await folder_items(api, alice, "/v1.0/me", "drafts") == []  # nothing half written


async def test_mime_draft_rules_still_apply(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    to = ", ".join(f"u{i}@x.test" for i in range(501))
    raw = f"To: {to}\r\nSubject: many\r\n\r\nx".encode()
    r = await api.post("/v1.0/me/messages", content=b64(raw), headers=alice | TEXT)
    assert_graph_error(r, 400, "ErrorInvalidRecipients")
    r = await api.post("/v1.0/me/messages", json={"subject": "json still works"}, headers=alice | JSON)
    assert r.status_code == 201


async def test_mime_send_without_recipients_leaves_nothing(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    raw = "Subject: nobody\r\nX-Note: raw UTF-8 (RFC 6532): Grüße\r\n\r\nx\r\n".encode()
    r = await api.post("/v1.0/me/sendMail", content=b64(raw), headers=alice | TEXT)
    assert_graph_error(r, 400, "ErrorInvalidRecipients")
    for folder in ("drafts", "sentitems"):
        assert await folder_items(api, alice, "/v1.0/me", folder) == []
    r = await api.post("/v1.0/me/messages", content=b64(raw), headers=alice | TEXT)
    assert r.status_code == 201
    r = await api.get(f"/v1.0/me/messages/{q(r.json()['id'])}?$select=internetMessageHeaders", headers=alice)
    assert r.json()["internetMessageHeaders"] == [{"name": "X-Note", "value": "raw UTF-8 (RFC 6532): Grüße"}]
