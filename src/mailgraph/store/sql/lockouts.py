"""Failed sign-in counts per user or client, for smart lockout (migration 0008, domain/lockout.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailgraph.domain.lockout import SignInFailures
from mailgraph.domain.model import Timestamp

if TYPE_CHECKING:
    from mailgraph.store.contract import Conn


class SqlLockouts:
    """`domain.ports.LockoutRepo` over one connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def get(self, subject: str) -> SignInFailures | None:
        """The subject's row, or None."""
        row = await self._conn.fetch_one(
            "SELECT failures, lockouts, locked_until FROM sign_in_failures WHERE subject = ?", (subject,)
        )
        return None if row is None else SignInFailures(subject, int(row[0]), int(row[1]), int(row[2]))

    async def put(self, state: SignInFailures, now: Timestamp) -> None:
        """Insert or replace the subject's row."""
        values = (state.failures, state.lockouts, state.locked_until, now, state.subject)
        changed = await self._conn.execute(
            "UPDATE sign_in_failures SET failures = ?, lockouts = ?, locked_until = ?, updated_at = ?"
            " WHERE subject = ?",
            values,
        )
        if not changed:
            await self._conn.execute(
                "INSERT INTO sign_in_failures (failures, lockouts, locked_until, updated_at, subject)"
                " VALUES (?, ?, ?, ?, ?)",
                values,
            )

    async def clear(self, subject: str) -> None:
        """Forget the subject's failures."""
        await self._conn.execute("DELETE FROM sign_in_failures WHERE subject = ?", (subject,))
