"""`…/mailFolders/inbox/messageRules`: CRUD through the real app, both versions, /me and /users, errors."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.api.helpers import assert_graph_error, q
from tests.conftest import Directory, TokenFor

ROOTS = ["/v1.0", "/beta"]
RW = ("MailboxSettings.ReadWrite",)


def rule(**extra: Any) -> dict[str, Any]:
    """The create body of mailfolder-post-messagerules.md's example."""
    body: dict[str, Any] = {
        "displayName": "From partner",
        "sequence": 2,
        "isEnabled": True,
        "conditions": {"senderContains": ["adele"]},
        "actions": {
            "forwardTo": [{"emailAddress": {"name": "Alex Wilbur", "address": "AlexW@contoso.example"}}],
            "stopProcessingRules": True,
        },
    }
    body.update(extra)
    return body


@pytest.mark.parametrize("version", ROOTS)
async def test_create_get_list_patch_delete(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", *RW)
    base = f"{version}/me/mailFolders/inbox/messageRules"
    r = await api.post(base, json=rule(), headers=alice)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["@odata.context"].endswith("/$metadata#me/mailFolders('inbox')/messageRules/$entity")
    assert created["displayName"] == "From partner" and created["sequence"] == 2
    assert created["isEnabled"] is True and created["hasError"] is False and created["isReadOnly"] is False
    assert created["conditions"] == {"senderContains": ["ADELE"]}  # as the doc's example answers
    assert created["actions"]["forwardTo"][0]["emailAddress"]["address"] == "AlexW@contoso.example"
    assert created["actions"]["stopProcessingRules"] is True
    assert "exceptions" not in created
    rid = q(created["id"])
    r = await api.get(f"{base}/{rid}", headers=alice)
    assert r.status_code == 200 and r.json()["id"] == created["id"]
    r = await api.post(base, json=rule(displayName="first", sequence=1), headers=alice)
    assert r.status_code == 201
    r = await api.get(base, headers=alice)
    assert r.status_code == 200
    assert [x["displayName"] for x in r.json()["value"]] == ["first", "From partner"]  # by sequence
    r = await api.patch(f"{base}/{rid}", json={"isEnabled": False, "sequence": 0}, headers=alice)
    assert r.status_code == 200, r.text
    assert r.json()["isEnabled"] is False and r.json()["conditions"] == {"senderContains": ["ADELE"]}
    r = await api.get(base, headers=alice)
    assert [x["displayName"] for x in r.json()["value"]] == ["From partner", "first"]
    r = await api.delete(f"{base}/{rid}", headers=alice)
    assert r.status_code == 204
    assert_graph_error(await api.get(f"{base}/{rid}", headers=alice), 404, "ErrorItemNotFound")
    assert_graph_error(await api.delete(f"{base}/{rid}", headers=alice), 404, "ErrorItemNotFound")


async def test_every_predicate_is_stored_and_returned(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", *RW)
    who = [{"emailAddress": {"name": "Bob", "address": "bob@fabrikam.test"}}]
    predicates = {
        "bodyContains": ["a"], "bodyOrSubjectContains": ["b"], "categories": ["Red"], "fromAddresses": who,
        "hasAttachments": True, "headerContains": ["X-Y"], "importance": "high", "isApprovalRequest": False,
        "isAutomaticForward": False, "isAutomaticReply": True, "isEncrypted": False, "isMeetingRequest": False,
        "isMeetingResponse": False, "isNonDeliveryReport": False, "isPermissionControlled": False,
        "isReadReceipt": False, "isSigned": False, "isVoicemail": False, "messageActionFlag": "followUp",
        "notSentToMe": False, "recipientContains": ["c"], "senderContains": ["D"], "sensitivity": "private",
        "sentCcMe": True, "sentOnlyToMe": False, "sentToAddresses": who, "sentToMe": True, "sentToOrCcMe": True,
        "subjectContains": ["e"], "withinSizeRange": {"minimumSize": 1, "maximumSize": 100},
    }  # fmt: skip
    body = rule(conditions=predicates, exceptions={"subjectContains": ["x"]}, actions={"markAsRead": True})
    r = await api.post("/v1.0/me/mailFolders/inbox/messageRules", json=body, headers=alice)
    assert r.status_code == 201, r.text
    r = await api.get(f"/v1.0/me/mailFolders/inbox/messageRules/{q(r.json()['id'])}", headers=alice)
    returned = r.json()["conditions"]
    for key, value in predicates.items():
        if key in ("fromAddresses", "sentToAddresses"):
            assert returned[key][0]["emailAddress"]["address"] == "bob@fabrikam.test"
        else:
            assert returned[key] == value, key
    assert r.json()["exceptions"] == {"subjectContains": ["x"]}


async def test_redirect_to_takes_one_recipient_or_a_list(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", *RW)
    one = {"emailAddress": {"address": "carol@fabrikam-mail.test"}}
    for value in (one, [one]):
        r = await api.post(
            "/v1.0/me/mailFolders/inbox/messageRules", json=rule(actions={"redirectTo": value}), headers=alice
        )
        assert r.status_code == 201, r.text
        assert r.json()["actions"]["redirectTo"][0]["emailAddress"]["address"] == "carol@fabrikam-mail.test"


async def test_forward_as_attachment_is_stored_and_returned(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", *RW)
    to = [{"emailAddress": {"name": "Far", "address": "far@example.net"}}]
    r = await api.post(
        "/v1.0/me/mailFolders/inbox/messageRules",
        json=rule(actions={"forwardAsAttachmentTo": to, "stopProcessingRules": True}),
        headers=alice,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["actions"]["forwardAsAttachmentTo"] == to
    r = await api.get(f"/v1.0/me/mailFolders/inbox/messageRules/{q(created['id'])}", headers=alice)
    assert r.json()["actions"] == {"forwardAsAttachmentTo": to, "stopProcessingRules": True}
    patch = [{"emailAddress": {"name": "", "address": "bob@fabrikam.test"}}]
    r = await api.patch(
        f"/v1.0/me/mailFolders/inbox/messageRules/{q(created['id'])}",
        json={"actions": {"forwardAsAttachmentTo": patch}},
        headers=alice,
    )
    assert r.status_code == 200, r.text
    assert r.json()["actions"]["forwardAsAttachmentTo"][0]["emailAddress"]["address"] == "bob@fabrikam.test"


async def test_users_route_with_app_token_and_inbox_id(
    api: AsyncClient, token_for: TokenFor, directory: Directory
) -> None:
    app = token_for(app=["MailboxSettings.ReadWrite", "Mail.Read"])
    bob = directory.users["bob"]
    r = await api.get("/v1.0/users/bob@fabrikam.test/mailFolders/inbox", headers=app)
    inbox_id = r.json()["id"]
    base = f"/beta/users/{bob.id}/mailFolders/{q(inbox_id)}/messageRules"
    r = await api.post(base, json=rule(), headers=app)
    assert r.status_code == 201, r.text
    r = await api.get("/v1.0/users/bob@fabrikam.test/mailFolders/Inbox/messageRules", headers=app)
    assert [x["id"] for x in r.json()["value"]] == [r.json()["value"][0]["id"]]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"displayName": "x", "sequence": 1}, 400, "ErrorInvalidRequest"),  # no actions
        ({"sequence": 1, "actions": {"markAsRead": True}}, 400, "ErrorInvalidRequest"),  # no displayName
        ({"displayName": "x", "actions": {"markAsRead": True}}, 400, "ErrorInvalidRequest"),  # no sequence
        (rule(actions={}), 400, "ErrorInvalidRequest"),  # an empty action set
        (rule(sequence="1"), 400, "BadRequest"),
        (rule(conditions={"subjectContains": "x"}), 400, "BadRequest"),
        (rule(conditions={"nope": ["x"]}), 400, "RequestBodyRead"),
        (rule(actions={"nope": True}), 400, "RequestBodyRead"),
        (rule(conditions={"importance": "urgent"}), 400, "RequestBodyRead"),
        (rule(actions={"markImportance": "urgent"}), 400, "RequestBodyRead"),
        (rule(id="x"), 400, "ErrorInvalidRequest"),
        (rule(actions={"moveToFolder": "AQMkAGNvbm5vdGhlcmU="}), 404, "ErrorItemNotFound"),
        (rule(actions={"copyToFolder": "AQMkAGNvbm5vdGhlcmU="}), 404, "ErrorItemNotFound"),
        (rule(actions={"forwardTo": [{"emailAddress": {"address": "not-an-address"}}]}), 400,
         "ErrorInvalidRecipients"),
        (rule(conditions={"withinSizeRange": {"minimumSize": 9, "maximumSize": 1}}), 400, "ErrorInvalidRequest"),
        (rule(actions={"forwardAsAttachmentTo": [{"emailAddress": {"address": "nobody"}}]}), 400,
         "ErrorInvalidRecipients"),
    ],
)  # fmt: skip
async def test_invalid_rules_are_refused(
    api: AsyncClient, token_for: TokenFor, body: dict[str, Any], status: int, code: str
) -> None:
    alice = token_for("alice", *RW)
    r = await api.post("/v1.0/me/mailFolders/inbox/messageRules", json=body, headers=alice)
    assert_graph_error(r, status, code)
    r = await api.get("/v1.0/me/mailFolders/inbox/messageRules", headers=alice)
    assert r.json()["value"] == []  # nothing half written


async def test_rules_live_on_the_inbox_only(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", *RW)
    r = await api.post("/v1.0/me/mailFolders/archive/messageRules", json=rule(), headers=alice)
    assert_graph_error(r, 400, "ErrorInvalidRequest")
    r = await api.get("/v1.0/me/mailFolders/nosuchfolder/messageRules", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")


async def test_permissions(api: AsyncClient, token_for: TokenFor) -> None:
    base = "/v1.0/me/mailFolders/inbox/messageRules"
    reader = token_for("alice", "MailboxSettings.Read")
    assert (await api.get(base, headers=reader)).status_code == 200
    assert_graph_error(await api.post(base, json=rule(), headers=reader), 403, "ErrorAccessDenied")
    mail_only = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    assert_graph_error(await api.get(base, headers=mail_only), 403, "ErrorAccessDenied")
    # No .Shared variant: a delegated token never reaches another user's rules.
    other = token_for("alice", *RW)
    r = await api.get("/v1.0/users/bob@fabrikam.test/mailFolders/inbox/messageRules", headers=other)
    assert_graph_error(r, 403, "ErrorAccessDenied")
