"""Message items: create a draft, get, list, update (PATCH) and delete (spec §2.2–§2.5, §2.9)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from mailgraph.domain import attachments, drafts, extensions, ids
from mailgraph.domain.mailboxes import find_item, folder, resolve, well_known_id
from mailgraph.domain.model import Actor, Message, MessageChanges, Page, Timestamp, User
from mailgraph.domain.ports import Tx, UnitOfWork


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of messages; `more` says whether a next page exists; `count` only when asked."""

    owner: User
    items: list[Message]
    more: bool
    count: int | None


class MessageService:
    """The message use cases."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], Timestamp]) -> None:
        self._uow = uow
        self._clock = clock

    async def create(
        self, actor: Actor, user_key: str | None, changes: MessageChanges, folder_key: str | None = None
    ) -> Message:
        """`POST …/messages` or `…/mailFolders/{id}/messages`: a new draft (spec §2.2).

        Raises:
            ItemNotFoundError: an unknown folder; and the property errors of `drafts.apply_changes`.
        """

        async def unit(tx: Tx) -> Message:
            owner = await resolve(tx, actor, user_key)
            target = (
                (await folder(tx, owner, folder_key)).id
                if folder_key
                else await well_known_id(tx, owner, "drafts")
            )
            now = self._clock()
            draft = drafts.new_draft(owner, target, changes, now)
            await attachments.attach_new(tx, draft, changes, now)  # bytes staged before the unit
            await tx.messages.insert(draft)
            await extensions.write_properties(tx, draft.id, changes)
            tx.changes.message("created", draft)
            return draft

        return await self._uow.write(unit)

    async def get(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None = None
    ) -> Message:
        """`GET …/messages/{id}`.

        Raises:
            ItemNotFoundError: no such item here (or not in the named folder).
        """

        async def unit(tx: Tx) -> Message:
            owner = await resolve(tx, actor, user_key)
            return await _item(tx, owner, message_id, folder_key)

        return await self._uow.read(unit)

    async def list(
        self,
        actor: Actor,
        user_key: str | None,
        page: Page,
        folder_key: str | None = None,
        count: bool = False,
    ) -> Listing:
        """`GET …/messages` (whole mailbox) or `…/mailFolders/{id}/messages`, one page (spec §2.9)."""

        async def unit(tx: Tx) -> Listing:
            owner = await resolve(tx, actor, user_key)
            folder_id = (await folder(tx, owner, folder_key)).id if folder_key else None
            window = replace(page, top=page.top + 1)
            items = await tx.messages.list(owner.id, folder_id, window)
            total = await tx.messages.count(owner.id, folder_id, page) if count else None
            return Listing(owner, items[: page.top], len(items) > page.top, total)

        return await self._uow.read(unit)

    async def update(
        self,
        actor: Actor,
        user_key: str | None,
        message_id: str,
        changes: MessageChanges,
        folder_key: str | None = None,
    ) -> Message:
        """`PATCH …/messages/{id}` with the rules of spec §2.3.

        Raises:
            ItemNotFoundError, InvalidPropertySetError, and the property errors of `drafts.apply_changes`.
        """

        async def unit(tx: Tx) -> Message:
            owner = await resolve(tx, actor, user_key)
            message = await _item(tx, owner, message_id, folder_key)
            drafts.apply_changes(message, changes, self._clock())
            await tx.messages.update(message)
            await extensions.write_properties(tx, message.id, changes)
            tx.changes.message("updated", message)
            return message

        return await self._uow.write(unit)

    async def delete(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None = None
    ) -> None:
        """`DELETE …/messages/{id}` (spec §2.5).

        Chosen behaviour (spec marks it unconfirmed): like Exchange, the item is soft-deleted into the
        hidden Recoverable Items "Deletions" folder, so it leaves every listing and its id changes
        (the old id answers 404); deleting an item that is already there purges it.

        Raises:
            ItemNotFoundError: no such item here.
        """

        async def unit(tx: Tx) -> None:
            owner = await resolve(tx, actor, user_key)
            message = await _item(tx, owner, message_id, folder_key)
            deletions = await well_known_id(tx, owner, "recoverableitemsdeletions")
            if message.folder_id == deletions:
                await attachments.release(tx, message.id, self._clock())  # blob references go too
                await tx.messages.delete(message.id)
                tx.changes.message("deleted", message)
                return
            source, source_rest_id = message.folder_id, message.rest_id
            message.folder_id = deletions
            message.rest_id = ids.message_id()
            message.change_key = ids.change_key()
            message.modified_at = self._clock()
            await tx.messages.update(message)
            tx.changes.message("moved", message, from_folder_id=source, from_rest_id=source_rest_id)

        await self._uow.write(unit)


async def _item(tx: Tx, owner: User, message_id: str, folder_key: str | None) -> Message:
    # Both id forms are accepted everywhere (spec §3.5): see mailboxes.find_item.
    return await find_item(tx, owner, message_id, folder_key)
