"""Inbox rules applied on delivery, through the real send path (Graph sendMail → local delivery).

Conditions × actions as tables: each condition with a message that meets it and one that does not
(the action: move to Archive); each action on a message that meets its rule. Plus ordering,
stopProcessingRules, exceptions, and forwarding loops.
"""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.api.helpers import folder_items
from tests.conftest import TokenFor

ALICE, BOB, CAROL = "alice@fabrikam.test", "bob@fabrikam.test", "carol@fabrikam-mail.test"
SCOPES = ("Mail.ReadWrite", "Mail.Send", "MailboxSettings.ReadWrite")


def people(addresses: list[str]) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": a}} for a in addresses]


def message(subject: str = "Hello", to: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": subject,
        "body": {"contentType": "Text", "content": "Hi there"},
        "toRecipients": people([ALICE] if to is None else to),
    }
    body.update(extra)
    return body


async def add_rule(api: AsyncClient, token: dict[str, str], user: str = "alice", **body: Any) -> None:
    body.setdefault("displayName", "rule")
    body.setdefault("sequence", 1)
    r = await api.post(
        f"/v1.0/users/{user}@fabrikam.test/mailFolders/inbox/messageRules", json=body, headers=token
    )
    assert r.status_code == 201, r.text


async def send(api: AsyncClient, token_for: TokenFor, sender: str, msg: dict[str, Any]) -> None:
    r = await api.post("/v1.0/me/sendMail", json={"message": msg}, headers=token_for(sender, *SCOPES))
    assert r.status_code == 202, r.text


async def subjects(api: AsyncClient, token_for: TokenFor, user: str, folder: str) -> list[str]:
    items = await folder_items(api, token_for(user, *SCOPES), "/v1.0/me", folder)
    return sorted(i["subject"] for i in items)


ATTACHMENT = [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentBytes": "aGVsbG8="}]
HEADER = [{"name": "x-custom", "value": "yes"}]
# (conditions, (sender, message that meets them), (sender, message that does not))
CONDITIONS: list[tuple[dict[str, Any], tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]]] = [
    ({"fromAddresses": people([BOB])}, ("bob", message()), ("carol", message())),
    ({"sentToAddresses": people([CAROL])}, ("bob", message(to=[ALICE, CAROL])), ("bob", message())),
    ({"subjectContains": ["invoice"]}, ("bob", message("Your INVOICE")), ("bob", message())),
    ({"bodyContains": ["secret"]},
     ("bob", message(body={"contentType": "HTML", "content": "<p>the <b>Secret</b> word</p>"})),
     ("bob", message())),
    ({"bodyOrSubjectContains": ["zeta"]}, ("bob", message("zeta")), ("bob", message())),
    ({"senderContains": ["bob"]}, ("bob", message()), ("carol", message())),
    ({"recipientContains": ["carol"]}, ("bob", message(ccRecipients=people([CAROL]))), ("bob", message())),
    ({"importance": "high"}, ("bob", message(importance="high")), ("bob", message())),
    ({"hasAttachments": True}, ("bob", message(attachments=ATTACHMENT)), ("bob", message())),
    ({"headerContains": ["x-custom: yes"]}, ("bob", message(internetMessageHeaders=HEADER)), ("bob", message())),
    ({"sentToMe": True}, ("bob", message()), ("bob", message(to=[CAROL], ccRecipients=people([ALICE])))),
    ({"sentOnlyToMe": True}, ("bob", message()), ("bob", message(to=[ALICE, CAROL]))),
    ({"sentCcMe": True}, ("bob", message(to=[CAROL], ccRecipients=people([ALICE]))), ("bob", message())),
    ({"sentToOrCcMe": True}, ("bob", message(to=[CAROL], ccRecipients=people([ALICE]))),
     ("bob", message(to=[CAROL], bccRecipients=people([ALICE])))),
    ({"notSentToMe": True}, ("bob", message(to=[CAROL], bccRecipients=people([ALICE]))), ("bob", message())),
    ({"withinSizeRange": {"minimumSize": 2, "maximumSize": 100}},
     ("bob", message(body={"contentType": "Text", "content": "x" * 3000})), ("bob", message())),
    ({"categories": ["Red"]}, ("bob", message(categories=["red"])), ("bob", message())),
    ({"isAutomaticReply": False, "subjectContains": ["invoice"]}, ("bob", message("invoice")), ("bob", message())),
]  # fmt: skip


@pytest.mark.parametrize(
    ("conditions", "meets", "misses"), CONDITIONS, ids=[str(list(c[0])) for c in CONDITIONS]
)
async def test_condition_decides_whether_the_rule_moves_the_message(
    api: AsyncClient,
    token_for: TokenFor,
    conditions: dict[str, Any],
    meets: tuple[str, dict[str, Any]],
    misses: tuple[str, dict[str, Any]],
) -> None:
    alice = token_for("alice", *SCOPES)
    await add_rule(api, alice, conditions=conditions, actions={"moveToFolder": "archive"})
    await send(api, token_for, meets[0], {**meets[1], "subject": meets[1]["subject"] + " #meets"})
    await send(api, token_for, misses[0], {**misses[1], "subject": misses[1]["subject"] + " #misses"})
    assert [s.split("#")[-1] for s in await subjects(api, token_for, "alice", "archive")] == ["meets"]
    assert [s.split("#")[-1] for s in await subjects(api, token_for, "alice", "inbox")] == ["misses"]


async def _one(api: AsyncClient, token_for: TokenFor, user: str, folder: str) -> dict[str, Any]:
    (item,) = await folder_items(api, token_for(user, *SCOPES), "/v1.0/me", folder)
    return item


@pytest.mark.parametrize(
    ("actions", "expect"),
    [
        ({"moveToFolder": "archive"}, {"inbox": [], "archive": ["act"]}),
        ({"copyToFolder": "archive"}, {"inbox": ["act"], "archive": ["act"]}),
        ({"delete": True}, {"inbox": [], "deleteditems": ["act"]}),
        ({"permanentDelete": True}, {"inbox": [], "deleteditems": [], "recoverableitemsdeletions": []}),
        (
            {"moveToFolder": "archive", "copyToFolder": "junkemail"},
            {"archive": ["act"], "junkemail": ["act"]},
        ),
    ],
)
async def test_filing_actions(
    api: AsyncClient, token_for: TokenFor, actions: dict[str, Any], expect: dict[str, list[str]]
) -> None:
    await add_rule(api, token_for("alice", *SCOPES), conditions={"subjectContains": ["act"]}, actions=actions)
    await send(api, token_for, "bob", message("act"))
    for folder, wanted in expect.items():
        assert await subjects(api, token_for, "alice", folder) == wanted, folder


async def test_marking_actions_change_the_delivered_copy(api: AsyncClient, token_for: TokenFor) -> None:
    actions = {"markAsRead": True, "markImportance": "low", "assignCategories": ["Blue", "Green"]}
    await add_rule(api, token_for("alice", *SCOPES), conditions={"subjectContains": ["act"]}, actions=actions)
    await send(api, token_for, "bob", message("act", categories=["Green"]))
    item = await _one(api, token_for, "alice", "inbox")
    assert item["isRead"] is True and item["importance"] == "low"
    assert item["categories"] == ["Green", "Blue"]


async def test_forward_and_redirect_go_out_through_the_send_path(
    api: AsyncClient, token_for: TokenFor
) -> None:
    alice = token_for("alice", *SCOPES)
    await add_rule(
        api, alice, conditions={"subjectContains": ["fwd"]}, actions={"forwardTo": people([CAROL])}
    )
    await add_rule(api, alice, sequence=2, conditions={"subjectContains": ["redir"]},
                   actions={"redirectTo": {"emailAddress": {"address": CAROL}}})  # fmt: skip
    await send(api, token_for, "bob", message("fwd", attachments=ATTACHMENT))
    await send(api, token_for, "bob", message("redir"))
    assert await subjects(api, token_for, "alice", "inbox") == ["fwd", "redir"]
    carol = await folder_items(api, token_for("carol", *SCOPES), "/v1.0/me", "inbox")
    by_subject = {i["subject"]: i for i in carol}
    assert set(by_subject) == {"FW: fwd", "redir"}
    forward = by_subject["FW: fwd"]
    assert forward["from"]["emailAddress"]["address"] == ALICE and forward["hasAttachments"] is True
    redirect = by_subject["redir"]
    assert redirect["from"]["emailAddress"]["address"] == BOB  # a redirect keeps the original sender
    assert await subjects(api, token_for, "alice", "sentitems") == []  # rules keep no Sent Items copy


async def test_sequence_and_stop_processing_rules(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", *SCOPES)
    when = {"subjectContains": ["act"]}
    await add_rule(api, alice, sequence=5, conditions=when, actions={"moveToFolder": "archive"})
    await add_rule(
        api, alice, sequence=1, conditions=when, actions={"markAsRead": True, "stopProcessingRules": True}
    )
    await send(api, token_for, "bob", message("act"))
    item = await _one(api, token_for, "alice", "inbox")
    assert item["isRead"] is True  # the first rule ran and stopped the second


async def test_disabled_rules_and_exceptions_do_not_apply(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", *SCOPES)
    when = {"subjectContains": ["act"]}
    await add_rule(api, alice, conditions=when, exceptions={"bodyContains": ["keep"]},
                   actions={"moveToFolder": "archive"})  # fmt: skip
    await add_rule(api, alice, isEnabled=False, actions={"delete": True})
    await send(api, token_for, "bob", message("act", body={"contentType": "Text", "content": "please KEEP"}))
    await send(api, token_for, "bob", message("act 2"))
    assert await subjects(api, token_for, "alice", "inbox") == ["act"]
    assert await subjects(api, token_for, "alice", "archive") == ["act 2"]


async def test_a_rule_without_conditions_applies_to_every_message(
    api: AsyncClient, token_for: TokenFor
) -> None:
    await add_rule(api, token_for("alice", *SCOPES), actions={"moveToFolder": "archive"})
    await send(api, token_for, "bob", message("anything"))
    assert await subjects(api, token_for, "alice", "archive") == ["anything"]


async def test_forwarding_rules_do_not_loop(api: AsyncClient, token_for: TokenFor) -> None:
    # Alice forwards everything to Carol, Carol everything back to Alice (and Bob redirects to Alice).
    await add_rule(api, token_for("alice", *SCOPES), actions={"forwardTo": people([CAROL])})
    await add_rule(api, token_for("carol", *SCOPES), user="carol", actions={"forwardTo": people([ALICE])})
    await send(api, token_for, "bob", message("ping"))
    assert await subjects(api, token_for, "alice", "inbox") == ["FW: FW: ping", "ping"]
    assert await subjects(api, token_for, "carol", "inbox") == ["FW: ping"]


async def test_move_to_a_folder_by_id(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", *SCOPES)
    r = await api.get("/v1.0/me/mailFolders/archive", headers=alice)
    await add_rule(api, alice, actions={"moveToFolder": r.json()["id"], "markAsRead": True})
    await send(api, token_for, "bob", message("kept"))
    assert await subjects(api, token_for, "alice", "archive") == ["kept"]
    assert (await _one(api, token_for, "alice", "archive"))["isRead"] is True
