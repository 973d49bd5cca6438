"""Master categories and Focused Inbox overrides (migration 0023): `CategoryRepo`, `OverrideRepo` in SQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from mailgraph.domain.model import Inference
from mailgraph.domain.outlook import ClassificationOverride, OutlookCategory
from mailgraph.store.sql.columns import Columns

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mailgraph.store.contract import Conn

C = Columns("id, mailbox_id, display_name, color, created_at")
O = Columns("id, mailbox_id, address, name, classify_as, created_at")  # noqa: E741


def _category(r: Sequence[Any]) -> OutlookCategory:
    return OutlookCategory(
        r[C["id"]], r[C["mailbox_id"]], r[C["display_name"]], r[C["color"]], int(r[C["created_at"]])
    )


def _override(r: Sequence[Any]) -> ClassificationOverride:
    return ClassificationOverride(
        r[O["id"]], r[O["mailbox_id"]], r[O["address"]], r[O["name"]],
        cast(Inference, r[O["classify_as"]]), int(r[O["created_at"]]),
    )  # fmt: skip


class SqlCategories:
    """`domain.outlook.CategoryRepo` in SQL."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def list(self, mailbox_id: str) -> list[OutlookCategory]:
        """Creation order; the id breaks ties within one microsecond."""
        rows = await self._conn.fetch_all(
            f"SELECT {C.sql} FROM master_categories WHERE mailbox_id = ? ORDER BY created_at, id",
            (mailbox_id,),
        )
        return [_category(r) for r in rows]

    async def get(self, category_id: str) -> OutlookCategory | None:
        """By id."""
        row = await self._conn.fetch_one(
            f"SELECT {C.sql} FROM master_categories WHERE id = ?", (category_id,)
        )
        return None if row is None else _category(row)

    async def find_name(self, mailbox_id: str, name_key: str) -> OutlookCategory | None:
        """By case-folded name."""
        row = await self._conn.fetch_one(
            f"SELECT {C.sql} FROM master_categories WHERE mailbox_id = ? AND name_key = ?",
            (mailbox_id, name_key),
        )
        return None if row is None else _category(row)

    async def add(self, category: OutlookCategory) -> None:
        """Insert."""
        await self._conn.execute(
            "INSERT INTO master_categories (id, mailbox_id, name_key, display_name, color, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (category.id, category.mailbox_id, category.name_key, category.display_name, category.color,
             category.created_at),
        )  # fmt: skip

    async def set_color(self, category_id: str, color: str) -> None:
        """Change the color."""
        await self._conn.execute("UPDATE master_categories SET color = ? WHERE id = ?", (color, category_id))

    async def delete(self, category_id: str) -> None:
        """Remove."""
        await self._conn.execute("DELETE FROM master_categories WHERE id = ?", (category_id,))


class SqlOverrides:
    """`domain.outlook.OverrideRepo` in SQL."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def list(self, mailbox_id: str) -> list[ClassificationOverride]:
        """Creation order."""
        rows = await self._conn.fetch_all(
            f"SELECT {O.sql} FROM classification_overrides WHERE mailbox_id = ? ORDER BY created_at, id",
            (mailbox_id,),
        )
        return [_override(r) for r in rows]

    async def get(self, override_id: str) -> ClassificationOverride | None:
        """By id."""
        row = await self._conn.fetch_one(
            f"SELECT {O.sql} FROM classification_overrides WHERE id = ?", (override_id,)
        )
        return None if row is None else _override(row)

    async def find_sender(self, mailbox_id: str, address_key: str) -> ClassificationOverride | None:
        """By case-folded sender address."""
        row = await self._conn.fetch_one(
            f"SELECT {O.sql} FROM classification_overrides WHERE mailbox_id = ? AND address_key = ?",
            (mailbox_id, address_key),
        )
        return None if row is None else _override(row)

    async def put(self, override: ClassificationOverride) -> None:
        """Insert or replace by id (a PATCH may change the sender)."""
        await self._conn.execute("DELETE FROM classification_overrides WHERE id = ?", (override.id,))
        await self._conn.execute(
            "INSERT INTO classification_overrides (id, mailbox_id, address_key, address, name, classify_as,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (override.id, override.mailbox_id, override.address_key, override.address, override.name,
             override.classify_as, override.created_at),
        )  # fmt: skip

    async def delete(self, override_id: str) -> None:
        """Remove."""
        await self._conn.execute("DELETE FROM classification_overrides WHERE id = ?", (override_id,))
