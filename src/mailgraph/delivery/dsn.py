"""Non-delivery reports for recipients the relay refused for good or that expired in the queue.

One report goes to the sender's Inbox per failed group attempt: the recipients of one message and one
domain that failed in the same SMTP transaction share one report listing each of them with its own
reply (Exchange does the same — one NDR per message and failure event, every failed recipient listed).
It comes from the tenant's postmaster (`postmaster@<first domain>`, RFC 5321 §4.5.1) with the subject
`Undeliverable: <subject>`, quotes the original's key fields in the body, and attaches the original as
relayed (an itemAttachment, message/rfc822 — Exchange attaches it the same way). In capture mode
nothing fails, so nothing is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from mailgraph.delivery.policy import Reply
from mailgraph.domain import attachments, ingest
from mailgraph.domain.mailboxes import well_known_id
from mailgraph.domain.model import (
    SECOND,
    EmailAddress,
    ItemBody,
    Message,
    MessageChanges,
    NewAttachment,
    Timestamp,
)
from mailgraph.domain.ports import BlobStorage, Tx


@dataclass(frozen=True, slots=True)
class Failure:
    """One recipient that will not be delivered, and why."""

    recipient: str
    reply: Reply
    reason: str


def _people(items: Sequence[EmailAddress]) -> str:
    return ", ".join(f"{a.name} <{a.address}>" if a.name else a.address for a in items)


def _date(ts: Timestamp) -> str:
    return datetime.fromtimestamp(ts / SECOND, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def report_text(original: Message, failures: Sequence[Failure]) -> str:
    """The report's body: each recipient with its reason and the relay's reply, then the original."""
    lines = ["Your message couldn't be delivered to these recipients:", ""]
    for f in failures:
        lines += [
            f"  {f.recipient}",
            f"    Reason: {f.reason}",
            f"    Remote server: {f.reply.describe()}",
            "",
        ]
    sender = original.from_ or original.sender
    lines += [
        "Original message details:",
        f"  From:       {_people([sender]) if sender else ''}",
        f"  To:         {_people(original.to)}",
    ]
    if original.cc:
        lines.append(f"  Cc:         {_people(original.cc)}")
    lines += [
        f"  Sent:       {_date(original.sent_at)}",
        f"  Subject:    {original.subject}",
        f"  Message-ID: {original.internet_message_id}",
        "",
        "  " + (original.body_preview or "").replace("\n", "\n  "),
    ]
    return "\n".join(lines).rstrip() + "\n"


async def stage_original(blobs: BlobStorage, original: Message | None, mime: bytes) -> NewAttachment:
    """The original's MIME as a staged message/rfc822 attachment for a report (bytes stored now)."""
    subject = (original.subject if original else "") or "Original message"
    item = NewAttachment("item", subject[:200], "message/rfc822", data=mime)
    await attachments.stage(blobs, [item])
    return item


async def report(
    tx: Tx,
    original: Message,
    failures: Sequence[Failure],
    now: Timestamp,
    attached: NewAttachment | None = None,
) -> Message | None:
    """Put one non-delivery report for `failures` into the sender's Inbox, inside the caller's unit.

    Args:
        tx: the unit of work that also records the failures (so a report exists iff they are failed).
        original: the queued snapshot of the sent message (its `mailbox_id` is the sender's mailbox).
        failures: the failed recipients of one attempt.
        now: the report's time.
        attached: the original as relayed, staged by `stage_original` (None: only quoted in the body).

    Returns:
        The report, or None when there is nothing to report or the sender's mailbox no longer exists.
    """
    if not failures:
        return None
    owner = await tx.directory.get_user(original.mailbox_id)
    tenant = await tx.directory.get_tenant()
    if owner is None or tenant is None:
        return None
    postmaster = ingest.postmaster(tenant)
    addresses = [f.recipient for f in failures]
    ndr = ingest.non_delivery_report(original, owner, postmaster, addresses, failures[0].reason, now)
    text = report_text(original, failures)
    ndr = replace(
        ndr,
        folder_id=await well_known_id(tx, owner, "inbox"),
        body=ItemBody("text", text),
        body_preview=" ".join(text.split())[:255],
    )
    if attached is not None:
        await attachments.attach_new(tx, ndr, MessageChanges(attachments=[attached]), now)
    await tx.messages.insert(ndr)
    tx.changes.message("created", ndr)
    return ndr
