"""Extended properties and open extensions of messages (migration 0024): `MessagePropertyRepo` in SQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from mailgraph.domain.extended import PropertyKind, StoredProperty
from mailgraph.store.sql import codec
from mailgraph.store.sql.dialect import in_list

if TYPE_CHECKING:
    from mailgraph.store.contract import Conn


class SqlMessageProperties:
    """`domain.extended.MessagePropertyRepo` in SQL."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def list(self, message_ids: list[str], kind: PropertyKind) -> list[StoredProperty]:
        """By message, then key."""
        if not message_ids:
            return []
        clause, args = in_list("message_id", message_ids)
        rows = await self._conn.fetch_all(
            "SELECT message_id, kind, prop_id, value_json FROM message_properties"
            f" WHERE kind = ? AND {clause} ORDER BY message_id, prop_key",
            (kind, *args),
        )
        return [StoredProperty(r[0], cast(PropertyKind, r[1]), r[2], codec.load(r[3])) for r in rows]

    async def put(self, prop: StoredProperty) -> None:
        """Replace the row with this (message, kind, key)."""
        await self._conn.execute(
            "DELETE FROM message_properties WHERE message_id = ? AND kind = ? AND prop_key = ?",
            (prop.message_id, prop.kind, prop.key),
        )
        await self._conn.execute(
            "INSERT INTO message_properties (message_id, kind, prop_key, prop_id, value_json) VALUES (?, ?, ?, ?, ?)",
            (prop.message_id, prop.kind, prop.key, prop.prop_id, codec.dump(prop.value)),
        )

    async def delete(self, message_id: str, kind: PropertyKind, key: str) -> bool:
        """Remove one row."""
        count = await self._conn.execute(
            "DELETE FROM message_properties WHERE message_id = ? AND kind = ? AND prop_key = ?",
            (message_id, kind, key),
        )
        return count == 1

    async def copy(self, from_id: str, to_id: str) -> None:
        """INSERT … SELECT: the copy gets every row."""
        await self._conn.execute(
            "INSERT INTO message_properties (message_id, kind, prop_key, prop_id, value_json)"
            " SELECT ?, kind, prop_key, prop_id, value_json FROM message_properties WHERE message_id = ?",
            (to_id, from_id),
        )
