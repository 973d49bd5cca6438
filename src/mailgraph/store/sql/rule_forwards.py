"""The rules' pending forwards-as-attachment (migration 0032): `domain.ports.RuleForwardRepo` in SQL.

Claimed like the held sends and the outbound queue (`dialect.claim`: one statement, SKIP LOCKED on
PostgreSQL); finished by a DELETE under the lease, in the unit that sends the forward, so a forward is
sent once even when a forwarder crashes between its steps or two processes drain the table.
Recipients are one JSON text (`codec.addresses_to_json`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailgraph.domain.rule_forwards import PendingForward
from mailgraph.store.sql import codec
from mailgraph.store.sql.columns import Columns
from mailgraph.store.sql.dialect import DIALECTS, claim, in_list

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mailgraph.domain.model import Timestamp
    from mailgraph.store.contract import Conn

F = Columns("id, message_id, mailbox_id, recipients, attempts, due_at, lease_until, created_at")
_CLAIM = {
    d.name: claim(
        "rule_forwards",
        "due_at <= ? AND (lease_until IS NULL OR lease_until < ?)",
        "due_at, id",
        d,
        assignments="lease_until = ?",
    )
    for d in DIALECTS
}


def _job(r: Sequence[Any]) -> PendingForward:
    lease = r[F["lease_until"]]
    return PendingForward(
        r[F["id"]], r[F["message_id"]], r[F["mailbox_id"]],
        tuple(codec.addresses_from_json(r[F["recipients"]])),
        int(r[F["attempts"]]), int(r[F["due_at"]]), int(r[F["created_at"]]), None if lease is None else int(lease),
    )  # fmt: skip


class SqlRuleForwards:
    """`domain.ports.RuleForwardRepo` in SQL."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, job: PendingForward) -> None:
        """Insert a pending forward."""
        await self._conn.execute(
            f"INSERT INTO rule_forwards ({F.sql}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (job.id, job.message_id, job.mailbox_id, codec.addresses_to_json(list(job.recipients)),
             job.attempts, job.due_at, job.lease_until, job.created_at),
        )  # fmt: skip

    async def claim_due(self, now: Timestamp, lease_until: Timestamp, limit: int) -> list[PendingForward]:
        """Lease due pending forwards (one statement: two claimers never lease the same row)."""
        rows = await self._conn.fetch_all(_CLAIM[self._conn.dialect.name], (lease_until, now, now, limit))
        if not rows:
            return []
        clause, args = in_list("id", [r[0] for r in rows])
        found = await self._conn.fetch_all(
            f"SELECT {F.sql} FROM rule_forwards WHERE {clause} ORDER BY due_at, id", args
        )
        return [_job(r) for r in found]

    async def finish(self, job_id: str, lease: Timestamp) -> bool:
        """Delete the row if this lease still holds it."""
        deleted = await self._conn.execute(
            "DELETE FROM rule_forwards WHERE id = ? AND lease_until = ?", (job_id, lease)
        )
        return deleted == 1

    async def retry(self, job_id: str, lease: Timestamp, due_at: Timestamp) -> bool:
        """One more failed attempt; due again at `due_at` (the lease is given up)."""
        updated = await self._conn.execute(
            "UPDATE rule_forwards SET attempts = attempts + 1, due_at = ?, lease_until = NULL"
            " WHERE id = ? AND lease_until = ?",
            (due_at, job_id, lease),
        )
        return updated == 1

    async def pending(self, mailbox_id: str | None = None) -> list[PendingForward]:
        """The pending forwards, oldest first."""
        where, args = ("", ()) if mailbox_id is None else (" WHERE mailbox_id = ?", (mailbox_id,))
        rows = await self._conn.fetch_all(
            f"SELECT {F.sql} FROM rule_forwards{where} ORDER BY due_at, id", args
        )
        return [_job(r) for r in rows]
