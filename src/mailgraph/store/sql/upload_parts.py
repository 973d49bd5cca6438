"""The accepted parts of upload sessions (migration 0006), and the offset that orders them.

There is no lock per session: a chunk is accepted by a conditional UPDATE on the offset the session
expects (`WHERE received = start`), so of two chunks for one offset — from one process or from two —
exactly one moves the session on and the other is told the offset moved (Graph's overlap error).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailgraph.domain.model import Timestamp

if TYPE_CHECKING:
    from mailgraph.store.contract import Conn


class SqlUploadParts:
    """`domain.ports.UploadPartRepo` in SQL."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def advance(
        self, session_id: str, start: int, received: int, expires_at: Timestamp, part: str
    ) -> bool:
        """Accept a part if the session still expects byte `start`."""
        moved = await self._conn.execute(
            "UPDATE upload_sessions SET received = ?, expires_at = ? WHERE id = ? AND received = ?",
            (received, expires_at, session_id, start),
        )
        if moved != 1:
            return False
        await self._conn.execute(
            "INSERT INTO upload_parts (session_id, start_at, part) VALUES (?, ?, ?)",
            (session_id, start, part),
        )
        return True

    async def parts(self, session_id: str) -> list[str]:
        """Accepted parts in byte order."""
        rows = await self._conn.fetch_all(
            "SELECT part FROM upload_parts WHERE session_id = ? ORDER BY start_at", (session_id,)
        )
        return [r[0] for r in rows]

    async def finish(self, session_id: str, start: int) -> bool:
        """Remove the session and its parts if its last chunk starts at `start`."""
        gone = await self._conn.execute(
            "DELETE FROM upload_sessions WHERE id = ? AND received = ?", (session_id, start)
        )
        if gone != 1:
            return False
        await self.forget(session_id)
        return True

    async def forget(self, session_id: str) -> None:
        """Remove a session's part records."""
        await self._conn.execute("DELETE FROM upload_parts WHERE session_id = ?", (session_id,))
