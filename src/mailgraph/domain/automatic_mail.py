"""Mail the server writes on a mailbox's behalf at delivery: rule forwards and redirects, automatic replies.

Each is an `Outgoing`: a message from the mailbox owner, its recipients, and the item whose attachments
it carries. domain/ingest.py sends them through the normal paths after the delivery's copies are
written (local Inboxes through `ingest.deliver` again, external recipients through the outbox), in the
same unit of work — except a forward-as-attachment, sent after the delivery's commit by
domain/attached_forwards.py (its attachment's bytes must reach the blob store first). None is kept in Sent Items (Exchange keeps no copy of what rules and OOF send).

Loop protection: a forward or redirect stamps `X-MS-Exchange-Inbox-Rules-Loop` with the forwarding
mailbox (rule_engine.decide forwards nothing already stamped by the recipient, nor after three hops);
an automatic reply carries `Auto-Submitted: auto-replied` (RFC 3834 §5), so no automatic reply and no
rule that tests isAutomaticReply answers it in turn.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC

from mailgraph.domain import bodies, drafts, ids, quoting
from mailgraph.domain.model import EmailAddress, InternetMessageHeader, ItemBody, Message, Timestamp, User
from mailgraph.domain.rule_engine import LOOP_HEADER, Forward


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message delivery sends on the owner's behalf."""

    owner: User
    message: Message
    recipients: list[EmailAddress]
    attachments_from: str | None = None
    """The item whose attachments the message carries (the delivered original), if any."""


def _fresh(original: Message, owner: User, now: Timestamp) -> Message:
    """A new sent item of the owner's, derived from `original` (new ids, not stored in any folder)."""
    return replace(
        drafts.copy_for(original, owner.id, "", now),
        internet_message_id=ids.internet_message_id(owner.mail.rsplit("@", 1)[-1]),
        is_draft=False,
        is_read=True,
        sent_at=now,
        received_at=now,
        bcc=[],
        reply_to=[],
        categories=[],
        is_delivery_receipt_requested=False,
        is_read_receipt_requested=False,
    )


_KEPT = frozenset({LOOP_HEADER.casefold(), "auto-submitted", "precedence", "list-id"})


def _loop_headers(original: Message, owner: User) -> list[InternetMessageHeader]:
    """The earlier loop stamps plus this mailbox's, and the marks of automatic mail (RFC 3834 §2): a
    forwarded automatic reply or list message stays automatic, so nobody answers it in turn."""
    kept = [h for h in original.headers if h.name.casefold() in _KEPT]
    return [*kept, InternetMessageHeader(LOOP_HEADER, owner.mail)]


def forward(original: Message, owner: User, rule: Forward, now: Timestamp) -> Outgoing:
    """A rule's forward or redirect of the delivered `original`.

    forwardTo: a new message "FW: subject" from the owner, the original quoted below Outlook's header
    block, its attachments along. redirectTo: the original as it is (From, To, subject and body kept,
    as Exchange's redirect does), resent to the new recipients with the owner as Sender.
    """
    recipients = list(rule.to)
    message = _fresh(original, owner, now)
    if rule.kind == "redirect":
        message = replace(
            message,
            sender=owner.address,
            headers=[
                *(h for h in original.headers if h.name.casefold() not in _KEPT),
                *_loop_headers(original, owner),
                InternetMessageHeader("Resent-From", owner.mail),
            ],
        )
        return Outgoing(owner, message, recipients, original.id)
    body = quoting.quoted_body(original, None, UTC)
    message = replace(
        message,
        subject=f"FW: {original.subject}",
        body=body,
        body_preview=bodies.preview(body),
        from_=owner.address,
        sender=owner.address,
        to=recipients,
        cc=[],
        headers=_loop_headers(original, owner),
        conversation_id=original.conversation_id,
    )
    return Outgoing(owner, message, recipients, original.id)


def forward_as_attachment(
    original: Message, owner: User, recipients: list[EmailAddress], now: Timestamp
) -> Outgoing:
    """A rule's forwardAsAttachmentTo of the delivered `original`: a new message "FW: subject" from the
    owner with an empty body, loop-stamped like forwardTo. The caller attaches the original as an item
    attachment (its MIME, staged in the blob store after the delivery's commit: domain/attached_forwards.py).
    """
    body = bodies.normalize(ItemBody("html", "<p></p>"))
    message = replace(
        _fresh(original, owner, now),
        subject=f"FW: {original.subject}",
        body=body,
        body_preview="",
        from_=owner.address,
        sender=owner.address,
        to=recipients,
        cc=[],
        has_attachments=True,
        headers=_loop_headers(original, owner),
        conversation_id=original.conversation_id,
        in_reply_to="",
        references="",
    )
    return Outgoing(owner, message, recipients)


def automatic_reply(original: Message, owner: User, to: EmailAddress, text: str, now: Timestamp) -> Outgoing:
    """An automatic reply to `to` (RFC 3834 §3: "Automatic reply: subject", In-Reply-To/References of
    the original, `Auto-Submitted: auto-replied`, and Exchange's `X-Auto-Response-Suppress: All`)."""
    body = bodies.normalize(ItemBody("html", text or "<p></p>"))
    message = replace(
        _fresh(original, owner, now),
        subject=f"Automatic reply: {original.subject}",
        body=body,
        body_preview=bodies.preview(body),
        from_=owner.address,
        sender=owner.address,
        to=[to],
        cc=[],
        has_attachments=False,
        importance="normal",
        headers=[
            InternetMessageHeader("Auto-Submitted", "auto-replied"),
            InternetMessageHeader("X-Auto-Response-Suppress", "All"),
        ],
        in_reply_to=original.internet_message_id,
        references=" ".join(r for r in (original.references, original.internet_message_id) if r),
    )
    return Outgoing(owner, message, [to])
