"""Use cases of open extensions (`…/messages/{id}/extensions`) and the reads behind `$expand` of
extensions and extended properties; the shapes and checks are in domain/extended.py.

Graph (opentypeextension-post-opentypeextension.md, -get, -update, -delete): POST creates an extension
named by `extensionName` (201; an existing name is 409 [unconfirmed code: `ErrorItemSave`, as for
categories]); PATCH replaces its custom properties (Graph: "the data in the request body replaces the
existing data"), DELETE → 204. Writing an extension bumps the message's change key and is an `updated`
change, so delta and webhooks see it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from mailgraph.domain import ids
from mailgraph.domain.categories import DuplicateCategoryError
from mailgraph.domain.errors import InvalidOperationError, ItemNotFoundError
from mailgraph.domain.extended import MAX_EXTENSIONS, PropertyKind, StoredProperty, extension
from mailgraph.domain.mailboxes import find_item, resolve
from mailgraph.domain.model import Actor, Message, MessageChanges, Timestamp, Unset, User
from mailgraph.domain.ports import Tx, UnitOfWork


class DuplicateExtensionError(DuplicateCategoryError):
    """An open extension with this name already exists on the item (same Graph answer as categories)."""


async def write_properties(tx: Tx, message_id: str, changes: MessageChanges) -> None:
    """Add or replace the extended properties a create/PATCH carried (same unit as the item's write)."""
    if isinstance(changes.extended_properties, Unset):
        return
    for prop in changes.extended_properties:
        await tx.properties.put(replace(prop, message_id=message_id))


async def _touch(tx: Tx, message: Message, now: Timestamp) -> None:
    message.modified_at = now
    message.change_key = ids.change_key()
    await tx.messages.update(message)
    tx.changes.message("updated", message)


class ExtensionService:
    """Open extension use cases and `$expand` reads; one unit of work each."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], Timestamp]) -> None:
        self._uow = uow
        self._clock = clock

    async def expand(self, message_ids: list[str], kind: PropertyKind) -> dict[str, list[StoredProperty]]:
        """The rows of one kind for each message (messages the caller already read)."""
        rows = await self._uow.read(lambda tx: tx.properties.list(message_ids, kind))
        out: dict[str, list[StoredProperty]] = {}
        for row in rows:
            out.setdefault(row.message_id, []).append(row)
        return out

    async def list(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None
    ) -> tuple[User, Message, list[StoredProperty]]:
        """`GET …/messages/{id}/extensions`."""

        async def unit(tx: Tx) -> tuple[User, Message, list[StoredProperty]]:
            owner = await resolve(tx, actor, user_key)
            message = await find_item(tx, owner, message_id, folder_key)
            return owner, message, await tx.properties.list([message.id], "extension")

        return await self._uow.read(unit)

    async def get(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None, name: str
    ) -> tuple[User, Message, StoredProperty]:
        """`GET …/messages/{id}/extensions/{name}` (the name or Graph's full extension id)."""
        owner, message, found = await self.list(actor, user_key, message_id, folder_key)
        return owner, message, _named(found, name)

    async def create(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None,
        name: str, data: dict[str, object],
    ) -> tuple[User, Message, StoredProperty]:  # fmt: skip
        """`POST …/messages/{id}/extensions` → the new extension."""
        new = extension(name, data)

        async def unit(tx: Tx) -> tuple[User, Message, StoredProperty]:
            owner = await resolve(tx, actor, user_key)
            message = await find_item(tx, owner, message_id, folder_key)
            existing = await tx.properties.list([message.id], "extension")
            if any(e.key == new.key for e in existing):
                raise DuplicateExtensionError(
                    f"An extension named '{new.prop_id}' already exists on this item."
                )
            if len(existing) >= MAX_EXTENSIONS:
                raise InvalidOperationError(f"An item holds at most {MAX_EXTENSIONS} open extensions.")
            stored = replace(new, message_id=message.id)
            await tx.properties.put(stored)
            await _touch(tx, message, self._clock())
            return owner, message, stored

        return await self._uow.write(unit)

    async def update(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None,
        name: str, data: dict[str, object],
    ) -> tuple[User, Message, StoredProperty]:  # fmt: skip
        """`PATCH …/extensions/{name}`: the body's custom properties replace the stored ones."""

        async def unit(tx: Tx) -> tuple[User, Message, StoredProperty]:
            owner = await resolve(tx, actor, user_key)
            message = await find_item(tx, owner, message_id, folder_key)
            current = _named(await tx.properties.list([message.id], "extension"), name)
            stored = replace(current, value=dict(data))
            await tx.properties.put(stored)
            await _touch(tx, message, self._clock())
            return owner, message, stored

        return await self._uow.write(unit)

    async def delete(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None, name: str
    ) -> None:
        """`DELETE …/extensions/{name}` → gone."""

        async def unit(tx: Tx) -> None:
            owner = await resolve(tx, actor, user_key)
            message = await find_item(tx, owner, message_id, folder_key)
            current = _named(await tx.properties.list([message.id], "extension"), name)
            await tx.properties.delete(message.id, "extension", current.key)
            await _touch(tx, message, self._clock())

        await self._uow.write(unit)


EXTENSION_ID_PREFIX = "Microsoft.OutlookServices.OpenTypeExtension."


def _named(found: list[StoredProperty], name: str) -> StoredProperty:
    key = name.casefold()
    if key.startswith(EXTENSION_ID_PREFIX.casefold()):
        key = key[len(EXTENSION_ID_PREFIX) :]
    for item in found:
        if item.key == key:
            return item
    raise ItemNotFoundError()
