"""The mailbox's master category list: Graph `outlookCategory` (`…/outlook/masterCategories`).

Graph's rules (outlookcategory.md, outlookuser-post-mastercategories.md, outlookcategory-update.md):
`displayName` is unique in the mailbox and cannot change after creation; `color` is one of the 25
presets `preset0`…`preset24` or `none`, and is the only property PATCH may change. Exchange compares
category names case-insensitively (Outlook refuses "red" beside "Red"), so the uniqueness key is the
case-folded name. The duplicate's error code is [unconfirmed]: 409 `ErrorItemSave` (docs/graph-coverage.md).

Categories on messages are free strings (message.md: "categories … associated with the message");
Exchange does not require them to be in the master list, and neither do we.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from mailgraph.domain import ids
from mailgraph.domain.errors import (
    DomainError,
    InvalidPropertySetError,
    InvalidPropertyValueError,
    ItemNotFoundError,
)
from mailgraph.domain.mailboxes import resolve
from mailgraph.domain.model import Actor, Timestamp, User
from mailgraph.domain.outlook import OutlookCategory
from mailgraph.domain.ports import Tx, UnitOfWork

COLORS: Final = ("none", *(f"preset{i}" for i in range(25)))
_COLOR_KEYS: Final = {c.lower(): c for c in COLORS}
MAX_NAME: Final = 255


class DuplicateCategoryError(DomainError):
    """A category with this displayName already exists in the mailbox."""


def color_of(value: str) -> str:
    """The canonical preset for `value` (Graph enums match case-insensitively, spec §0.4)."""
    color = _COLOR_KEYS.get(value.lower())
    if color is None:
        raise InvalidPropertyValueError(
            f"The color '{value}' is not valid; use one of none, preset0 … preset24 (categoryColor)."
        )
    return color


class CategoryService:
    """Master category use cases; each one unit of work."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], Timestamp]) -> None:
        self._uow = uow
        self._clock = clock

    async def list(self, actor: Actor, user_key: str | None) -> tuple[User, list[OutlookCategory]]:
        """`GET …/outlook/masterCategories`, in creation order."""

        async def unit(tx: Tx) -> tuple[User, list[OutlookCategory]]:
            owner = await resolve(tx, actor, user_key)
            return owner, await tx.categories.list(owner.id)

        return await self._uow.read(unit)

    async def get(self, actor: Actor, user_key: str | None, category_id: str) -> tuple[User, OutlookCategory]:
        """`GET …/outlook/masterCategories/{id}`."""

        async def unit(tx: Tx) -> tuple[User, OutlookCategory]:
            owner = await resolve(tx, actor, user_key)
            return owner, await _find(tx, owner, category_id)

        return await self._uow.read(unit)

    async def create(
        self, actor: Actor, user_key: str | None, display_name: str, color: str | None
    ) -> tuple[User, OutlookCategory]:
        """`POST …/outlook/masterCategories`: displayName required, unique; color defaults to `none`."""
        name = display_name.strip()
        if not name or len(name) > MAX_NAME:
            raise InvalidPropertyValueError(f"The displayName must be 1 to {MAX_NAME} characters.")
        preset = "none" if color is None else color_of(color)

        async def unit(tx: Tx) -> tuple[User, OutlookCategory]:
            owner = await resolve(tx, actor, user_key)
            category = OutlookCategory(ids.guid(), owner.id, name, preset, self._clock())
            if await tx.categories.find_name(owner.id, category.name_key) is not None:
                raise DuplicateCategoryError(f"A category with the name '{name}' already exists.")
            await tx.categories.add(category)
            return owner, category

        return await self._uow.write(unit)

    async def update(
        self,
        actor: Actor,
        user_key: str | None,
        category_id: str,
        display_name: str | None,
        color: str | None,
    ) -> tuple[User, OutlookCategory]:
        """`PATCH …/outlook/masterCategories/{id}`: only `color` changes; a different displayName is refused."""
        preset = None if color is None else color_of(color)

        async def unit(tx: Tx) -> tuple[User, OutlookCategory]:
            owner = await resolve(tx, actor, user_key)
            category = await _find(tx, owner, category_id)
            if display_name is not None and display_name != category.display_name:
                raise InvalidPropertySetError(
                    "The displayName of a category cannot be changed after creation."
                )
            if preset is not None and preset != category.color:
                category = OutlookCategory(
                    category.id, category.mailbox_id, category.display_name, preset, category.created_at
                )
                await tx.categories.set_color(category.id, preset)
            return owner, category

        return await self._uow.write(unit)

    async def delete(self, actor: Actor, user_key: str | None, category_id: str) -> None:
        """`DELETE …/outlook/masterCategories/{id}`; messages keep the name (as in Outlook)."""

        async def unit(tx: Tx) -> None:
            owner = await resolve(tx, actor, user_key)
            category = await _find(tx, owner, category_id)
            await tx.categories.delete(category.id)

        await self._uow.write(unit)


async def _find(tx: Tx, owner: User, category_id: str) -> OutlookCategory:
    category = await tx.categories.get(category_id.lower())
    if category is None or category.mailbox_id != owner.id:
        raise ItemNotFoundError()
    return category
