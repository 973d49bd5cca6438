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
from dataclasses import dataclass

from mailgraph.delivery.policy import Reply
from mailgraph.domain import attachments, ingest
from mailgraph.domain.mailboxes import well_known_id
from mailgraph.domain.model import (
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

    def undelivered(self) -> ingest.Undelivered:
        """The report's line for this recipient (the text is built once, in domain/ingest.py)."""
        return ingest.Undelivered(self.recipient, self.reason, self.reply.describe())


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
    tenant = None if owner is None else await tx.directory.get_tenant(owner.tenant_id)
    if owner is None or tenant is None:
        return None
    postmaster = ingest.postmaster(tenant)
    ndr = ingest.non_delivery_report(original, owner, postmaster, [f.undelivered() for f in failures], now)
    ndr.folder_id = await well_known_id(tx, owner, "inbox")
    if attached is not None:
        await attachments.attach_new(tx, ndr, MessageChanges(attachments=[attached]), now)
    await tx.messages.insert(ndr)
    tx.changes.message("created", ndr)
    return ndr
