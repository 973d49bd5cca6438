"""Local delivery: put a message into recipients' Inboxes (used by sending; inbound SMTP will use it too)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from mailgraph.domain import attachments, drafts
from mailgraph.domain.mailboxes import well_known_id
from mailgraph.domain.model import SECOND, EmailAddress, ItemBody, Message, Tenant, Timestamp, User
from mailgraph.domain.ports import Tx


async def deliver(
    tx: Tx, message: Message, recipients: list[User], now: Timestamp, folder: str = "inbox"
) -> list[Message]:
    """One Inbox item per recipient user, as received (spec §3.2 "Recipient's Inbox copy").

    `folder` is the well-known folder the copies go to: the Inbox, or Junk Email for anonymous mail
    claiming a hosted domain (domain/spoofing.py).

    The copies keep internetMessageId, conversationId, sentDateTime and the headers; they are unread,
    not drafts, received now, and never show Bcc (spec §1: Bcc is delivered but hidden).
    """
    delivered: list[Message] = []
    for user in recipients:
        inbox = await well_known_id(tx, user, folder)
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


@dataclass(frozen=True, slots=True)
class Undelivered:
    """One recipient a report lists: the address, why, and the remote server's reply if one answered."""

    recipient: str
    reason: str
    remote: str | None = None


def _people(items: Sequence[EmailAddress]) -> str:
    return ", ".join(f"{a.name} <{a.address}>" if a.name else a.address for a in items)


def _date(ts: Timestamp) -> str:
    return datetime.fromtimestamp(ts / SECOND, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def report_text(original: Message, failures: Sequence[Undelivered]) -> str:
    """THE text of a non-delivery report (local unknown recipients here, relay failures in delivery/dsn.py):
    each recipient with its reason (and the remote server's reply), then the original's key fields."""
    lines = ["Your message couldn't be delivered to these recipients:", ""]
    for f in failures:
        lines += [f"  {f.recipient}", f"    Reason: {f.reason}"]
        if f.remote is not None:
            lines.append(f"    Remote server: {f.remote}")
        lines.append("")
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


def _report(original: Message, owner: User, postmaster: EmailAddress, text: str, now: Timestamp) -> Message:
    """A report from the postmaster into the sender's mailbox (folder: the caller sets the Inbox)."""
    report = drafts.copy_for(original, owner.id, original.folder_id, now)
    return replace(
        report,
        body=ItemBody("text", text),
        body_preview=" ".join(text.split())[:255],
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


def non_delivery_report(
    original: Message, owner: User, postmaster: EmailAddress, failures: Sequence[Undelivered], now: Timestamp
) -> Message:
    """A non-delivery report for the sender's Inbox (subject `Undeliverable: …`, spec §1 step 4)."""
    report = _report(original, owner, postmaster, report_text(original, failures), now)
    return replace(report, subject=f"Undeliverable: {original.subject}")


def delivery_receipt(
    original: Message, owner: User, postmaster: EmailAddress, delivered: list[str], now: Timestamp
) -> Message:
    """A delivery receipt for the sender's Inbox (`isDeliveryReceiptRequested`, subject `Delivered: …`).

    Like Exchange, it reports delivery to the recipients' mailboxes (not that they read it, RFC 8098's
    business); it is written only for recipients of this organization, whose delivery is final at commit.
    """
    lines = "\n".join(f"  {address}" for address in delivered)
    text = (
        "Your message has been delivered to the following recipients:\n\n"
        f"{lines}\n\nOriginal message: {original.internet_message_id}\nSubject: {original.subject}\n"
    )
    report = _report(original, owner, postmaster, text, now)
    return replace(
        report,
        subject=f"Delivered: {original.subject}",
        body_preview=text[:255].replace("\n", " ").strip(),
        internet_message_id=f"<dr-{report.id[:16]}{original.internet_message_id[1:]}",
        is_delivery_receipt_requested=False,
        is_read_receipt_requested=False,
    )
