"""`message: send` and `user: sendMail` through the real app (spec §1, §2.1)."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from mailgraph.wiring import Runtime
from tests.api.helpers import JSON, assert_graph_error, create_draft, draft_body, folder_items, q
from tests.conftest import Directory, TokenFor

ROOTS = ["/v1.0", "/beta"]


@pytest.mark.parametrize("version", ROOTS)
async def test_send_moves_draft_to_sent_items_and_delivers(
    api: AsyncClient, token_for: TokenFor, version: str
) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    bob = token_for("bob", "Mail.Read")
    draft = await create_draft(api, alice, f"{version}/me", to=["Bob@Fabrikam.test"], subject="Quarterly")
    r = await api.post(f"{version}/me/messages/{q(draft['id'])}/send", headers=alice)
    assert r.status_code == 202
    assert r.content == b""
    assert "content-type" not in r.headers  # client-wire fact 1
    # The old id is gone (spec §3.5: moves change ids).
    r = await api.get(f"{version}/me/messages/{q(draft['id'])}", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    assert await folder_items(api, alice, f"{version}/me", "drafts") == []
    sent = await folder_items(api, alice, f"{version}/me", "sentitems")
    assert len(sent) == 1
    item = sent[0]
    assert item["id"] != draft["id"]
    assert item["isDraft"] is False
    assert item["subject"] == "Quarterly"
    assert item["internetMessageId"] == draft["internetMessageId"]
    assert item["conversationId"] == draft["conversationId"]
    assert item["from"]["emailAddress"]["address"] == "alice@fabrikam.test"
    assert item["sender"]["emailAddress"]["address"] == "alice@fabrikam.test"
    inbox = await folder_items(api, bob, f"{version}/me", "inbox")
    assert len(inbox) == 1
    copy = inbox[0]
    assert copy["isRead"] is False and copy["isDraft"] is False
    assert copy["internetMessageId"] == draft["internetMessageId"]
    assert copy["conversationId"] == draft["conversationId"]
    assert copy["from"]["emailAddress"]["address"] == "alice@fabrikam.test"


async def test_send_via_users_upn_and_id_with_app_token(
    api: AsyncClient, token_for: TokenFor, directory: Directory
) -> None:
    app = token_for(app=["Mail.ReadWrite", "Mail.Send", "Mail.Read"])
    alice = directory.users["alice"]
    for key in (q(alice.user_principal_name), alice.id, alice.user_principal_name.upper()):
        draft = await create_draft(api, app, f"/v1.0/users/{key}")
        r = await api.post(f"/v1.0/users/{key}/messages/{q(draft['id'])}/send", headers=app)
        assert r.status_code == 202, r.text
    sent = await folder_items(api, app, f"/v1.0/users/{alice.id}", "SentItems")
    assert len(sent) == 3


async def test_send_accepts_empty_json_and_raw_ids(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    first = await create_draft(api, alice)
    r = await api.post(f"/v1.0/me/messages/{first['id']}/send", headers={**alice, **JSON}, content=b"")
    assert r.status_code == 202
    second = await create_draft(api, alice)
    r = await api.post(f"/v1.0/me/messages('{q(second['id'])}')/microsoft.graph.send", headers=alice, json={})
    assert r.status_code == 202


async def test_bcc_is_delivered_but_hidden(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    body = draft_body(
        to=["bob@fabrikam.test"], bccRecipients=[{"emailAddress": {"address": "carol@fabrikam-mail.test"}}]
    )
    r = await api.post("/v1.0/me/messages", json=body, headers=alice)
    draft = r.json()
    assert (await api.post(f"/v1.0/me/messages/{q(draft['id'])}/send", headers=alice)).status_code == 202
    for user in ("bob", "carol"):
        inbox = await folder_items(api, token_for(user, "Mail.Read"), "/v1.0/me", "inbox")
        assert len(inbox) == 1
        assert inbox[0]["bccRecipients"] == []
    sent = await folder_items(api, alice, "/v1.0/me", "sentitems")
    assert sent[0]["bccRecipients"][0]["emailAddress"]["address"] == "carol@fabrikam-mail.test"


async def test_duplicate_recipients_get_one_copy_and_self_send_lands_in_own_inbox(
    api: AsyncClient, token_for: TokenFor
) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    body = draft_body(
        to=["bob@fabrikam.test", "BOB@fabrikam.test", "alice@fabrikam.test"],
        ccRecipients=[{"emailAddress": {"address": "bob@FABRIKAM.test"}}],
    )
    r = await api.post("/v1.0/me/sendMail", json={"message": body}, headers=alice)
    assert r.status_code == 202
    assert len(await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox")) == 1
    assert len(await folder_items(api, alice, "/v1.0/me", "inbox")) == 1
    assert len(await folder_items(api, alice, "/v1.0/me", "sentitems")) == 1


async def test_external_recipients_are_queued(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    draft = await create_draft(
        api, alice, to=["ana@example.org", "bob@fabrikam.test", "Ana@Example.org", "z@other.test"]
    )
    assert (await api.post(f"/v1.0/me/messages/{q(draft['id'])}/send", headers=alice)).status_code == 202
    entries = await runtime.engine.read(lambda tx: tx.outbox.list_entries())
    assert sorted(e.recipient.lower() for e in entries) == ["ana@example.org", "z@other.test"]
    assert {e.status for e in entries} == {"queued"}
    assert {e.internet_message_id for e in entries} == {draft["internetMessageId"]}
    snapshot = await runtime.engine.read(lambda tx: tx.outbox.get_message(entries[0].outbound_id))
    assert snapshot is not None and snapshot.subject == "Hello"


async def test_unknown_local_recipient_gets_a_non_delivery_report(
    api: AsyncClient, token_for: TokenFor
) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    draft = await create_draft(api, alice, to=["nobody@fabrikam.test"], subject="Lost")
    assert (await api.post(f"/v1.0/me/messages/{q(draft['id'])}/send", headers=alice)).status_code == 202
    inbox = await folder_items(api, alice, "/v1.0/me", "inbox")
    assert [m["subject"] for m in inbox] == ["Undeliverable: Lost"]
    assert "nobody@fabrikam.test" in inbox[0]["body"]["content"]
    assert inbox[0]["from"]["emailAddress"]["address"] == "postmaster@fabrikam.test"


@pytest.mark.parametrize(
    "payload",
    [
        {"message": "BODY", "saveToSentItems": "false"},
        {"Message": "BODY", "SaveToSentItems": False},
        {"MESSAGE": "BODY", "savetosentitems": "False"},
    ],
)
async def test_send_mail_without_saving(
    api: AsyncClient, token_for: TokenFor, payload: dict[str, object]
) -> None:
    alice = token_for("alice", "Mail.Send", "Mail.Read")
    payload = {k: (draft_body() if v == "BODY" else v) for k, v in payload.items()}
    r = await api.post("/v1.0/me/sendMail", json=payload, headers=alice)
    assert r.status_code == 202 and r.content == b""
    assert await folder_items(api, alice, "/v1.0/me", "sentitems") == []
    assert len(await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox")) == 1


async def test_send_mail_saves_by_default(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.Send", "Mail.Read")
    body = draft_body(subject="Saved")
    body["@odata.type"] = "#microsoft.graph.message"
    r = await api.post("/beta/me/sendMail", json={"message": body, "saveToSentItems": "true"}, headers=alice)
    assert r.status_code == 202
    sent = await folder_items(api, alice, "/beta/me", "sentitems")
    assert [m["subject"] for m in sent] == ["Saved"]
    assert await folder_items(api, alice, "/beta/me", "drafts") == []


async def test_sending_twice_is_item_not_found(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    draft = await create_draft(api, alice)
    assert (await api.post(f"/v1.0/me/messages/{q(draft['id'])}/send", headers=alice)).status_code == 202
    r = await api.post(f"/v1.0/me/messages/{q(draft['id'])}/send", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    assert len(await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox")) == 1


async def test_sending_a_non_draft_is_refused(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    await api.post("/v1.0/me/sendMail", json={"message": draft_body()}, headers=alice)
    bob = token_for("bob", "Mail.ReadWrite", "Mail.Send")
    received = (await folder_items(api, bob, "/v1.0/me", "inbox"))[0]
    r = await api.post(f"/v1.0/me/messages/{q(received['id'])}/send", headers=bob)
    assert_graph_error(r, 400, "ErrorInvalidOperation")
    assert len(await folder_items(api, bob, "/v1.0/me", "inbox")) == 1


@pytest.mark.parametrize(
    ("recipients", "fragment"),
    [
        ([], "contains no recipients"),
        (["bad"], 'Recipient "bad" isn\'t resolved'),
        (["a@@b.test"], "isn't resolved"),
        ([""], "isn't resolved"),
        (["two words@b.test"], "isn't resolved"),
    ],
)
async def test_invalid_recipients_leave_the_draft_untouched(
    api: AsyncClient, token_for: TokenFor, recipients: list[str], fragment: str
) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    draft = await create_draft(api, alice, to=recipients)
    r = await api.post(f"/v1.0/me/messages/{q(draft['id'])}/send", headers=alice)
    error = assert_graph_error(r, 400, "ErrorInvalidRecipients")
    assert fragment in error["message"]
    drafts = await folder_items(api, alice, "/v1.0/me", "drafts")
    assert [d["id"] for d in drafts] == [draft["id"]]
    assert await folder_items(api, alice, "/v1.0/me", "sentitems") == []


async def test_recipient_without_address_is_invalid(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.Send")
    message = {"subject": "x", "toRecipients": [{"emailAddress": {"name": "No Address"}}]}
    r = await api.post("/v1.0/me/sendMail", json={"message": message}, headers=alice)
    assert_graph_error(r, 400, "ErrorInvalidRecipients")


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"subject": "a\r\nBcc: evil@x.test"}, "ErrorInvalidValueForProperty"),
        (
            {"toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test\r\nBcc: e@x.test"}}]},
            "ErrorInvalidRecipients",
        ),
        (
            {"toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test", "name": "B\nob"}}]},
            "ErrorInvalidRecipients",
        ),
    ],
)
async def test_cr_lf_is_refused_and_nothing_is_sent(
    api: AsyncClient, token_for: TokenFor, message: dict[str, object], code: str
) -> None:
    alice = token_for("alice", "Mail.Send", "Mail.Read")
    body = {**draft_body(), **message}
    r = await api.post("/v1.0/me/sendMail", json={"message": body}, headers=alice)
    assert_graph_error(r, 400, code)
    assert await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox") == []
    assert await folder_items(api, alice, "/v1.0/me", "sentitems") == []


async def test_send_as_another_user_is_denied(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    draft = await create_draft(api, alice, **{"from": {"emailAddress": {"address": "bob@fabrikam.test"}}})
    r = await api.post(f"/v1.0/me/messages/{q(draft['id'])}/send", headers=alice)
    assert_graph_error(r, 403, "ErrorSendAsDenied")
    assert len(await folder_items(api, alice, "/v1.0/me", "drafts")) == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"message": {"subject": "x"}, "saveToSentItems": "maybe"},
        {"message": "not an object"},
        {"message": {"subject": "x", "saveToSentItems": False}},
        {"saveToSentItems": True},
        {"message": {"subject": "x"}, "extra": 1},
    ],
)
async def test_send_mail_bad_bodies(
    api: AsyncClient, token_for: TokenFor, payload: dict[str, object]
) -> None:
    r = await api.post("/v1.0/me/sendMail", json=payload, headers=token_for("alice", "Mail.Send"))
    assert r.status_code == 400
    assert r.json()["error"]["code"] in {"BadRequest", "RequestBodyRead", "ErrorInvalidRequest"}


async def test_send_to_another_users_draft_is_not_found(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    draft = await create_draft(api, alice)
    app = token_for(app=["Mail.Send"])
    r = await api.post(f"/v1.0/users/bob@fabrikam.test/messages/{q(draft['id'])}/send", headers=app)
    assert_graph_error(r, 404, "ErrorItemNotFound")
