"""Focused Inbox overrides (`…/inferenceClassification/overrides`) and where they apply.

Graph (inferenceclassification-post-overrides.md, inferenceclassificationoverride-update.md,
manage-focused-inbox.md): an override always classifies mail from one SMTP address as `focused` or
`other`. POST for an address that already has one updates its `classifyAs` and name (an upsert, 201);
PATCH changes `classifyAs` only; DELETE removes it; at most 1000 per mailbox.

Where it applies: every local delivery (domain/ingest.py `deliver`: Graph sends and inbound SMTP) sets
the Inbox copy's `inferenceClassification` from the override of its `from` address. Creating or changing
an override also reclassifies that sender's messages already in the Inbox, as Outlook's "Always move to
Focused/Other" does [unconfirmed for Graph: its docs speak of future messages]; each such message is an
`updated` change (delta, webhooks). Deleting an override leaves messages as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from mailgraph.domain import ids
from mailgraph.domain.addresses import check_shape
from mailgraph.domain.errors import InvalidOperationError, InvalidPropertySetError, ItemNotFoundError
from mailgraph.domain.mailboxes import resolve, well_known_id
from mailgraph.domain.model import Actor, EmailAddress, Inference, Page, Timestamp, User
from mailgraph.domain.outlook import ClassificationOverride
from mailgraph.domain.ports import Tx, UnitOfWork
from mailgraph.odata.ast import Compare, Property, Value

MAX_OVERRIDES: Final = 1000
_BATCH: Final = 500
_FROM: Final = Property(("from", "emailAddress", "address"))


async def classification_for(tx: Tx, mailbox_id: str, sender: EmailAddress | None) -> Inference | None:
    """The override's class for mail from `sender` in this mailbox, or None (the default applies)."""
    if sender is None:
        return None
    found = await tx.overrides.find_sender(mailbox_id, sender.key)
    return None if found is None else found.classify_as


async def _reclassify(tx: Tx, owner: User, override: ClassificationOverride, now: Timestamp) -> None:
    """Give the sender's Inbox messages the override's class (each write recorded as a change)."""
    inbox = await well_known_id(tx, owner, "inbox")
    skip = 0
    while True:
        page = Page(top=_BATCH, skip=skip, filter=Compare("eq", _FROM, Value(override.address)))
        batch = await tx.messages.list(owner.id, inbox, page)
        for message in batch:
            if message.inference_classification != override.classify_as:
                message.inference_classification = override.classify_as
                message.modified_at = now
                message.change_key = ids.change_key()
                await tx.messages.update(message)
                tx.changes.message("updated", message)
        if len(batch) < _BATCH:
            return
        skip += _BATCH


class OverrideService:
    """Override use cases; each one unit of work."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], Timestamp]) -> None:
        self._uow = uow
        self._clock = clock

    async def list(self, actor: Actor, user_key: str | None) -> tuple[User, list[ClassificationOverride]]:
        """`GET …/inferenceClassification/overrides`, in creation order."""

        async def unit(tx: Tx) -> tuple[User, list[ClassificationOverride]]:
            owner = await resolve(tx, actor, user_key)
            return owner, await tx.overrides.list(owner.id)

        return await self._uow.read(unit)

    async def create(
        self, actor: Actor, user_key: str | None, sender: EmailAddress, classify_as: Inference
    ) -> tuple[User, ClassificationOverride]:
        """`POST …/overrides`: a new override, or the sender's existing one updated (Graph's upsert)."""
        check_shape([sender])
        now = self._clock()

        async def unit(tx: Tx) -> tuple[User, ClassificationOverride]:
            owner = await resolve(tx, actor, user_key)
            existing = await tx.overrides.find_sender(owner.id, sender.key)
            if existing is None and len(await tx.overrides.list(owner.id)) >= MAX_OVERRIDES:
                raise InvalidOperationError(f"A mailbox holds at most {MAX_OVERRIDES} overrides.")
            override = ClassificationOverride(
                existing.id if existing else ids.guid(),
                owner.id,
                sender.address,
                sender.name,
                classify_as,
                existing.created_at if existing else now,
            )
            await tx.overrides.put(override)
            await _reclassify(tx, owner, override, now)
            return owner, override

        return await self._uow.write(unit)

    async def update(
        self,
        actor: Actor,
        user_key: str | None,
        override_id: str,
        classify_as: Inference | None,
        sender: EmailAddress | None,
    ) -> tuple[User, ClassificationOverride]:
        """`PATCH …/overrides/{id}`: `classifyAs` only; another sender address is refused (delete and
        create instead, as the update page says)."""
        now = self._clock()

        async def unit(tx: Tx) -> tuple[User, ClassificationOverride]:
            owner = await resolve(tx, actor, user_key)
            override = await _find(tx, owner, override_id)
            if sender is not None and sender.key != override.address_key:
                raise InvalidPropertySetError("The senderEmailAddress of an override cannot be changed.")
            if classify_as is not None and classify_as != override.classify_as:
                override = ClassificationOverride(
                    override.id, override.mailbox_id, override.address, override.name, classify_as,
                    override.created_at,
                )  # fmt: skip
                await tx.overrides.put(override)
                await _reclassify(tx, owner, override, now)
            return owner, override

        return await self._uow.write(unit)

    async def delete(self, actor: Actor, user_key: str | None, override_id: str) -> None:
        """`DELETE …/overrides/{id}` → gone; messages keep their class."""

        async def unit(tx: Tx) -> None:
            owner = await resolve(tx, actor, user_key)
            await tx.overrides.delete((await _find(tx, owner, override_id)).id)

        await self._uow.write(unit)


async def _find(tx: Tx, owner: User, override_id: str) -> ClassificationOverride:
    found = await tx.overrides.get(override_id.lower())
    if found is None or found.mailbox_id != owner.id:
        raise ItemNotFoundError()
    return found
