"""reply / replyAll / forward, the send of a createReply draft, and MIME sendMail by a delegate: the same
send-as / send-on-behalf rules and Sent Items placement as `send` and `sendMail` (spec §4.4, §2.8).

Alice is the delegate, Bob the mailbox owner, Carol the recipient; everything goes through the real app.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from httpx import AsyncClient

from mailgraph.domain import delegation
from mailgraph.domain.delegation import PermissionSpec
from mailgraph.wiring import Runtime
from tests.api.helpers import assert_graph_error, draft_body, folder_items, q
from tests.conftest import TokenFor

BOB = "/v1.0/users/bob@fabrikam.test"
CAROL = "/v1.0/users/carol@fabrikam.test"
ALICE = "/v1.0/users/alice@fabrikam.test"
# Every scope a delegate needs to work in Bob's mailbox (the rights decide the rest).
SHARED = ("Mail.ReadWrite.Shared", "Mail.Send.Shared")


async def _grant(runtime: Runtime, *rights: str) -> None:
    perms = [PermissionSpec("bob@fabrikam.test", "alice@fabrikam.test", rights)]
    await runtime.engine.write(lambda tx: delegation.apply(tx, runtime.tenant.id, perms, (), ["full-app"]))


async def _bobs_original(api: AsyncClient, token_for: TokenFor) -> str:
    """Carol writes to Bob; the id of Bob's Inbox copy."""
    body = {"message": draft_body(to=["bob@fabrikam.test"], subject="Plan")}
    r = await api.post(f"{CAROL}/sendMail", json=body, headers=token_for("carol", "Mail.Send"))
    assert r.status_code == 202, r.text
    (item,) = await folder_items(api, token_for(app=["Mail.Read"]), BOB, "inbox")
    return str(item["id"])


def _action_body(kind: str) -> dict[str, Any]:
    if kind == "forward":
        return {"comment": "FYI", "toRecipients": [{"emailAddress": {"address": "carol@fabrikam-mail.test"}}]}
    return {"comment": "Noted"}


async def _items(api: AsyncClient, token_for: TokenFor, root: str, folder: str) -> list[dict[str, Any]]:
    return await folder_items(api, token_for(app=["Mail.Read"]), root, folder)


def _who(item: dict[str, Any]) -> tuple[str, str]:
    return item["from"]["emailAddress"]["address"], item["sender"]["emailAddress"]["address"]


@pytest.mark.parametrize("kind", ["reply", "replyAll", "forward"])
async def test_full_access_alone_cannot_reply_as_the_owner(
    api: AsyncClient, runtime: Runtime, token_for: TokenFor, kind: str
) -> None:
    original = await _bobs_original(api, token_for)
    await _grant(runtime, "FullAccess")
    alice = token_for("alice", *SHARED)
    r = await api.post(f"{BOB}/messages/{q(original)}/{kind}", json=_action_body(kind), headers=alice)
    assert_graph_error(r, 403, "ErrorSendAsDenied")
    # One unit of work: no draft left behind, nothing sent, no Sent Items copy anywhere.
    assert await _items(api, token_for, BOB, "drafts") == []
    assert await _items(api, token_for, BOB, "sentitems") == []
    assert [m["subject"] for m in await _items(api, token_for, CAROL, "inbox")] == []


@pytest.mark.parametrize("kind", ["reply", "replyAll", "forward"])
async def test_send_on_behalf_reply_in_the_owners_mailbox(
    api: AsyncClient, runtime: Runtime, token_for: TokenFor, kind: str
) -> None:
    original = await _bobs_original(api, token_for)
    await _grant(runtime, "FullAccess", "SendOnBehalf")
    alice = token_for("alice", *SHARED)
    r = await api.post(f"{BOB}/messages/{q(original)}/{kind}", json=_action_body(kind), headers=alice)
    assert r.status_code == 202, r.text
    (received,) = await _items(api, token_for, CAROL, "inbox")
    assert received["subject"] == ("FW: Plan" if kind == "forward" else "RE: Plan")
    assert _who(received) == ("bob@fabrikam.test", "alice@fabrikam.test")  # "Alice on behalf of Bob"
    # /users/bob: Bob's Sent Items keep the copy (spec §4.4); the delegate's own mailbox is untouched.
    (sent,) = await _items(api, token_for, BOB, "sentitems")
    assert _who(sent) == ("bob@fabrikam.test", "alice@fabrikam.test")
    assert await _items(api, token_for, ALICE, "sentitems") == []
    assert await _items(api, token_for, BOB, "drafts") == []


async def test_send_as_reply_leaves_no_trace_of_the_delegate(
    api: AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    original = await _bobs_original(api, token_for)
    await _grant(runtime, "FullAccess", "SendAs")
    r = await api.post(
        f"{BOB}/messages/{q(original)}/reply", json={"comment": "Yes"}, headers=token_for("alice", *SHARED)
    )
    assert r.status_code == 202, r.text
    (received,) = await _items(api, token_for, CAROL, "inbox")
    assert _who(received) == ("bob@fabrikam.test", "bob@fabrikam.test")


async def test_reply_needs_the_shared_send_scope(
    api: AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    original = await _bobs_original(api, token_for)
    await _grant(runtime, "FullAccess", "SendAs")
    no_send = token_for("alice", "Mail.ReadWrite.Shared", "Mail.Send")  # Mail.Send covers /me only
    r = await api.post(f"{BOB}/messages/{q(original)}/reply", json={"comment": "Yes"}, headers=no_send)
    assert_graph_error(r, 403, "ErrorAccessDenied")
    assert await _items(api, token_for, CAROL, "inbox") == []


async def test_reply_from_own_mailbox_with_another_from(
    api: AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    """Alice replies in her own mailbox but sets `from` to Bob: the rule of sendMail with a `from`."""
    body = {"message": draft_body(to=["alice@fabrikam.test"], subject="Plan")}
    r = await api.post(f"{CAROL}/sendMail", json=body, headers=token_for("carol", "Mail.Send"))
    assert r.status_code == 202, r.text
    (original,) = await _items(api, token_for, ALICE, "inbox")
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send", "Mail.Send.Shared")
    as_bob = {"comment": "Yes", "message": {"from": {"emailAddress": {"address": "bob@fabrikam.test"}}}}
    url = f"/v1.0/me/messages/{q(original['id'])}/reply"
    assert_graph_error(await api.post(url, json=as_bob, headers=alice), 403, "ErrorSendAsDenied")
    await _grant(runtime, "SendAs")
    assert (await api.post(url, json=as_bob, headers=alice)).status_code == 202
    (received,) = await _items(api, token_for, CAROL, "inbox")
    assert _who(received) == ("bob@fabrikam.test", "bob@fabrikam.test")
    assert [m["subject"] for m in await _items(api, token_for, ALICE, "sentitems")] == ["RE: Plan"]


async def test_create_reply_then_send_in_the_owners_mailbox(
    api: AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    original = await _bobs_original(api, token_for)
    await _grant(runtime, "FullAccess")
    alice = token_for("alice", *SHARED)
    r = await api.post(f"{BOB}/messages/{q(original)}/createReply", json={"comment": "Draft"}, headers=alice)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert _who(draft) == ("bob@fabrikam.test", "bob@fabrikam.test")  # the draft is Bob's
    send = f"{BOB}/messages/{q(draft['id'])}/send"
    assert_graph_error(await api.post(send, headers=alice), 403, "ErrorSendAsDenied")
    assert [d["id"] for d in await _items(api, token_for, BOB, "drafts")] == [draft["id"]]  # kept
    await _grant(runtime, "FullAccess", "SendOnBehalf")
    assert (await api.post(send, headers=alice)).status_code == 202
    (received,) = await _items(api, token_for, CAROL, "inbox")
    assert received["subject"] == "RE: Plan"
    assert _who(received) == ("bob@fabrikam.test", "alice@fabrikam.test")
    (sent,) = await _items(api, token_for, BOB, "sentitems")
    assert _who(sent) == ("bob@fabrikam.test", "alice@fabrikam.test")


async def test_mime_send_mail_by_a_delegate(api: AsyncClient, runtime: Runtime, token_for: TokenFor) -> None:
    raw = b"From: bob@fabrikam.test\r\nTo: carol@fabrikam-mail.test\r\nSubject: Via MIME\r\n\r\nHello\r\n"
    mime = {"Content-Type": "text/plain"}
    await _grant(runtime, "FullAccess")
    alice = {**token_for("alice", *SHARED), **mime}
    r = await api.post(f"{BOB}/sendMail", content=base64.b64encode(raw), headers=alice)
    assert_graph_error(r, 403, "ErrorSendAsDenied")
    assert await _items(api, token_for, BOB, "drafts") == []
    await _grant(runtime, "FullAccess", "SendOnBehalf")
    r = await api.post(f"{BOB}/sendMail", content=base64.b64encode(raw), headers=alice)
    assert r.status_code == 202, r.text
    (received,) = await _items(api, token_for, CAROL, "inbox")
    assert _who(received) == ("bob@fabrikam.test", "alice@fabrikam.test")
    assert [m["subject"] for m in await _items(api, token_for, BOB, "sentitems")] == ["Via MIME"]
