"""Local delivery: put a message into recipients' Inboxes (used by sending; inbound SMTP will use it too)."""

from __future__ import annotations

from dataclasses import replace

from mailgraph.domain import attachments, drafts
from mailgraph.domain.mailboxes import well_known_id
from mailgraph.domain.model import EmailAddress, ItemBody, Message, Tenant, Timestamp, User
from mailgraph.domain.ports import Tx


async def deliver(tx: Tx, message: Message, recipients: list[User], now: Timestamp) -> list[Message]:
    """One Inbox item per recipient user, as received (spec §3.2 "Recipient's Inbox copy").

    The copies keep internetMessageId, conversationId, sentDateTime and the headers; they are unread,
    not drafts, received now, and never show Bcc (spec §1: Bcc is delivered but hidden).
    """
    delivered: list[Message] = []
    for user in recipients:
        inbox = await well_known_id(tx, user, "inbox")
        copy = drafts.copy_for(message, user.id, inbox, now)
        copy.is_draft = False
        copy.is_read = False
        copy.received_at = now
        copy.bcc = []
        await tx.messages.insert(copy)
        tx.changes.message("created", copy)
        await attachments.copy_all(tx, message.id, copy.id, now)  # shared blobs, no byte copies
        delivered.append(copy)
    return delivered


def postmaster(tenant: Tenant) -> EmailAddress:
    """The sender of reports and receipts: the tenant's postmaster (RFC 5321 §4.5.1)."""
    return EmailAddress(f"postmaster@{tenant.domains[0]}", "Mail Delivery System")


def non_delivery_report(
    original: Message, owner: User, postmaster: EmailAddress, failed: list[str], reason: str, now: Timestamp
) -> Message:
    """A non-delivery report for the sender's Inbox (subject `Undeliverable: …`, spec §1 step 4)."""
    lines = "\n".join(f"  {address}" for address in failed)
    text = (
        "Your message couldn't be delivered to these recipients:\n\n"
        f"{lines}\n\nReason: {reason}\n\n"
        f"Original message: {original.internet_message_id}\nSubject: {original.subject}\n"
    )
    report = drafts.copy_for(original, owner.id, original.folder_id, now)
    return replace(
        report,
        subject=f"Undeliverable: {original.subject}",
        body=ItemBody("text", text),
        body_preview=text[:255].replace("\n", " ").strip(),
        from_=postmaster,
        sender=postmaster,
        to=[owner.address],
        cc=[],
        bcc=[],
        reply_to=[],
        headers=[],
        categories=[],
        internet_message_id=f"<ndr-{report.id[:16]}{original.internet_message_id[1:]}",
        is_draft=False,
        is_read=False,
        received_at=now,
        sent_at=now,
        has_attachments=False,
        importance="normal",
    )


def delivery_receipt(
    original: Message, owner: User, postmaster: EmailAddress, delivered: list[str], now: Timestamp
) -> Message:
    """A delivery receipt for the sender's Inbox (`isDeliveryReceiptRequested`, subject `Delivered: …`).

    Like Exchange, it reports delivery to the recipients' mailboxes (not that they read it, RFC 8098's
    business); it is written only for recipients of this organization, whose delivery is final at commit.
    """
    report = non_delivery_report(original, owner, postmaster, delivered, "", now)
    lines = "\n".join(f"  {address}" for address in delivered)
    text = (
        "Your message has been delivered to the following recipients:\n\n"
        f"{lines}\n\nOriginal message: {original.internet_message_id}\nSubject: {original.subject}\n"
    )
    return replace(
        report,
        subject=f"Delivered: {original.subject}",
        body=ItemBody("text", text),
        body_preview=text[:255].replace("\n", " ").strip(),
        internet_message_id=f"<dr-{report.id[:16]}{original.internet_message_id[1:]}",
        is_delivery_receipt_requested=False,
        is_read_receipt_requested=False,
    )
