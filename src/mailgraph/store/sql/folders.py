"""Mail folder rows, with their item counters, and the fold of the counters' delta rows.

A folder's totalItemCount/unreadItemCount is its row's `total_count`/`unread_count` (migration 0005)
plus the sum of its `folder_count_deltas` rows (migration 0029), which store/sql/messages.py appends
with every message write. `fold_counts` moves deltas into the row, in a unit of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mailgraph.domain.model import Folder
from mailgraph.store.sql.columns import Columns
from mailgraph.store.sql.dialect import fold_deltas, oldest_bound

if TYPE_CHECKING:
    from mailgraph.store.contract import Conn
    from mailgraph.store.sql.folder_ids import WellKnownIdCache

# Item counts are counters, not COUNT(*) over `messages`: that cost ≈0.9 ms per folder at 20k items,
# on every folder read and every `…/mailFolders/{id}/messages` request. Writers append delta rows
# instead of updating the folder row: on PostgreSQL that row's lock, held to the flushed commit,
# serialized every unit touching the folder (issue 11). Readers sum the few unfolded deltas on the
# folder_count_deltas_folder index, in the same statement, hence the same snapshot, as the row: a
# fold (delete + row update, one transaction) is seen entirely or not at all. Child folders stay a
# COUNT on the folders_parent index: folders are few, and folder create/delete would need counters too.
_SELECT = (
    "SELECT f.id, f.mailbox_id, f.parent_id, f.well_known_name, f.display_name, f.is_hidden,"
    " (SELECT COUNT(*) FROM folders c WHERE c.parent_id = f.id) AS child_folder_count,"
    " f.total_count + COALESCE((SELECT SUM(d.total) FROM folder_count_deltas d WHERE d.folder_id = f.id), 0)"
    " AS total_count,"
    " f.unread_count + COALESCE((SELECT SUM(d.unread) FROM folder_count_deltas d WHERE d.folder_id = f.id), 0)"
    " AS unread_count"
)
_FOLD_ADD = "UPDATE folders SET total_count = total_count + ?, unread_count = unread_count + ? WHERE id = ?"
# Positions by name from the result names (the sums' COALESCE(…, 0) has commas Columns would split on).
_C = Columns(
    "id, mailbox_id, parent_id, well_known_name, display_name, is_hidden, child_folder_count, total_count, unread_count"
)
_SELECT += " FROM folders f"


def _from_row(r: Sequence[Any]) -> Folder:
    return Folder(
        id=r[_C["id"]],
        mailbox_id=r[_C["mailbox_id"]],
        parent_id=r[_C["parent_id"]],
        well_known_name=r[_C["well_known_name"]],
        display_name=r[_C["display_name"]],
        is_hidden=bool(r[_C["is_hidden"]]),
        child_folder_count=int(r[_C["child_folder_count"]]),
        total_item_count=int(r[_C["total_count"]]),
        unread_item_count=int(r[_C["unread_count"]]),
    )


class SqlFolders:
    """`domain.ports.FolderRepo` over one connection."""

    __slots__ = ("_conn", "_ids")

    def __init__(self, conn: Conn, ids: WellKnownIdCache | None = None) -> None:
        self._conn = conn
        self._ids = ids

    async def insert(self, folder: Folder) -> None:
        """Add a folder."""
        if folder.well_known_name is not None and self._ids is not None:
            self._ids.forget(folder.mailbox_id)
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

    async def update(self, folder: Folder) -> None:
        """Write a folder's name, parent and hidden flag (counts are the counters' own)."""
        await self._conn.execute(
            "UPDATE folders SET parent_id = ?, display_name = ?, is_hidden = ? WHERE id = ?",
            (folder.parent_id, folder.display_name, int(folder.is_hidden), folder.id),
        )

    async def lock(self, folder_id: str) -> None:
        """Hold the folder's row lock until commit (a no-op UPDATE: portable, unlike FOR UPDATE on SQLite).

        Sibling-name checks under one parent run one at a time on PostgreSQL's READ COMMITTED; SQLite
        has a single writer anyway.
        """
        await self._conn.execute("UPDATE folders SET is_hidden = is_hidden WHERE id = ?", (folder_id,))

    async def delete(self, folder_id: str) -> None:
        """Remove an empty folder without children (callers delete bottom-up), and its counter deltas."""
        await self._conn.execute("DELETE FROM folder_count_deltas WHERE folder_id = ?", (folder_id,))
        await self._conn.execute("DELETE FROM folders WHERE id = ?", (folder_id,))

    async def fold_counts(self, limit: int) -> int:
        """Fold the counter deltas with ids below the oldest + `limit` into their folder rows; returns
        how many (ids have gaps, so possibly fewer than `limit` while more are pending).

        The sums added to the counters are of exactly the rows deleted (store/sql/dialect.py
        `fold_deltas`), so a delta appended by a unit that commits meanwhile is neither lost nor
        counted twice: on PostgreSQL the DELETE does not see it and leaves it for the next fold, and a
        second fold running at once (another process) blocks on the rows, then skips those gone. The
        folder rows are updated in folder-id order (no deadlock between two folds), and only here, in
        a unit that holds them for two statements and its commit.
        """
        upto = await oldest_bound(self._conn, "folder_count_deltas", limit)
        if upto is None:
            return 0
        bound = (upto,)
        take, then = fold_deltas(self._conn.dialect)
        sums = await self._conn.fetch_all(take, bound)
        if then is not None:
            await self._conn.execute(then, bound)
        changed = [(int(t), int(u), f) for f, t, u, _ in sums if t or u]
        if changed:
            await self._conn.execute_many(_FOLD_ADD, changed)
        return sum(int(r[3]) for r in sums)

    async def list_all(self, mailbox_id: str) -> list[Folder]:
        """Every folder of the mailbox, hidden ones included."""
        rows = await self._conn.fetch_all(f"{_SELECT} WHERE f.mailbox_id = ?", (mailbox_id,))
        return [_from_row(r) for r in rows]

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
        by_name = f"f.display_name{self._conn.dialect.text_order}, f.id{self._conn.dialect.text_order}"
        rows = await self._conn.fetch_all(
            f"{_SELECT} WHERE f.mailbox_id = ? AND f.parent_id = ?{hidden} ORDER BY {by_name}",
            (mailbox_id, parent_id),
        )
        return [_from_row(r) for r in rows]

    async def well_known_ids(self, mailbox_id: str) -> dict[str, str]:
        """Well-known name → folder id (do not mutate: it may be the writer's cached copy)."""
        if self._ids is not None and (cached := self._ids.get(mailbox_id)) is not None:
            return cached
        rows = await self._conn.fetch_all(
            "SELECT well_known_name, id FROM folders WHERE mailbox_id = ? AND well_known_name IS NOT NULL",
            (mailbox_id,),
        )
        found = {r[0]: r[1] for r in rows}
        if self._ids is not None:
            self._ids.put(mailbox_id, found)
        return found


# The row shape for other readers of folder rows (store/sql/change_log.py reads a mailbox's folders).
SELECT = _SELECT
from_row = _from_row
