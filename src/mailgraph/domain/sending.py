"""Sending: `message: send` of a draft and `user: sendMail` (spec §1, §2.1), in one unit of work.

The unit moves the draft to Sent Items under a new REST id (or removes it when no copy is kept),
delivers each local recipient's Inbox copy, reports unknown recipients of the tenant's own domains
with a non-delivery report, and queues one outbound entry per external recipient (the outbox pattern:
a worker relays after commit; nothing here touches the network).

With a throttling profile on, Exchange's per-mailbox send limits apply first (domain/send_quota.py):
over the message rate the item waits in the Outbox (`_hold`) and `release` sends it later; over the
daily recipient limit it is "sent" with nothing delivered and a non-delivery report for every recipient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from mailgraph.domain import attachments, drafts, extensions, ids, ingest, routing
from mailgraph.domain.addresses import check_resolvable
from mailgraph.domain.delegation import sending_identity
from mailgraph.domain.errors import (
    InvalidOperationError,
    UserNotFoundError,
)
from mailgraph.domain.mailboxes import find_item, resolve, well_known_id
from mailgraph.domain.model import (
    SECOND,
    Actor,
    EmailAddress,
    Message,
    MessageChanges,
    NewAttachment,
    Tenant,
    Timestamp,
    User,
)
from mailgraph.domain.ports import Tx, UnitOfWork
from mailgraph.domain.send_quota import (
    QUOTA_REASON,
    HeldSend,
    SendRateExceededError,
    admission_of,
    window_text,
)
from mailgraph.domain.throttling import Profiles


@dataclass(frozen=True, slots=True)
class SendPolicy:
    """Settings of the send path."""

    queue_expiry_s: int = 2 * 24 * 3600  # how long an external recipient may stay undelivered
    profiles: Profiles | None = None
    """The throttling profiles whose send limits apply (domain/send_quota.py); None when all are off."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a send did (for logs and tests; the API answers 202 with no body)."""

    sent_item: Message | None
    local_copies: int
    queued: int
    undeliverable: int
    held_until: Timestamp | None = None
    """Over the message rate: when the item, waiting in the Outbox, will be sent."""


class SendService:
    """The send use cases."""

    def __init__(
        self, uow: UnitOfWork, clock: Callable[[], Timestamp], policy: SendPolicy | None = None
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._policy = policy or SendPolicy()

    async def send_draft(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None = None
    ) -> SendResult:
        """`POST …/messages/{id}/send` (or `…/mailFolders/{f}/messages/{id}/send`): submit a draft of
        the addressed mailbox; with `folder_key`, only if the draft is in that folder (same unit).

        Raises:
            ItemNotFoundError: no such item in this mailbox (also the old id of a sent draft).
            InvalidOperationError: the item is not a draft.
            InvalidRecipientsError, SendAsDeniedError: see `_submit`.
        """

        async def unit(tx: Tx) -> SendResult:
            owner = await resolve(tx, actor, user_key)
            draft = await find_item(tx, owner, message_id, folder_key)  # REST or immutable id (spec §3.5)
            if not draft.is_draft:
                raise InvalidOperationError(
                    "Only a draft message can be sent; this item has already been sent."
                )
            return await self._submit(tx, owner, draft, stored=True, save_copy=True, actor=actor)

        return await self._uow.write(unit)

    async def submit_stored(
        self, tx: Tx, owner: User, draft: Message, *, actor: Actor, save_copy: bool = True
    ) -> SendResult:
        """Submit a draft already stored in this unit of work (reply/replyAll/forward, spec §2.8; MIME
        sendMail, whose `save_copy=False` removes the draft instead of keeping a Sent Items copy).

        `actor` is the caller: a delegate replying in another's mailbox is held to the same send-as /
        send-on-behalf rules as `send_draft` and `send_mail` (spec §4.4).

        Raises:
            InvalidRecipientsError, SendAsDeniedError: see `_submit`.
        """
        return await self._submit(tx, owner, draft, stored=True, save_copy=save_copy, actor=actor)

    async def send_mail(
        self, actor: Actor, user_key: str | None, changes: MessageChanges, save_to_sent_items: bool
    ) -> SendResult:
        """`POST …/sendMail`: create and submit in one step (spec §2.1).

        Raises:
            InvalidRecipientsError, SendAsDeniedError, and the property errors of `drafts.apply_changes`.
        """

        async def unit(tx: Tx) -> SendResult:
            owner = await resolve(tx, actor, user_key)
            now = self._clock()
            draft = drafts.new_draft(owner, await well_known_id(tx, owner, "drafts"), changes, now)
            await attachments.attach_new(tx, draft, changes, now)  # staged before the unit
            result = await self._submit(
                tx, owner, draft, stored=False, save_copy=save_to_sent_items, actor=actor
            )
            # Extended properties stay with the sender's item (Sent Items, or the Outbox while held),
            # never with recipients' copies (domain/extended.py).
            if await tx.messages.get_immutable(owner.id, draft.id) is not None:
                await extensions.write_properties(tx, draft.id, changes)
            return result

        return await self._uow.write(unit)

    async def submit_message(
        self,
        user_id: str,
        message: Message,
        envelope: list[EmailAddress],
        staged: list[NewAttachment] | None = None,
    ) -> SendResult:
        """SMTP submission (`AUTH` then `DATA`): submit a message built from MIME, routed by the envelope.

        Exactly the send path of `sendMail` (Sent Items copy, local delivery, NDRs, outbound queue), except
        that the RCPT TO addresses, not the To/Cc/Bcc headers, say who receives it (RFC 5321 §3.3).

        `staged`: its attachments, bytes already in the blob store (`inbound.stage_attachments`).

        Raises:
            UserNotFoundError: the authenticated user was removed meanwhile.
            InvalidRecipientsError, SendAsDeniedError: see `_submit`.
        """

        async def unit(tx: Tx) -> SendResult:
            owner = await tx.directory.get_user(user_id)
            if owner is None:
                raise UserNotFoundError(user_id)
            if staged:
                changes = MessageChanges(attachments=staged)
                await attachments.attach_new(tx, message, changes, self._clock())
            return await self._submit(tx, owner, message, stored=False, save_copy=True, envelope=envelope)

        return await self._uow.write(unit)

    async def release(self, held: HeldSend, lease: Timestamp) -> SendResult | None:
        """Send a held item now that its window has come (delivery/held.py), in one unit that also
        deletes the held row under `lease`: the send happens exactly once, or not at all. None when
        another claim owns the row, or the item left the Outbox meanwhile (deleting or moving it
        cancels the send, as in Outlook)."""

        async def unit(tx: Tx) -> SendResult | None:
            if not await tx.send_quota.release(held.id, lease):
                return None
            owner = await tx.directory.get_user(held.mailbox_id)
            item = await tx.messages.get_immutable(held.mailbox_id, held.message_id)
            if owner is None or item is None or item.folder_id != await well_known_id(tx, owner, "outbox"):
                return None
            from_ = item.from_ or owner.address
            identity = (from_, item.sender or from_)
            return await self._deliver(tx, owner, item, identity, self._clock(), True, held.save_copy)

        return await self._uow.write(unit)

    async def _submit(
        self,
        tx: Tx,
        owner: User,
        draft: Message,
        *,
        stored: bool,
        save_copy: bool,
        envelope: list[EmailAddress] | None = None,
        actor: Actor | None = None,
    ) -> SendResult:
        recipients = draft.recipients if envelope is None else envelope
        check_resolvable(recipients)
        # Spec §4.4: `from` other than the mailbox needs SendAs (from = sender = it) or SendOnBehalf
        # (from = it, sender = the real user); a delegate in another's mailbox is the real sender.
        identity = await sending_identity(tx, actor, owner, draft.from_)
        now = self._clock()
        await attachments.check_uploads_complete(tx, draft.id, now)
        profiles = self._policy.profiles  # None unless a profile is on somewhere: no store statement then
        limits = None if profiles is None else profiles.limits_for(owner.tenant_id, _names(owner))
        if limits is None:
            return await self._deliver(tx, owner, draft, identity, now, stored, save_copy, envelope)
        # One statement (issue 13's overhead target): the counters after `admit`, computed by the store.
        state = await tx.send_quota.count(owner.id, limits, len({r.key for r in recipients}), now)
        admission = admission_of(state, now)
        if admission.kind == "hold" and envelope is not None:  # SMTP: refused, not queued (spec §6)
            raise SendRateExceededError(-(-(admission.at - now) // SECOND))  # the unit's count rolls back
        if admission.kind == "hold":
            return await self._hold(tx, owner, draft, identity, now, stored, save_copy, admission.at)
        refused = None
        if admission.kind == "blocked":
            until = datetime.fromtimestamp(admission.at / SECOND, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            window = window_text(limits.recipients_window_s)
            refused = QUOTA_REASON.format(limit=limits.recipients, window=window, until=until)
        return await self._deliver(tx, owner, draft, identity, now, stored, save_copy, envelope, refused)

    async def _hold(
        self,
        tx: Tx,
        owner: User,
        draft: Message,
        identity: tuple[EmailAddress, EmailAddress],
        now: Timestamp,
        stored: bool,
        save_copy: bool,
        release_at: Timestamp,
    ) -> SendResult:
        """Over the message rate: the item waits in the Outbox, submitted (no longer a draft), until
        `release_at` (spec §6: accepted, queued in the Outbox, drained over time)."""
        held = replace(
            draft,
            rest_id=ids.message_id(),
            folder_id=await well_known_id(tx, owner, "outbox"),
            change_key=ids.change_key(),
            is_draft=False,
            modified_at=now,
            from_=identity[0],
            sender=identity[1],
        )
        await _place(tx, held, draft, stored, now)
        await tx.send_quota.hold(HeldSend(ids.queue_id(), held.id, owner.id, save_copy, release_at, now))
        return SendResult(None, 0, 0, 0, held_until=release_at)

    async def _deliver(
        self,
        tx: Tx,
        owner: User,
        draft: Message,
        identity: tuple[EmailAddress, EmailAddress],
        now: Timestamp,
        stored: bool,
        save_copy: bool,
        envelope: list[EmailAddress] | None = None,
        refused: str | None = None,
    ) -> SendResult:
        """The send itself: Sent Items, local copies, reports, the relay queue. With `refused` (the
        recipient limit), nothing is delivered and every recipient is reported with that reason."""
        recipients = draft.recipients if envelope is None else envelope
        from_, sender = identity
        sent = replace(
            draft,
            rest_id=ids.message_id(),
            folder_id=await well_known_id(tx, owner, "sentitems"),
            change_key=ids.change_key(),
            is_draft=False,
            is_read=True,
            sent_at=now,
            received_at=now,
            modified_at=now,
            from_=from_,
            sender=sender,
        )
        if save_copy:
            await _place(tx, sent, draft, stored, now)
        tenant = await tx.directory.get_tenant(owner.tenant_id)
        assert tenant is not None  # a resolved owner implies a tenant
        if refused is not None:
            failed = [ingest.Undelivered(r.address, refused) for r in recipients]
            await self._report(tx, tenant, owner, sent, failed, now)
            local: list[User] = []
            unknown: list[str] = []
            external: list[str] = []
        else:
            local, unknown, external = await routing.route(tx, tenant, recipients)
        copies = await ingest.deliver(tx, sent, local, now)
        if copies and sent.is_delivery_receipt_requested:
            # Local delivery is final at commit, so the receipt is written in the same unit.
            receipt = ingest.delivery_receipt(
                sent, owner, ingest.postmaster(tenant), [u.mail for u in local], now
            )
            receipt.folder_id = await well_known_id(tx, owner, "inbox")
            await tx.messages.insert(receipt)
            tx.changes.message("created", receipt)
        if unknown:
            reason = "550 5.1.1 RESOLVER.ADR.RecipNotFound; the recipient was not found in this organization."
            await self._report(tx, tenant, owner, sent, [ingest.Undelivered(a, reason) for a in unknown], now)
        if external:
            await routing.enqueue(tx, owner, sent, external, now, self._policy.queue_expiry_s)
        if not save_copy:  # no Sent Items copy: the draft goes, after its attachments were copied
            await attachments.release(tx, draft.id, now)
            if stored:
                await tx.messages.delete(draft.id)
                tx.changes.message("deleted", draft)
        return SendResult(sent if save_copy else None, len(copies), len(external), len(unknown))

    async def _report(
        self,
        tx: Tx,
        tenant: Tenant,
        owner: User,
        sent: Message,
        failed: list[ingest.Undelivered],
        now: Timestamp,
    ) -> None:
        report = ingest.non_delivery_report(sent, owner, ingest.postmaster(tenant), failed, now)
        report.folder_id = await well_known_id(tx, owner, "inbox")
        await tx.messages.insert(report)
        tx.changes.message("created", report)


def _names(user: User) -> tuple[str, ...]:
    """The names a mailbox profile may be keyed by (tenant file: id, UPN or address)."""
    return (user.id, user.user_principal_name, user.mail)


async def _place(tx: Tx, item: Message, draft: Message, stored: bool, now: Timestamp) -> None:
    """Write the submitted `item`: the stored draft moves (a new REST id in its new folder), an unstored
    one (sendMail) is created there; either way the change-event point hears why."""
    if stored:
        await tx.messages.update(item)
        tx.changes.message("moved", item, from_folder_id=draft.folder_id, from_rest_id=draft.rest_id)
    else:
        item.created_at = now
        await tx.messages.insert(item)
        tx.changes.message("created", item)
