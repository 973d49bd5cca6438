"""Automatic replies to local senders, through the real send path: once per sender per period, internal
message, schedules in their zone, never to automatic mail, and no reply loops."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient

from mailgraph.domain import ingest
from mailgraph.domain.inbound import received_message
from mailgraph.domain.model import InternetMessageHeader
from mailgraph.domain.ports import Tx
from mailgraph.mime.parse import parse
from mailgraph.wiring import Runtime
from tests.api.helpers import folder_items, q
from tests.api.test_rule_delivery import SCOPES, add_rule, message, send, subjects
from tests.conftest import Directory, TokenFor
from tests.delivery.helpers import entries

ON = {
    "status": "alwaysEnabled",
    "internalReplyMessage": "<p>Away (internal)</p>",
    "externalReplyMessage": "Away",
}


async def set_replies(api: AsyncClient, token_for: TokenFor, user: str, setting: dict[str, Any]) -> None:
    r = await api.patch(
        "/v1.0/me/mailboxSettings",
        json={"automaticRepliesSetting": setting},
        headers=token_for(user, *SCOPES),
    )
    assert r.status_code == 200, r.text


async def test_each_sender_is_answered_once_until_the_settings_change(
    api: AsyncClient, token_for: TokenFor
) -> None:
    await set_replies(api, token_for, "alice", ON)
    await send(api, token_for, "bob", message("first"))
    await send(api, token_for, "bob", message("second"))
    await send(api, token_for, "carol", message("from carol"))
    replies = await folder_items(api, token_for("bob", *SCOPES), "/v1.0/me", "inbox")
    assert [r["subject"] for r in replies] == ["Automatic reply: first"]
    reply = replies[0]
    assert reply["from"]["emailAddress"]["address"] == "alice@fabrikam.test"
    assert "Away (internal)" in reply["body"]["content"]  # bob is internal: the internal message
    r = await api.get(f"/v1.0/me/messages/{q(reply['id'])}?$select=internetMessageHeaders",
                      headers=token_for("bob", *SCOPES))  # fmt: skip
    headers = {h["name"]: h["value"] for h in r.json()["internetMessageHeaders"]}
    assert headers["Auto-Submitted"] == "auto-replied"
    assert await subjects(api, token_for, "carol", "inbox") == ["Automatic reply: from carol"]
    assert await subjects(api, token_for, "alice", "sentitems") == []
    # A changed setting begins a new period: bob is answered again, once.
    await set_replies(api, token_for, "alice", {**ON, "internalReplyMessage": "Back Monday"})
    await send(api, token_for, "bob", message("third"))
    await send(api, token_for, "bob", message("fourth"))
    assert await subjects(api, token_for, "bob", "inbox") == [
        "Automatic reply: first",
        "Automatic reply: third",
    ]


def _when(moment: datetime, zone: str) -> dict[str, str]:
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": zone}


@pytest.mark.parametrize(
    ("start_h", "end_h", "answered"),
    [(-1, 1, True), (-3, -1, False), (1, 3, False)],
    ids=["now", "past", "future"],
)
async def test_a_scheduled_reply_is_sent_only_inside_its_window(
    api: AsyncClient, token_for: TokenFor, start_h: int, end_h: int, answered: bool
) -> None:
    # Times are wall-clock times in the named zone (Windows name → America/Los_Angeles).
    zone = ZoneInfo("America/Los_Angeles")
    now = datetime.now(UTC).astimezone(zone).replace(tzinfo=None)
    setting = {**ON, "status": "scheduled",
               "scheduledStartDateTime": _when(now + timedelta(hours=start_h), "Pacific Standard Time"),
               "scheduledEndDateTime": _when(now + timedelta(hours=end_h), "Pacific Standard Time")}  # fmt: skip
    await set_replies(api, token_for, "alice", setting)
    await send(api, token_for, "bob", message("when"))
    assert await subjects(api, token_for, "bob", "inbox") == (["Automatic reply: when"] if answered else [])


async def test_disabled_means_no_reply(api: AsyncClient, token_for: TokenFor) -> None:
    await set_replies(api, token_for, "alice", {**ON, "status": "disabled"})
    await send(api, token_for, "bob", message("hello"))
    assert await subjects(api, token_for, "bob", "inbox") == []


async def test_two_absent_users_do_not_answer_each_other(api: AsyncClient, token_for: TokenFor) -> None:
    await set_replies(api, token_for, "alice", ON)
    await set_replies(api, token_for, "bob", ON)
    await send(api, token_for, "bob", message("ping"))
    assert await subjects(api, token_for, "bob", "inbox") == ["Automatic reply: ping"]
    assert await subjects(api, token_for, "alice", "inbox") == ["ping"]  # no reply to the reply


async def test_rules_see_automatic_replies(api: AsyncClient, token_for: TokenFor) -> None:
    await set_replies(api, token_for, "alice", ON)
    await add_rule(api, token_for("bob", *SCOPES), user="bob", conditions={"isAutomaticReply": True},
                   actions={"moveToFolder": "archive"})  # fmt: skip
    await send(api, token_for, "bob", message("are you there"))
    assert await subjects(api, token_for, "bob", "archive") == ["Automatic reply: are you there"]
    assert await subjects(api, token_for, "bob", "inbox") == []


RECEIVED = (
    b"From: Sam <sam@example.org>\r\nTo: alice@fabrikam.test\r\nSubject: Question\r\n"
    b"Message-ID: <q1@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nCan you help?\r\n"
)


async def _receive(runtime: Runtime, directory: Directory, envelope_from: str, extra: bytes = b"") -> None:
    """A message from outside delivered to Alice as the SMTP path delivers it (same store, any engine)."""
    now = time.time_ns() // 1000
    trace = InternetMessageHeader("Received", "from mx.example.org by fabrikam.test")
    message = received_message(parse(extra + RECEIVED), "", trace, now, "fabrikam.test")

    async def unit(tx: Tx) -> None:
        await ingest.deliver(tx, message, [directory.users["alice"]], now, envelope_from=envelope_from)

    await runtime.uow.write(unit)


async def test_external_senders_are_answered_once_through_the_outbox(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime, directory: Directory
) -> None:
    await set_replies(api, token_for, "alice", {**ON, "externalAudience": "all"})
    await _receive(runtime, directory, "sam@example.org")
    await _receive(runtime, directory, "sam@example.org")
    await _receive(runtime, directory, "")  # a bounce: never answered
    await _receive(runtime, directory, "list@example.org", b"List-Id: <l.example.org>\r\n")
    queued = await entries(runtime)
    assert [e.recipient for e in queued] == ["sam@example.org"]
    snapshot = await runtime.engine.read(lambda tx: tx.outbox.get_message(queued[0].outbound_id))
    assert snapshot is not None and snapshot.subject == "Automatic reply: Question"
    assert "Away" in snapshot.body.content and "internal" not in snapshot.body.content


async def test_rule_forward_to_an_external_address_is_queued(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime, directory: Directory
) -> None:
    await add_rule(api, token_for("alice", *SCOPES), actions={"forwardTo": [{"emailAddress": {
        "address": "books@example.com"}}]})  # fmt: skip
    await _receive(runtime, directory, "sam@example.org")
    queued = await entries(runtime)
    assert [e.recipient for e in queued] == ["books@example.com"]
    snapshot = await runtime.engine.read(lambda tx: tx.outbox.get_message(queued[0].outbound_id))
    assert snapshot is not None and snapshot.subject == "FW: Question"


async def test_a_forwarded_automatic_reply_stays_automatic(api: AsyncClient, token_for: TokenFor) -> None:
    # Bob forwards everything to Carol; Carol is away too. Alice's automatic reply reaches Bob and is
    # forwarded to Carol still marked Auto-Submitted, so Carol does not answer Bob for it.
    await set_replies(api, token_for, "alice", ON)
    await set_replies(api, token_for, "carol", ON)
    await add_rule(api, token_for("bob", *SCOPES), user="bob",
                   actions={"forwardTo": [{"emailAddress": {"address": "carol@fabrikam-mail.test"}}]})  # fmt: skip
    await send(api, token_for, "bob", message("hello"))
    assert await subjects(api, token_for, "carol", "inbox") == ["FW: Automatic reply: hello"]
    assert await subjects(api, token_for, "bob", "inbox") == ["Automatic reply: hello"]
