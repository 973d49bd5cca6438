"""The connection contract every engine provides, and the `Tx` the domain's units of work receive.

SQL in `store/sql/` is written once against `Conn`, with `?` placeholders; an engine adapts
placeholders, types and errors of its driver (integrity violations become `ConflictError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from mailgraph.store.sql.attachments import SqlAttachments
from mailgraph.store.sql.delegation import SqlDelegation
from mailgraph.store.sql.directory import SqlDirectory
from mailgraph.store.sql.folder_ids import WellKnownIdCache
from mailgraph.store.sql.folders import SqlFolders
from mailgraph.store.sql.lockouts import SqlLockouts
from mailgraph.store.sql.messages import SqlMessages
from mailgraph.store.sql.outbox import SqlOutbox

Row = Sequence[Any]


class Conn(Protocol):
    """One database connection inside a transaction."""

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    async def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement once per parameter row."""
        ...

    async def fetch_one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        """The first row of a query, or None."""
        ...

    async def fetch_all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """All rows of a query."""
        ...


class SqlTx:
    """The repositories of one transaction (implements `domain.ports.Tx`)."""

    __slots__ = ("attachments", "delegation", "directory", "folders", "lockouts", "messages", "outbox")

    def __init__(self, conn: Conn, folder_ids: WellKnownIdCache | None = None) -> None:
        # folder_ids: only the writer's Tx has one (store/sql/folder_ids.py says why it is sound).
        self.directory = SqlDirectory(conn, folder_ids)
        self.folders = SqlFolders(conn, folder_ids)
        self.messages = SqlMessages(conn)
        self.outbox = SqlOutbox(conn)
        self.attachments = SqlAttachments(conn)
        self.delegation = SqlDelegation(conn)
        self.lockouts = SqlLockouts(conn)
