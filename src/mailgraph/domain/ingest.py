"""Local delivery: put a message into recipients' Inboxes, with their Inbox rules and automatic replies
(used by sending and by inbound SMTP)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from mailgraph.domain import (
    attachments,
    auto_replies,
    automatic_mail,
    drafts,
    routing,
    rule_engine,
    rule_forwards,
)
from mailgraph.domain.automatic_mail import Outgoing
from mailgraph.domain.errors import ItemNotFoundError
from mailgraph.domain.inference import classification_for
from mailgraph.domain.mailboxes import folder, well_known_id
from mailgraph.domain.model import SECOND, EmailAddress, ItemBody, Message, Tenant, Timestamp, User
from mailgraph.domain.ports import Tx
from mailgraph.domain.rule_model import MessageRule
from mailgraph.domain.settings_model import StoredSettings


async def deliver(
    tx: Tx,
    message: Message,
    recipients: list[User],
    now: Timestamp,
    folder: str = "inbox",
    *,
    envelope_from: str | None = None,
) -> list[Message]:
    """One Inbox item per recipient user, as received (spec §3.2 "Recipient's Inbox copy"), with each
    mailbox's Inbox rules and automatic replies applied in this unit (docs/rules-and-auto-replies.md).

    `folder` is the well-known folder the copies go to: the Inbox, or Junk Email for anonymous mail
    claiming a hosted domain (domain/spoofing.py).

    The copies keep internetMessageId, conversationId, sentDateTime and the headers; they are unread,
    not drafts, received now, and never show Bcc (spec §1: Bcc is delivered but hidden). A rule may
    file a copy elsewhere, change it, or keep none (permanentDelete): the returned list holds the
    copies stored in the recipients' chosen folders. What rules forward and automatic replies go out
    after the copies, through the normal paths (local delivery again, the outbox for external ones).

    `envelope_from`: the SMTP MAIL FROM of received mail ("" for a null sender); None for local sends.
    """
    delivered: list[Message] = []
    outgoing: list[Outgoing] = []
    mailbox_ids = [u.id for u in recipients]
    rules_of: dict[str, list[MessageRule]] = {}
    settings: dict[str, StoredSettings] = {}
    # Mail filed to Junk Email as spoofed (domain/spoofing.py) gets neither Inbox rules (a rule must not
    # file it back out of Junk) nor automatic replies (no backscatter to a forged sender).
    if folder == "inbox":
        for rule in await tx.message_rules.list(mailbox_ids):
            rules_of.setdefault(rule.mailbox_id, []).append(rule)
        settings = await tx.mailbox_settings.get_many(mailbox_ids)
    for user in recipients:
        inbox = await well_known_id(tx, user, folder)
        copy = drafts.copy_for(message, user.id, inbox, now)
        copy.is_draft = False
        copy.is_read = False
        copy.received_at = now
        copy.bcc = []
        # Focused Inbox overrides of this mailbox (domain/inference.py) classify mail from their sender;
        # the Inbox rules run after, on the classified copy.
        classified = await classification_for(tx, user.id, message.from_ or message.sender)
        if classified is not None:
            copy.inference_classification = classified
        decision = await _decide(tx, message, copy, user, rules_of.get(user.id, []))
        if decision is not None:
            await _apply(tx, user, copy, decision)
        if decision is None or not decision.discard:
            await tx.messages.insert(copy)
            tx.changes.message("created", copy)
            await attachments.copy_all(tx, message.id, copy.id, now)  # shared blobs, no byte copies
            delivered.append(copy)
        if decision is not None:
            outgoing += await _copies_and_forwards(tx, message, copy, user, decision, now)
            if not decision.discard:
                await _pend_attached(tx, copy, decision, now)
        if user.id in settings:
            domains = await _domains(tx, user)
            reply = await auto_replies.reply_for(
                tx, user, domains, settings[user.id], copy, envelope_from, now
            )
            if reply is not None:
                outgoing.append(reply)
    for out in outgoing:
        await send_automatic(tx, out, now)
    return delivered


async def _pend_attached(tx: Tx, copy: Message, decision: rule_engine.Decision, now: Timestamp) -> None:
    """forwardAsAttachmentTo: a pending row naming the stored copy (domain/rule_forwards.py), carried out
    after this unit commits. With permanentDelete no copy is kept, so there is nothing to attach and
    no forward (docs/rules-and-auto-replies.md)."""
    for f in decision.forwards:
        if f.kind == "attach":
            await tx.rule_forwards.add(rule_forwards.pending(copy, f.to, now))
            tx.changes.forward_pending()


async def _decide(
    tx: Tx, original: Message, copy: Message, user: User, rules: list[MessageRule]
) -> rule_engine.Decision | None:
    if not rules:
        return None
    facts = rule_engine.Facts(copy, user)
    if rule_engine.uses_size(rules):
        parts = await tx.attachments.for_item(original.id)
        size = len(copy.subject) + len(copy.body.content.encode()) + sum(a.size for a in parts)
        size += sum(len(h.name) + len(h.value) + 4 for h in copy.headers)
        facts.size_kb = size // 1024
    return rule_engine.decide(rules, facts)


async def _apply(tx: Tx, user: User, copy: Message, decision: rule_engine.Decision) -> None:
    """The rule actions that change the copy before it is stored."""
    if decision.move_to is not None:
        target = await _rule_folder(tx, user, decision.move_to)
        if target is not None:
            copy.folder_id = target
    copy.is_read = copy.is_read or decision.mark_read
    if decision.importance in ("low", "normal", "high"):
        copy.importance = decision.importance  # type: ignore[assignment]
    copy.categories += [c for c in decision.categories if c not in copy.categories]


async def _rule_folder(tx: Tx, user: User, key: str) -> str | None:
    """A rule's folder by id or well-known name; None when it was deleted since (the action is skipped,
    as Exchange skips a rule whose folder is gone, marking it in error)."""
    try:
        return (await folder(tx, user, key)).id
    except ItemNotFoundError:
        return None


async def _copies_and_forwards(
    tx: Tx, original: Message, copy: Message, user: User, decision: rule_engine.Decision, now: Timestamp
) -> list[Outgoing]:
    for key in decision.copies:
        target = await _rule_folder(tx, user, key)
        if target is None or (target == copy.folder_id and not decision.discard):
            continue
        clone = drafts.copy_for(copy, user.id, target, now)
        await tx.messages.insert(clone)
        tx.changes.message("created", clone)
        await attachments.copy_all(tx, original.id, clone.id, now)
    # The forwards carry the delivered message's attachments, read from the original item.
    source = replace(copy, id=original.id)
    return [automatic_mail.forward(source, user, f, now) for f in decision.forwards if f.kind != "attach"]


async def _domains(tx: Tx, user: User) -> frozenset[str]:
    tenant = await tx.directory.get_tenant(user.tenant_id)
    return frozenset(d.casefold() for d in (tenant.domains if tenant is not None else ()))


async def send_automatic(tx: Tx, out: Outgoing, now: Timestamp) -> None:
    """Send a forward or automatic reply: local recipients through `deliver` (their own rules apply;
    the loop header and Auto-Submitted stop loops), external ones through the outbox. Unknown
    recipients of hosted domains get nothing and no report (automatic mail raises no NDR here)."""
    tenant = await tx.directory.get_tenant(out.owner.tenant_id)
    if tenant is None:
        return
    local, _unknown, external = await routing.route(tx, tenant, out.recipients)
    if out.attachments_from is not None:
        await attachments.copy_all(tx, out.attachments_from, out.message.id, now)
    if local:
        await deliver(tx, out.message, local, now)
    if external:
        await routing.enqueue(tx, out.owner, out.message, external, now)
    if out.attachments_from is not None:
        await attachments.release(tx, out.message.id, now)


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
