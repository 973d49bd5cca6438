"""Ids and moves: finding an item by either id form, `move` and `copy` (spec §2.6, §3.5).

Every item has one stable key, its immutable id (`Message.id`), and a REST id (`Message.rest_id`)
that is replaced whenever the item changes folder. Spec §3.5 recommends accepting both forms
everywhere a message id is taken: `mailboxes.find_item` looks the key up as a REST id first (the common case,
one indexed query), then as an immutable id. The two forms never collide (distinct prefixes, random).

`move` gives the item a new REST id in the destination (the old one answers 404); the immutable id
stays. `copy` creates a new item: new REST and immutable ids, same internetMessageId (Exchange keeps
the header), in the destination folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mailgraph.domain import attachments, drafts, ids
from mailgraph.domain.errors import MalformedIdError
from mailgraph.domain.mailboxes import WELL_KNOWN_NAMES, find_item, folder, resolve
from mailgraph.domain.model import Actor, Folder, Message, Timestamp, User
from mailgraph.domain.ports import Tx, UnitOfWork

# Folder ids are base64 text (spec §3.5); anything else that is not a well-known name cannot be one.
_ID_SHAPE = re.compile(r"[A-Za-z0-9_\-+/]+={0,2}")


async def destination_folder(tx: Tx, owner: User, key: str) -> Folder:
    """The `destinationId` folder: a folder id or a well-known name (case-insensitive).

    Real Graph answers "Id is malformed." when a caller passes a display name instead of an id
    (python-o365 issue #619, `message.move("Archive folder")`); an id of ours that names no folder is 404.

    Raises:
        MalformedIdError: neither a well-known name nor id-shaped (e.g. a display name with spaces).
        ItemNotFoundError: no such folder in this mailbox.
    """
    if key.lower() not in WELL_KNOWN_NAMES and not _ID_SHAPE.fullmatch(key):
        raise MalformedIdError()
    return await folder(tx, owner, key)


async def copy_attachments(tx: Tx, source: Message, target: Message, now: Timestamp) -> None:
    """Give the stored new item `target` the attachments of `source` (createForward/forward, copy).

    The rows are new, the bytes shared (attachments.copy_all); inline ones come along too, so `cid:`
    references in a quoted body keep working. `hasAttachments` is recomputed and written.
    """
    await attachments.copy_all(tx, source.id, target.id, now)
    _, visible = await tx.attachments.counts(target.id)
    if target.has_attachments != (visible > 0):
        target.has_attachments = visible > 0
        await tx.messages.update(target)
        tx.changes.message("updated", target)


class MoveService:
    """The move and copy use cases."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], Timestamp]) -> None:
        self._uow = uow
        self._clock = clock

    async def move(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None, destination: str
    ) -> Message:
        """`POST …/messages/{id}/move`: the item in `destination` (folder id or well-known name).

        A move into the folder the item is already in changes nothing (chosen; Graph is silent).

        Raises:
            ItemNotFoundError: an unknown item or destination folder.
            MalformedIdError: a destination that cannot be a folder id (see `destination_folder`).
        """

        async def unit(tx: Tx) -> Message:
            owner = await resolve(tx, actor, user_key)
            message = await find_item(tx, owner, message_id, folder_key)
            target = await destination_folder(tx, owner, destination)
            if target.id == message.folder_id:
                return message
            source, source_rest_id = message.folder_id, message.rest_id
            message.folder_id = target.id
            message.rest_id = ids.message_id()  # spec §3.5: a folder change gives a new REST id
            message.change_key = ids.change_key()
            message.modified_at = self._clock()
            await tx.messages.update(message)
            tx.changes.message("moved", message, from_folder_id=source, from_rest_id=source_rest_id)
            return message

        return await self._uow.write(unit)

    async def copy(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None, destination: str
    ) -> Message:
        """`POST …/messages/{id}/copy`: a new item in `destination`; the original is unchanged.

        Raises:
            ItemNotFoundError: an unknown item or destination folder.
            MalformedIdError: a destination that cannot be a folder id (see `destination_folder`).
        """

        async def unit(tx: Tx) -> Message:
            owner = await resolve(tx, actor, user_key)
            message = await find_item(tx, owner, message_id, folder_key)
            target = await destination_folder(tx, owner, destination)
            now = self._clock()
            clone = drafts.copy_for(message, owner.id, target.id, now)
            await tx.messages.insert(clone)
            await tx.properties.copy(message.id, clone.id)  # extended properties, open extensions
            tx.changes.message("created", clone)
            await copy_attachments(tx, message, clone, now)
            return clone

        return await self._uow.write(unit)
