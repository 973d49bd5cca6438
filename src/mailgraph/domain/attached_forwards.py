"""Carrying out the rules' pending forwards-as-attachment after the delivery's commit (the outbox
pattern, docs/architecture.md; the rows: domain/rule_forwards.py, migration 0032).

One pending forward is three steps, none of them holding a transaction across I/O:

1. a read unit loads the delivered copy, its owner and its attachments. A copy deleted meanwhile
   (`DELETE` soft-deletes into Recoverable Items; a purge took the row with it, ON DELETE CASCADE)
   drops the work: the user deleted what the rule would attach, nothing is sent;
2. outside any unit, the copy's MIME is composed as `$value` composes it (`mime.compose`, Bcc never
   shown: a recipient's copy) and written to the blob store (content-addressed, so a retry writes the
   same blob; an unused one is collected by domain/collector.py);
3. one write unit deletes the row *under the lease* and, only if that succeeded, creates the forward
   ("FW: subject" from the mailbox owner, the copy as its one itemAttachment, message/rfc822) and
   sends it through the normal path (`ingest.send_automatic`: local Inboxes, or the outbox to the
   relay). Deleting the row in the sending unit is what makes a retry after a crash safe: either both
   happened, or neither did and the lease expires for another claim — never two forwards.

Loop protection is forwardTo's: the rules decided at delivery (`rule_engine.decide` forwards nothing
the recipient mailbox already stamped, nor after three hops), and the forward carries the
`X-MS-Exchange-Inbox-Rules-Loop` stamps and the automatic-mail marks of the copy plus its owner's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from mailgraph.domain import attachments, automatic_mail, ingest, rule_forwards
from mailgraph.domain.mailboxes import well_known_id
from mailgraph.domain.mime_items import load_attachments
from mailgraph.domain.model import Attachment, Message, Timestamp, User
from mailgraph.domain.ports import BlobStorage, Tx, UnitOfWork
from mailgraph.domain.rule_forwards import PendingForward
from mailgraph.mime.compose import compose

log = logging.getLogger("mailgraph.rules")

_INLINE_MAX = 256 * 1024  # compose larger items in a worker thread (as mime_items does)


class AttachedForwardService:
    """The forwarder's use cases: claim pending forwards, carry one out, or count its failure."""

    def __init__(self, uow: UnitOfWork, blobs: BlobStorage, clock: Callable[[], Timestamp]) -> None:
        self._uow = uow
        self._blobs = blobs
        self._clock = clock

    async def claim(self, now: Timestamp, lease_until: Timestamp, limit: int) -> list[PendingForward]:
        """Lease the due pending forwards, oldest first (one unit, no I/O)."""

        async def unit(tx: Tx) -> list[PendingForward]:
            return await tx.rule_forwards.claim_due(now, lease_until, limit)

        return await self._uow.write(unit)

    async def carry_out(self, job: PendingForward, lease: Timestamp) -> bool:
        """Send one forward (steps 1–3 above); False when it was dropped (copy gone) or another claim
        owns it now (this lease expired)."""

        async def load(tx: Tx) -> tuple[Message, list[Attachment]] | None:
            live = await _live_copy(tx, job)
            if live is None:
                return None
            return live[0], await attachments.attachment_parts(tx, live[0].id)

        loaded = await self._uow.read(load)
        if loaded is None:
            await self._finish(job, lease)  # the copy was deleted meanwhile: drop the work
            return False
        copy, parts = loaded
        mime = await self._mime(copy, parts)
        blob_hash = await self._blobs.put(mime)  # before the unit that references it

        async def send(tx: Tx) -> bool:
            if not await tx.rule_forwards.finish(job.id, lease):
                return False
            live = await _live_copy(tx, job)
            if live is None:  # deleted between the steps: the row is gone, nothing is sent
                return False
            await _send(tx, live[0], live[1], job, blob_hash, len(mime), self._clock())
            return True

        return await self._uow.write(send)

    async def failed(self, job: PendingForward, lease: Timestamp) -> None:
        """Count a failed attempt: due again after a wait, dropped after `MAX_ATTEMPTS`."""
        due = rule_forwards.next_due(job, self._clock())
        if due is None:
            log.warning("forward-as-attachment %s of %s dropped after %d attempts",
                        job.id, job.mailbox_id, rule_forwards.MAX_ATTEMPTS)  # fmt: skip
            await self._finish(job, lease)
            return

        async def unit(tx: Tx) -> None:
            await tx.rule_forwards.retry(job.id, lease, due)

        await self._uow.write(unit)

    async def pending(self) -> list[PendingForward]:
        """The pending forwards (tests and start-up)."""

        async def unit(tx: Tx) -> list[PendingForward]:
            return await tx.rule_forwards.pending()

        return await self._uow.read(unit)

    async def _finish(self, job: PendingForward, lease: Timestamp) -> None:
        async def unit(tx: Tx) -> None:
            await tx.rule_forwards.finish(job.id, lease)

        await self._uow.write(unit)

    async def _mime(self, copy: Message, parts: list[Attachment]) -> bytes:
        """The copy's RFC 5322 form, as its `$value` (a recipient's copy never shows Bcc)."""
        if not parts and len(copy.body.content) <= _INLINE_MAX:
            return compose(copy)
        files = await load_attachments(self._blobs, parts) if parts else []
        return await asyncio.to_thread(compose, copy, files)


async def _live_copy(tx: Tx, job: PendingForward) -> tuple[Message, User] | None:
    """The delivered copy and its owner; None when the copy was deleted (soft-deleted into Recoverable
    Items as `DELETE` does, domain/messages.py, or purged) or the mailbox is gone."""
    copy = await tx.messages.get_immutable(job.mailbox_id, job.message_id)
    owner = await tx.directory.get_user(job.mailbox_id)
    if copy is None or owner is None:
        return None
    if copy.folder_id == await well_known_id(tx, owner, "recoverableitemsdeletions"):
        return None
    return copy, owner


async def _send(
    tx: Tx, copy: Message, owner: User, job: PendingForward, blob_hash: str, size: int, now: Timestamp
) -> None:
    """Create the forward with the copy as its itemAttachment and send it through the normal path."""
    out = automatic_mail.forward_as_attachment(copy, owner, list(job.recipients), now)
    # Outlook names the attached item after its subject.
    item = Attachment(
        id=attachments.attachment_id(), item_id=out.message.id, position=0, kind="item",
        name=copy.subject or "(no subject)", content_type="message/rfc822", size=size, is_inline=False,
        content_id=None, content_location=None, modified_at=now, blob_hash=blob_hash,
    )  # fmt: skip
    await tx.attachments.insert(item)
    # The recipients' copies and the outbound snapshot take their own references (attachments.copy_all),
    # then the forward's own rows go: it is kept in no folder (no Sent Items copy, as forwardTo).
    await ingest.send_automatic(tx, out, now)
    await attachments.release(tx, out.message.id, now)
