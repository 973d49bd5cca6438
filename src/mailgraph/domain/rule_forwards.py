"""The pending forwards-as-attachment of Inbox rules (migration 0032): what a delivery leaves for after
its commit.

A rule's `forwardAsAttachmentTo` sends the delivered message as an item attachment (message/rfc822,
Graph's itemAttachment). Attachment bytes live in the blob store, and no unit of work writes blobs
(docs/architecture.md: bytes go to the blob store before the unit that references them), so the
delivery cannot build the forward in its own unit. It writes a `PendingForward` instead — the outbox
pattern: a durable row in the same transaction, naming the delivered copy and the recipients — and the
forwarder (domain/attached_forwards.py, run by delivery/rule_forwards.py) carries it out after commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailgraph.domain import ids
from mailgraph.domain.model import SECOND, EmailAddress, Message, Timestamp

MAX_ATTEMPTS = 5
"""A forward that failed this many times (a store or blob-store failure each time) is dropped."""
RETRY_S = (5, 30, 120, 600)
"""The waits between attempts."""


@dataclass(frozen=True, slots=True)
class PendingForward:
    """One forward-as-attachment decided at delivery, not yet sent."""

    id: str
    message_id: str
    """The delivered copy (immutable id) the forward attaches."""
    mailbox_id: str
    """Its mailbox, whose owner the forward is from."""
    recipients: tuple[EmailAddress, ...]
    attempts: int
    due_at: Timestamp
    created_at: Timestamp
    lease_until: Timestamp | None = None


def pending(copy: Message, recipients: tuple[EmailAddress, ...], now: Timestamp) -> PendingForward:
    """The row a delivery writes, in its unit, for one forwardAsAttachmentTo action on `copy`."""
    return PendingForward(ids.queue_id(), copy.id, copy.mailbox_id, recipients, 0, now, now)


def next_due(job: PendingForward, now: Timestamp) -> Timestamp | None:
    """When a failed attempt is tried again; None once `MAX_ATTEMPTS` have failed (dropped)."""
    if job.attempts + 1 >= MAX_ATTEMPTS:
        return None
    return now + RETRY_S[min(job.attempts, len(RETRY_S) - 1)] * SECOND
