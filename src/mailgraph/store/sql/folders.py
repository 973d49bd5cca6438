"""Mail folder rows, with item counts computed from the messages table on read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mailgraph.domain.model import Folder

if TYPE_CHECKING:
    from mailgraph.store.base import Conn

# Counts come from indexes (messages_folder_unread, folders_parent); keeping counters in the folder
# row instead would add a write to every delivery and a hot row under concurrent sends.
_SELECT = (
    "SELECT f.id, f.mailbox_id, f.parent_id, f.well_known_name, f.display_name, f.is_hidden,"
    " (SELECT COUNT(*) FROM folders c WHERE c.parent_id = f.id),"
    " (SELECT COUNT(*) FROM messages m WHERE m.folder_id = f.id),"
    " (SELECT COUNT(*) FROM messages m WHERE m.folder_id = f.id AND m.is_read = 0)"
    " FROM folders f"
)


def _from_row(r: Sequence[Any]) -> Folder:
    return Folder(
        id=r[0],
        mailbox_id=r[1],
        parent_id=r[2],
        well_known_name=r[3],
        display_name=r[4],
        is_hidden=bool(r[5]),
        child_folder_count=int(r[6]),
        total_item_count=int(r[7]),
        unread_item_count=int(r[8]),
    )


class SqlFolders:
    """`domain.ports.FolderRepo` over one connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def insert(self, folder: Folder) -> None:
        """Add a folder."""
        await self._conn.execute(
            "INSERT INTO folders (id, mailbox_id, parent_id, well_known_name, display_name, is_hidden)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                folder.id,
                folder.mailbox_id,
                folder.parent_id,
                folder.well_known_name,
                folder.display_name,
                int(folder.is_hidden),
            ),
        )

    async def get(self, mailbox_id: str, folder_id: str) -> Folder | None:
        """A folder of this mailbox by id."""
        row = await self._conn.fetch_one(
            f"{_SELECT} WHERE f.id = ? AND f.mailbox_id = ?", (folder_id, mailbox_id)
        )
        return None if row is None else _from_row(row)

    async def get_well_known(self, mailbox_id: str, name: str) -> Folder | None:
        """A folder by well-known name (lower case)."""
        row = await self._conn.fetch_one(
            f"{_SELECT} WHERE f.mailbox_id = ? AND f.well_known_name = ?", (mailbox_id, name)
        )
        return None if row is None else _from_row(row)

    async def list_children(self, mailbox_id: str, parent_id: str, include_hidden: bool) -> list[Folder]:
        """Child folders ordered by display name."""
        hidden = "" if include_hidden else " AND f.is_hidden = 0"
        rows = await self._conn.fetch_all(
            f"{_SELECT} WHERE f.mailbox_id = ? AND f.parent_id = ?{hidden} ORDER BY f.display_name, f.id",
            (mailbox_id, parent_id),
        )
        return [_from_row(r) for r in rows]

    async def well_known_ids(self, mailbox_id: str) -> dict[str, str]:
        """Well-known name → folder id."""
        rows = await self._conn.fetch_all(
            "SELECT well_known_name, id FROM folders WHERE mailbox_id = ? AND well_known_name IS NOT NULL",
            (mailbox_id,),
        )
        return {r[0]: r[1] for r in rows}
