"""Inbox rules' forwardAsAttachmentTo: decided in the delivery unit, sent after its commit by the
forwarder (domain/attached_forwards.py), through the real send path, store and blob store.

The forwarder's loop is not running in these tests (no lifespan); each test drives it with
`run_once()`, which is exactly one claim → compose → stage → send cycle.
"""

from __future__ import annotations

import email
import email.policy
from typing import Any

from httpx import AsyncClient

from mailgraph.delivery.rule_forwards import RuleForwarder
from mailgraph.domain.model import now
from mailgraph.domain.ports import Tx
from mailgraph.domain.rule_engine import LOOP_HEADER
from mailgraph.domain.rule_forwards import MAX_ATTEMPTS
from mailgraph.wiring import Runtime
from tests.api.helpers import folder_items, q
from tests.api.test_auto_replies import ON, set_replies
from tests.api.test_rule_delivery import (
    ALICE,
    ATTACHMENT,
    BOB,
    CAROL,
    SCOPES,
    add_rule,
    message,
    people,
    send,
)
from tests.conftest import TokenFor


def forwarder(runtime: Runtime) -> RuleForwarder:
    assert runtime.forwarder is not None
    return runtime.forwarder


async def drain(runtime: Runtime) -> int:
    """Run the forwarder until nothing is pending (bounded: a loop of rules would show as a failure)."""
    handled = 0
    for _ in range(6):
        done = await forwarder(runtime).run_once()
        if done == 0:
            return handled
        handled += done
    raise AssertionError("forwards still pending after 6 cycles")


async def inbox(api: AsyncClient, token_for: TokenFor, user: str) -> dict[str, dict[str, Any]]:
    items = await folder_items(api, token_for(user, *SCOPES), "/v1.0/me", "inbox")
    return {i["subject"]: i for i in items}


async def test_a_local_recipient_gets_the_original_as_an_item_attachment(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    await add_rule(api, token_for("alice", *SCOPES), actions={"forwardAsAttachmentTo": people([CAROL])})
    body = {"contentType": "Text", "content": "quarterly numbers"}
    await send(api, token_for, "bob", message("Report", body=body, attachments=ATTACHMENT))
    # Decided in the delivery's unit, not yet sent: one durable pending row names Alice's copy.
    (job,) = await forwarder(runtime).service.pending()
    assert job.recipients[0].address == CAROL
    assert "FW: Report" not in await inbox(api, token_for, "carol")

    assert await drain(runtime) == 1
    forward = (await inbox(api, token_for, "carol"))["FW: Report"]
    assert forward["from"]["emailAddress"]["address"] == ALICE
    assert [r["emailAddress"]["address"] for r in forward["toRecipients"]] == [CAROL]
    assert forward["hasAttachments"] is True
    carol = token_for("carol", *SCOPES)
    url = f"/v1.0/me/messages/{q(forward['id'])}/attachments"
    (attached,) = (await api.get(url, headers=carol)).json()["value"]
    assert attached["@odata.type"] == "#microsoft.graph.itemAttachment"
    assert attached["name"] == "Report" and attached["contentType"] == "message/rfc822"
    r = await api.get(f"{url}/{q(attached['id'])}/$value", headers=carol)
    assert r.status_code == 200
    inner = email.message_from_bytes(r.content, policy=email.policy.default)
    assert inner["Subject"] == "Report" and BOB in inner["From"] and ALICE in inner["To"]
    text = inner.get_body(("plain",))
    assert text is not None and "quarterly numbers" in text.get_content()
    assert [p.get_filename() for p in inner.iter_attachments()] == ["a.txt"]  # the original's own file
    # The forward as a whole: its MIME carries the original as a message/rfc822 part.
    r = await api.get(f"/v1.0/me/messages/{q(forward['id'])}/$value", headers=carol)
    assert b"Content-Type: message/rfc822" in r.content and b"quarterly numbers" in r.content
    assert await forwarder(runtime).service.pending() == []
    assert await folder_items(api, token_for("alice", *SCOPES), "/v1.0/me", "sentitems") == []


async def test_sent_once_whatever_the_retries(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    await add_rule(api, token_for("alice", *SCOPES), actions={"forwardAsAttachmentTo": people([CAROL])})
    await send(api, token_for, "bob", message("Once"))
    service = forwarder(runtime).service
    t = now()
    (stale,) = await service.claim(t, t + 1, 10)  # a forwarder that crashes before it sends…
    (job,) = await service.claim(t + 2, t + 10**9, 10)  # …its lease runs out and another claims the row
    assert job.id == stale.id
    assert await service.carry_out(stale, t + 1) is False  # the old lease sends nothing
    assert await service.carry_out(job, t + 10**9) is True
    assert await service.carry_out(job, t + 10**9) is False  # the row went with the send: no second
    assert await drain(runtime) == 0
    carol = await folder_items(api, token_for("carol", *SCOPES), "/v1.0/me", "inbox")
    assert [i["subject"] for i in carol] == ["FW: Once"]


async def test_a_copy_deleted_before_the_forwarder_runs_is_not_forwarded(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    alice = token_for("alice", *SCOPES)
    await add_rule(api, alice, actions={"forwardAsAttachmentTo": people([CAROL])})
    for subject in ("Deleted", "Moved", "Kept"):
        await send(api, token_for, "bob", message(subject))
    items = await inbox(api, token_for, "alice")
    r = await api.delete(f"/v1.0/me/messages/{q(items['Deleted']['id'])}", headers=alice)
    assert r.status_code == 204  # soft-deleted into Recoverable Items: not forwarded
    r = await api.post(
        f"/v1.0/me/messages/{q(items['Moved']['id'])}/move", json={"destinationId": "archive"}, headers=alice
    )
    assert r.status_code == 201, r.text  # moved: still the user's mail, still forwarded
    assert len(await forwarder(runtime).service.pending()) == 3
    assert await drain(runtime) == 3
    assert sorted(await inbox(api, token_for, "carol")) == ["FW: Kept", "FW: Moved"]
    assert await forwarder(runtime).service.pending() == []


async def test_a_purged_copy_takes_its_pending_forward_with_it(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    await add_rule(api, token_for("alice", *SCOPES), actions={"forwardAsAttachmentTo": people([CAROL])})
    await send(api, token_for, "bob", message("Purged"))
    (job,) = await forwarder(runtime).service.pending()

    async def purge(tx: Tx) -> None:
        await tx.attachments.release_item(job.message_id, now())
        await tx.messages.delete(job.message_id)

    await runtime.uow.write(purge)
    assert await forwarder(runtime).service.pending() == []  # ON DELETE CASCADE
    assert await drain(runtime) == 0
    assert await inbox(api, token_for, "carol") == {}


async def test_permanent_delete_keeps_no_copy_to_attach(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    actions = {"forwardAsAttachmentTo": people([CAROL]), "permanentDelete": True}
    await add_rule(api, token_for("alice", *SCOPES), actions=actions)
    await send(api, token_for, "bob", message("Purged"))
    assert await forwarder(runtime).service.pending() == []
    assert await inbox(api, token_for, "alice") == {} and await inbox(api, token_for, "carol") == {}


async def test_forwards_as_attachment_do_not_loop(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    # Alice forwards everything to Carol as an attachment, Carol everything back to Alice.
    await add_rule(api, token_for("alice", *SCOPES), actions={"forwardAsAttachmentTo": people([CAROL])})
    await add_rule(
        api, token_for("carol", *SCOPES), user="carol", actions={"forwardAsAttachmentTo": people([ALICE])}
    )
    await send(api, token_for, "bob", message("Loop"))
    assert await drain(runtime) == 2  # Alice → Carol, Carol → Alice; Alice's stamp stops the third
    alice = await inbox(api, token_for, "alice")
    assert sorted(alice) == ["FW: FW: Loop", "Loop"]
    assert sorted(await inbox(api, token_for, "carol")) == ["FW: Loop"]
    r = await api.get(
        f"/v1.0/me/messages/{q(alice['FW: FW: Loop']['id'])}?$select=internetMessageHeaders",
        headers=token_for("alice", *SCOPES),
    )
    stamps = [h["value"] for h in r.json()["internetMessageHeaders"] if h["name"] == LOOP_HEADER]
    assert stamps == [ALICE, CAROL]


async def test_a_forwarded_automatic_reply_stays_automatic(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    # Bob forwards everything to Carol as an attachment; Carol is away too. Alice's automatic reply
    # reaches Bob and goes on to Carol still marked Auto-Submitted, so Carol does not answer Bob for it.
    await set_replies(api, token_for, "alice", ON)
    await set_replies(api, token_for, "carol", ON)
    await add_rule(
        api, token_for("bob", *SCOPES), user="bob", actions={"forwardAsAttachmentTo": people([CAROL])}
    )
    await send(api, token_for, "bob", message("hello"))
    assert await drain(runtime) == 1
    assert sorted(await inbox(api, token_for, "carol")) == ["FW: Automatic reply: hello"]
    assert sorted(await inbox(api, token_for, "bob")) == ["Automatic reply: hello"]


async def test_a_failing_forward_is_retried_then_dropped(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    await add_rule(api, token_for("alice", *SCOPES), actions={"forwardAsAttachmentTo": people([CAROL])})
    await send(api, token_for, "bob", message("Flaky"))
    service = forwarder(runtime).service
    t = now()
    for attempt in range(1, MAX_ATTEMPTS):
        (job,) = await service.claim(t, t + 1, 10)
        await service.failed(job, t + 1)  # what the runner does when carrying it out raised
        (waiting,) = await service.pending()
        assert waiting.attempts == attempt and waiting.lease_until is None and waiting.due_at > t
        assert await service.claim(t, t + 1, 10) == []  # not due before its wait is over
        t = waiting.due_at
    (job,) = await service.claim(t, t + 1, 10)
    await service.failed(job, t + 1)
    assert await service.pending() == []  # dropped after the last attempt
    assert await inbox(api, token_for, "carol") == {}
