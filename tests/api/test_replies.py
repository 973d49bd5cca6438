"""createReply/createReplyAll/createForward and reply/replyAll/forward through the real app (spec §2.7, §2.8)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient
from hypothesis import given
from hypothesis import strategies as st

from mailgraph.api.prefer import parse_prefer
from mailgraph.domain import quoting
from mailgraph.domain.replies import child_conversation_index, subject
from mailgraph.wiring import Runtime
from tests.api.helpers import JSON, assert_graph_error, draft_body, folder_items, q
from tests.conftest import Directory, TokenFor

ROOTS = ["/v1.0", "/beta"]
ALICE, BOB, CAROL = "alice@fabrikam.test", "bob@fabrikam.test", "carol@fabrikam-mail.test"


def _addresses(items: list[dict[str, Any]]) -> list[str]:
    return [r["emailAddress"]["address"].lower() for r in items]


async def _received(
    api: AsyncClient, token_for: TokenFor, version: str = "/v1.0", **extra: Any
) -> tuple[dict[str, str], dict[str, Any]]:
    """Alice sends Bob (To) and Carol (Cc) a message; returns Bob's headers and his Inbox copy."""
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    body = draft_body(
        to=[BOB], subject="Budget", ccRecipients=[{"emailAddress": {"address": CAROL}}], **extra
    )
    r = await api.post(f"{version}/me/sendMail", json={"message": body}, headers=alice)
    assert r.status_code == 202, r.text
    bob = token_for("bob", "Mail.ReadWrite", "Mail.Send")
    inbox = await folder_items(api, bob, f"{version}/me", "inbox")
    assert len(inbox) == 1
    return bob, inbox[0]


@pytest.mark.parametrize("version", ROOTS)
async def test_create_reply_builds_the_draft(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime, directory: Directory, version: str
) -> None:
    html = {"contentType": "HTML", "content": "<p>Hi there</p>"}
    bob, original = await _received(api, token_for, version, body=html)
    r = await api.post(
        f"{version}/me/messages/{q(original['id'])}/createReply",
        json={"comment": "Sounds <good>"},
        headers=bob,
    )
    assert r.status_code == 201, r.text
    draft = r.json()
    assert r.headers["location"].endswith(f"/messages('{q(draft['id'])}')")
    assert draft["@odata.context"].endswith("/messages/$entity")
    assert draft["isDraft"] is True and draft["subject"] == "RE: Budget"
    assert _addresses(draft["toRecipients"]) == [ALICE]
    assert draft["ccRecipients"] == [] and draft["bccRecipients"] == []
    assert _addresses([draft["from"], draft["sender"]]) == [BOB, BOB]
    assert draft["conversationId"] == original["conversationId"]
    parent = base64.b64decode(original["conversationIndex"])
    child = base64.b64decode(draft["conversationIndex"])
    assert len(child) == len(parent) + 5 and child.startswith(parent)
    body = draft["body"]
    assert body["contentType"] == "html"
    content = body["content"]
    assert "Sounds &lt;good&gt;" in content
    assert content.index("Sounds") < content.index("<b>From:</b> Alice Able &lt;alice@fabrikam.test&gt;")
    for line in (
        "<b>Sent:</b>",
        "<b>To:</b> bob@fabrikam.test",
        "<b>Cc:</b> carol@fabrikam-mail.test",
        "<b>Subject:</b> Budget",
    ):
        assert line in content
    assert content.rstrip().endswith("</html>") and "Hi there" in content
    drafts = await folder_items(api, bob, f"{version}/me", "drafts")
    assert [d["id"] for d in drafts] == [draft["id"]]
    # Threading headers (not Graph properties): In-Reply-To and References from the original.
    bob_id = directory.users["bob"].id
    stored = await runtime.engine.read(lambda tx: tx.messages.get(bob_id, draft["id"]))
    assert stored is not None
    assert stored.in_reply_to == original["internetMessageId"]
    assert stored.references == original["internetMessageId"]


@pytest.mark.parametrize("version", ROOTS)
async def test_create_reply_all_and_reply_to(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    extra = {"replyTo": [{"emailAddress": {"address": "list@fabrikam.test"}}]}
    bob, original = await _received(api, token_for, version, **extra)
    r = await api.post(f"{version}/me/messages/{q(original['id'])}/createReplyAll", headers=bob)
    assert r.status_code == 201, r.text
    draft = r.json()
    # replyTo wins over from; the owner (Bob, in To) is dropped; Carol stays in Cc.
    assert _addresses(draft["toRecipients"]) == ["list@fabrikam.test"]
    assert _addresses(draft["ccRecipients"]) == [CAROL]
    r = await api.post(f"{version}/me/messages/{q(original['id'])}/createReply", headers=bob)
    assert _addresses(r.json()["toRecipients"]) == ["list@fabrikam.test"]


async def test_reply_all_without_reply_to_and_without_duplicates(
    api: AsyncClient, token_for: TokenFor
) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    body = draft_body(
        to=[BOB, ALICE.upper(), CAROL], ccRecipients=[{"emailAddress": {"address": CAROL}}], subject="Plan"
    )
    assert (await api.post("/v1.0/me/sendMail", json={"message": body}, headers=alice)).status_code == 202
    bob = token_for("bob", "Mail.ReadWrite", "Mail.Send")
    original = (await folder_items(api, bob, "/v1.0/me", "inbox"))[0]
    r = await api.post(f"/v1.0/me/messages/{q(original['id'])}/createReplyAll", headers=bob)
    draft = r.json()
    assert _addresses(draft["toRecipients"]) == [ALICE, CAROL]
    assert draft["ccRecipients"] == []


async def test_subject_prefixes_are_never_doubled() -> None:
    assert subject("reply", "RE: Budget") == "RE: Budget"
    assert subject("replyAll", "re : Budget") == "re : Budget"
    assert subject("reply", "FW: Budget") == "RE: FW: Budget"
    assert subject("forward", "RE: Budget") == "FW: RE: Budget"
    assert subject("forward", "Fwd: Budget") == "Fwd: Budget"
    assert subject("forward", "fw:Budget") == "fw:Budget"
    assert subject("reply", "") == "RE: "


def test_child_conversation_index_blocks() -> None:
    now = 1_790_000_000_000_000
    parent = child_conversation_index("not base64!", now)  # a foreign parent gets a fresh header
    raw = base64.b64decode(parent)
    assert len(raw) == 27 and raw[-1] & 0x0F == 1
    later = child_conversation_index(parent, now + 3_600_000_000)
    grand = base64.b64decode(later)
    assert len(grand) == 32 and grand.startswith(raw) and grand[-1] & 0x0F == 2
    delta = int.from_bytes(grand[27:31], "big")
    assert delta >> 31 == 0 and delta > int.from_bytes(raw[22:26], "big")


async def test_forward_draft_and_kiota_casing(api: AsyncClient, token_for: TokenFor) -> None:
    bob, original = await _received(api, token_for)
    body = {"Comment": "FYI", "ToRecipients": [{"emailAddress": {"address": "dan@example.org"}}]}
    r = await api.post(f"/v1.0/me/messages/{q(original['id'])}/createForward", json=body, headers=bob)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["subject"] == "FW: Budget"
    assert _addresses(draft["toRecipients"]) == ["dan@example.org"]
    assert draft["hasAttachments"] is False
    assert "FYI" in draft["body"]["content"]
    # Forward with no recipients at all is a valid draft (O365 sets them by PATCH later).
    r = await api.post(f"/v1.0/me/messages/{q(original['id'])}/createForward", headers={**bob, **JSON})
    assert r.status_code == 201 and r.json()["toRecipients"] == []


async def test_empty_and_absent_bodies_work(api: AsyncClient, token_for: TokenFor) -> None:
    bob, original = await _received(api, token_for)
    url = f"/v1.0/users/{q(BOB)}/messages/{q(original['id'])}/createReply"
    for kwargs in (
        {"content": b""},
        {"content": b"", "headers": JSON},
        {"json": {}},
        {"json": {"comment": None}},
    ):
        headers = {**bob, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        r = await api.post(url, headers=headers, **kwargs)  # type: ignore[arg-type]
        assert r.status_code == 201, r.text


async def test_message_properties_apply_and_message_body_replaces_comment(
    api: AsyncClient, token_for: TokenFor
) -> None:
    bob, original = await _received(api, token_for, body={"contentType": "html", "content": "<p>Hi</p>"})
    message = {
        "@odata.type": "#microsoft.graph.message",
        "subject": "Different",
        "ccRecipients": [{"emailAddress": {"address": "erin@example.org"}}],
        "body": {"contentType": "HTML", "content": "<p>Typed <b>reply</b></p>"},
        "importance": "High",
    }
    r = await api.post(
        f"/v1.0/me/messages/{q(original['id'])}/createReply", json={"message": message}, headers=bob
    )
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["subject"] == "Different" and draft["importance"] == "high"
    assert _addresses(draft["ccRecipients"]) == ["erin@example.org"]
    content = draft["body"]["content"]
    assert content.index("<p>Typed <b>reply</b></p>") < content.index("<b>From:</b>")


async def test_text_original_gives_text_reply(api: AsyncClient, token_for: TokenFor) -> None:
    # Bob's copy was composed as text ("Hi there"): the reply stays text, Outlook's separator line.
    bob, original = await _received(api, token_for)
    assert original["body"]["contentType"] == "text"
    r = await api.post(
        f"/v1.0/me/messages/{q(original['id'])}/createReply", json={"comment": "Yes"}, headers=bob
    )
    body = r.json()["body"]
    assert body["contentType"] == "text"
    lines = body["content"].split("\r\n")
    assert lines[0] == "Yes" and "_" * 32 in lines
    assert "From: Alice Able <alice@fabrikam.test>" in lines and "Subject: Budget" in lines
    assert lines[-1] == "Hi there"


async def test_prefer_timezone_sets_the_sent_line(api: AsyncClient, token_for: TokenFor) -> None:
    bob, original = await _received(api, token_for)
    url = f"/v1.0/me/messages/{q(original['id'])}/createReply"
    sent = datetime.strptime(original["sentDateTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    for zone, header in (("America/Los_Angeles", "Pacific Standard Time"), ("Asia/Tokyo", "Asia/Tokyo")):
        local = sent.astimezone(ZoneInfo(zone))
        expected = f"{local:%A}, {local:%B} {local.day}, {local.year} {local.hour % 12 or 12}:{local:%M}"
        r = await api.post(url, headers={**bob, "Prefer": f'outlook.timezone="{header}"'})
        assert r.status_code == 201, r.text
        assert r.headers["preference-applied"] == f'outlook.timezone="{header}"'
        assert f"Sent: {expected}" in r.json()["body"]["content"]
    r = await api.post(url, headers={**bob, "Prefer": 'outlook.timezone="Mars/Olympus"'})
    assert_graph_error(r, 400, "ErrorTimeZone")
    assert len(await folder_items(api, bob, "/v1.0/me", "drafts")) == 2  # the failed one wrote nothing


async def test_bad_action_bodies(api: AsyncClient, token_for: TokenFor) -> None:
    bob, original = await _received(api, token_for)
    base = f"/v1.0/me/messages/{q(original['id'])}"
    both_body = {"comment": "x", "message": {"body": {"contentType": "text", "content": "y"}}}
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("createReply", both_body, 400, "ErrorInvalidRequest"),
        ("replyAll", both_body, 400, "ErrorInvalidRequest"),
        ("createReply", {"toRecipients": []}, 400, "RequestBodyRead"),
        ("createReply", {"bogus": 1}, 400, "RequestBodyRead"),
        ("createReply", {"comment": 5}, 400, "BadRequest"),
        ("createReply", {"message": "text"}, 400, "BadRequest"),
        ("createReply", {"message": {"id": "x"}}, 400, "ErrorInvalidPropertySet"),
        ("createReply", {"message": {"subject": "a\r\nBcc: x@y.z"}}, 400, "ErrorInvalidValueForProperty"),
    ]
    to = [{"emailAddress": {"address": "dan@example.org"}}]
    for action in ("createForward", "forward"):
        cases.append(
            (action, {"toRecipients": to, "message": {"toRecipients": to}}, 400, "ErrorInvalidRequest")
        )
    cases.append(("forward", {"comment": "no one"}, 400, "ErrorInvalidRecipients"))
    for action, body, status, code in cases:
        r = await api.post(f"{base}/{action}", json=body, headers=bob)
        assert_graph_error(r, status, code)
    r = await api.post(f"{base}/createReply", content=b"{not json", headers={**bob, **JSON})
    assert_graph_error(r, 400, "BadRequest")
    mime = {**bob, "Content-Type": "text/plain"}
    r = await api.post(f"{base}/reply", content=b"not base64!", headers=mime)
    assert_graph_error(r, 400, "ErrorMimeContentInvalidBase64String")
    r = await api.post(f"{base}/createReply", content=base64.b64encode(b"no headers at all"), headers=mime)
    assert_graph_error(r, 400, "ErrorMimeContentConversionFailed")
    assert await folder_items(api, bob, "/v1.0/me", "drafts") == []
    assert await folder_items(api, bob, "/v1.0/me", "sentitems") == []


async def test_unknown_ids_folders_and_permissions(api: AsyncClient, token_for: TokenFor) -> None:
    bob, original = await _received(api, token_for)
    r = await api.post("/v1.0/me/messages/AAMkAGI2THVSAAA%3D/createReply", headers=bob)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    r = await api.post(f"/v1.0/me/mailFolders/drafts/messages/{q(original['id'])}/reply", headers=bob)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    r = await api.post(f"/v1.0/me/mailFolders/Inbox/messages/{q(original['id'])}/createReply", headers=bob)
    assert r.status_code == 201
    send_only = token_for("bob", "Mail.Send")
    r = await api.post(f"/v1.0/me/messages/{q(original['id'])}/createReply", headers=send_only)
    assert_graph_error(r, 403, "ErrorAccessDenied")
    write_only = token_for("bob", "Mail.ReadWrite")
    r = await api.post(f"/v1.0/me/messages/{q(original['id'])}/reply", headers=write_only)
    assert_graph_error(r, 403, "ErrorAccessDenied")
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    r = await api.post(f"/v1.0/users/{q(BOB)}/messages/{q(original['id'])}/createReply", headers=alice)
    assert_graph_error(r, 403, "ErrorAccessDenied")


@pytest.mark.parametrize("version", ROOTS)
async def test_reply_sends_at_once_in_the_same_conversation(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime, directory: Directory, version: str
) -> None:
    bob, original = await _received(api, token_for, version)
    r = await api.post(
        f"{version}/me/mailFolders/inbox/messages/{q(original['id'])}/reply",
        json={"Comment": "Agreed"},
        headers=bob,
    )
    assert r.status_code == 202, r.text
    assert r.content == b"" and "content-type" not in r.headers  # client-wire fact 1
    assert await folder_items(api, bob, f"{version}/me", "drafts") == []
    sent = await folder_items(api, bob, f"{version}/me", "sentitems")
    assert [s["subject"] for s in sent] == ["RE: Budget"] and sent[0]["isDraft"] is False
    alice = token_for("alice", "Mail.Read")
    inbox = await folder_items(api, alice, f"{version}/me", "inbox")
    assert len(inbox) == 1
    answer = inbox[0]
    assert answer["subject"] == "RE: Budget" and answer["isRead"] is False
    assert answer["conversationId"] == original["conversationId"]
    assert answer["internetMessageId"] == sent[0]["internetMessageId"] != original["internetMessageId"]
    assert "Agreed" in answer["body"]["content"]
    alice_id = directory.users["alice"].id
    stored = await runtime.engine.read(lambda tx: tx.messages.get(alice_id, answer["id"]))
    assert stored is not None and stored.in_reply_to == original["internetMessageId"]
    assert stored.references.split()[-1] == original["internetMessageId"]
    carol = await folder_items(api, token_for("carol", "Mail.Read"), f"{version}/me", "inbox")
    assert len(carol) == 1  # only the original: a plain reply does not go to Cc


async def test_reply_all_and_forward_deliver(api: AsyncClient, token_for: TokenFor) -> None:
    bob, original = await _received(api, token_for)
    r = await api.post(
        f"/v1.0/me/messages/{q(original['id'])}/replyAll", headers={**bob, **JSON}, content=b""
    )
    assert r.status_code == 202, r.text
    alice = token_for("alice", "Mail.Read")
    carol = token_for("carol", "Mail.Read")
    assert [m["subject"] for m in await folder_items(api, alice, "/v1.0/me", "inbox")] == ["RE: Budget"]
    assert sorted(m["subject"] for m in await folder_items(api, carol, "/v1.0/me", "inbox")) == [
        "Budget",
        "RE: Budget",
    ]
    to = [{"emailAddress": {"address": ALICE}}]
    r = await api.post(
        f"/v1.0/me/messages/{q(original['id'])}/forward", json={"message": {"toRecipients": to}}, headers=bob
    )
    assert r.status_code == 202, r.text
    r = await api.post(
        f"/v1.0/me/messages/{q(original['id'])}/microsoft.graph.forward",
        json={"ToRecipients": to},
        headers=bob,
    )
    assert r.status_code == 202, r.text
    subjects = sorted(m["subject"] for m in await folder_items(api, alice, "/v1.0/me", "inbox"))
    assert subjects == ["FW: Budget", "FW: Budget", "RE: Budget"]
    assert len(await folder_items(api, bob, "/v1.0/me", "sentitems")) == 3


async def test_failed_direct_reply_leaves_nothing_behind(api: AsyncClient, token_for: TokenFor) -> None:
    # A draft without recipients or from: replying to it has no recipient, so the send fails as a whole.
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    r = await api.post("/v1.0/me/messages", json={"subject": "Note to self"}, headers=alice)
    note = r.json()
    r = await api.post(f"/v1.0/me/messages/{q(note['id'])}/replyAll", headers=alice)
    assert_graph_error(r, 400, "ErrorInvalidRecipients")
    assert [d["id"] for d in await folder_items(api, alice, "/v1.0/me", "drafts")] == [note["id"]]
    assert await folder_items(api, alice, "/v1.0/me", "sentitems") == []
    r = await api.post(
        f"/v1.0/me/messages/{q(note['id'])}/forward",
        json={"toRecipients": [{"emailAddress": {"address": "not an address"}}]},
        headers=alice,
    )
    assert_graph_error(r, 400, "ErrorInvalidRecipients")
    drafts = await folder_items(api, alice, "/v1.0/me", "drafts")
    assert [d["id"] for d in drafts] == [note["id"]]


async def test_app_token_replies_for_a_user(
    api: AsyncClient, token_for: TokenFor, directory: Directory
) -> None:
    _, original = await _received(api, token_for)
    app = token_for(app=["Mail.ReadWrite", "Mail.Send"])
    bob_id = directory.users["bob"].id
    r = await api.post(f"/beta/users/{bob_id}/messages/{q(original['id'])}/createReplyAll", headers=app)
    assert r.status_code == 201, r.text
    assert r.json()["@odata.context"].startswith("https://graph.test/beta/$metadata#users(")
    r = await api.post(f"/beta/users('{bob_id}')/messages/{q(original['id'])}/replyAll", headers=app)
    assert r.status_code == 202


def _mime(text: str) -> bytes:
    return base64.b64encode(text.replace("\n", "\r\n").encode())


async def test_mime_mode_replies(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime, directory: Directory
) -> None:
    bob, original = await _received(api, token_for)
    base = f"/v1.0/me/messages/{q(original['id'])}"
    mime = {**bob, "Content-Type": "text/plain", "Prefer": 'outlook.timezone="Asia/Tokyo"'}
    body = _mime("Subject: Custom subject\nContent-Type: text/plain; charset=utf-8\n\nMIME body\n")
    r = await api.post(f"{base}/createReply", content=body, headers=mime)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert "preference-applied" not in r.headers  # spec §0.2: the zone has no effect in MIME mode
    assert draft["subject"] == "Custom subject"
    assert _addresses(draft["toRecipients"]) == [ALICE]  # derived: the headers named no recipient
    assert draft["body"]["content"].strip() == "MIME body"  # the MIME body is the whole body
    assert draft["conversationId"] == original["conversationId"]
    bob_id = directory.users["bob"].id
    stored = await runtime.engine.read(lambda tx: tx.messages.get(bob_id, draft["id"]))
    assert stored is not None and stored.in_reply_to == original["internetMessageId"]
    with_file = _mime(
        "To: dan@example.org\nSubject: Files\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nSee file\n'
        '--b\nContent-Type: text/csv; name="t.csv"\nContent-Disposition: attachment; filename="t.csv"\n\n'
        "a,b\n--b--\n"
    )
    r = await api.post(f"{base}/createForward", content=with_file, headers=mime)
    assert r.status_code == 201, r.text
    forward = r.json()
    assert _addresses(forward["toRecipients"]) == ["dan@example.org"] and forward["hasAttachments"] is True
    r = await api.get(f"/v1.0/me/messages/{q(forward['id'])}/attachments", headers=bob)
    assert [a["name"] for a in r.json()["value"]] == ["t.csv"]
    r = await api.post(f"{base}/reply", content=_mime("Subject: x\n\nok\n"), headers=mime)
    assert r.status_code == 202, r.text
    inbox = await folder_items(api, token_for("alice", "Mail.Read"), "/v1.0/me", "inbox")
    assert [m["subject"] for m in inbox] == ["x"]
    r = await api.post(f"{base}/forward", content=_mime("Subject: y\n\nno one\n"), headers=mime)
    assert_graph_error(r, 400, "ErrorInvalidRecipients")


async def _add_file(api: AsyncClient, headers: dict[str, str], message_id: str, name: str) -> None:
    attachment = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": name,
        "contentBytes": base64.b64encode(b"file " + name.encode()).decode(),
    }
    r = await api.post(f"/v1.0/me/messages/{q(message_id)}/attachments", json=attachment, headers=headers)
    assert r.status_code == 201, r.text


async def test_forward_copies_attachments_and_reply_does_not(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    r = await api.post("/v1.0/me/messages", json=draft_body(to=[BOB], subject="Report"), headers=alice)
    draft = r.json()
    await _add_file(api, alice, draft["id"], "report.pdf")
    assert (await api.post(f"/v1.0/me/messages/{q(draft['id'])}/send", headers=alice)).status_code == 202
    bob = token_for("bob", "Mail.ReadWrite", "Mail.Send")
    original = (await folder_items(api, bob, "/v1.0/me", "inbox"))[0]
    assert original["hasAttachments"] is True
    base = f"/v1.0/me/messages/{q(original['id'])}"
    reply = (await api.post(f"{base}/createReply", headers=bob)).json()
    assert reply["hasAttachments"] is False
    forward = (await api.post(f"{base}/createForward", headers=bob)).json()
    assert forward["hasAttachments"] is True
    r = await api.get(f"/v1.0/me/messages/{q(forward['id'])}/attachments", headers=bob)
    assert [a["name"] for a in r.json()["value"]] == ["report.pdf"]
    # message.attachments given inline in the action body are added too.
    extra = {"@odata.type": "#microsoft.graph.fileAttachment", "name": "extra.txt", "contentBytes": "eA=="}
    to = [{"emailAddress": {"address": CAROL}}]
    body = {"comment": "both", "toRecipients": to, "message": {"attachments": [extra]}}
    r = await api.post(f"{base}/forward", json=body, headers=bob)
    assert r.status_code == 202, r.text
    carol = token_for("carol", "Mail.Read")
    received = (await folder_items(api, carol, "/v1.0/me", "inbox"))[0]
    assert received["subject"] == "FW: Report" and received["hasAttachments"] is True
    r = await api.get(f"/v1.0/me/messages/{q(received['id'])}/attachments", headers=carol)
    assert sorted(a["name"] for a in r.json()["value"]) == ["extra.txt", "report.pdf"]
    # copy keeps them as well
    r = await api.post(f"{base}/copy", json={"destinationId": "archive"}, headers=bob)
    assert r.status_code == 201 and r.json()["hasAttachments"] is True


@given(st.sampled_from(["reply", "replyAll", "forward"]), st.text(max_size=40))
def test_prefixing_is_idempotent(kind: Any, text: str) -> None:
    once = subject(kind, text)
    assert subject(kind, once) == once
    assert once.endswith(text)


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30),
        max_size=6,
    )
)
def test_text_survives_html_round_trip(lines: list[str]) -> None:
    # text -> HTML -> text keeps every line's words (HTML collapses runs of spaces; blank runs shrink to one).
    text = "\n".join(lines)
    back = quoting.html_to_text(quoting.text_to_html(text))
    assert back.split() == text.replace("\xa0", " ").split()


@given(st.text(max_size=200))
def test_prefer_parsing_never_fails(header: str) -> None:
    parse_prefer(header)
