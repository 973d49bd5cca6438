"""Outbound queue rows: the snapshot of each sent message (store/sql/snapshot.py) and one entry per external
recipient."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from mailgraph.domain.model import Message, QueueEntry, QueueStatus, Timestamp
from mailgraph.store.sql import snapshot
from mailgraph.store.sql.columns import Columns
from mailgraph.store.sql.dialect import DIALECTS, claim, in_list

if TYPE_CHECKING:
    from mailgraph.store.contract import Conn

_C = Columns(
    "q.id, q.outbound_id, q.mailbox_id, q.recipient, q.domain, q.status, q.attempts, q.next_attempt_at,"
    " q.lease_until, q.last_reply_code, q.last_reply_text, q.expires_at, q.created_at,"
    " o.internet_message_id, o.subject"
)
_ENTRY = f"SELECT {_C.sql} FROM outbound_queue q JOIN outbound_messages o ON o.id = q.outbound_id"


def _entry(r: Sequence[Any]) -> QueueEntry:
    return QueueEntry(
        id=r[_C["id"]],
        outbound_id=r[_C["outbound_id"]],
        mailbox_id=r[_C["mailbox_id"]],
        recipient=r[_C["recipient"]],
        domain=r[_C["domain"]],
        status=cast(QueueStatus, r[_C["status"]]),
        attempts=int(r[_C["attempts"]]),
        next_attempt_at=int(r[_C["next_attempt_at"]]),
        lease_until=r[_C["lease_until"]],
        last_reply_code=r[_C["last_reply_code"]],
        last_reply_text=r[_C["last_reply_text"]],
        expires_at=int(r[_C["expires_at"]]),
        created_at=int(r[_C["created_at"]]),
        internet_message_id=r[_C["internet_message_id"]],
        subject=r[_C["subject"]],
    )


_CLAIM = {
    d.name: claim(
        "outbound_queue",
        "(status IN ('queued', 'deferred') AND next_attempt_at <= ?) OR (status = 'sending' AND lease_until < ?)",
        "next_attempt_at, id",
        d,
        assignments="status = 'sending', lease_until = ?",
    )
    for d in DIALECTS
}


class SqlOutbox:
    """`domain.ports.OutboxRepo` over one connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, outbound_id: str, message: Message, entries: Sequence[QueueEntry]) -> None:
        """Store the sent message's snapshot and its recipients' queue entries."""
        await self._conn.execute(
            "INSERT INTO outbound_messages (id, mailbox_id, internet_message_id, subject, snapshot_json,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                outbound_id,
                message.mailbox_id,
                message.internet_message_id,
                message.subject,
                snapshot.dump(message),
                message.sent_at,
            ),
        )
        await self._conn.execute_many(
            "INSERT INTO outbound_queue (id, outbound_id, mailbox_id, recipient, domain, status, attempts,"
            " next_attempt_at, lease_until, last_reply_code, last_reply_text, expires_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e.id,
                    outbound_id,
                    e.mailbox_id,
                    e.recipient,
                    e.domain,
                    e.status,
                    e.attempts,
                    e.next_attempt_at,
                    e.lease_until,
                    e.last_reply_code,
                    e.last_reply_text,
                    e.expires_at,
                    e.created_at,
                )
                for e in entries
            ],
        )

    async def get_message(self, outbound_id: str) -> Message | None:
        """The snapshot of a queued message."""
        row = await self._conn.fetch_one(
            "SELECT snapshot_json FROM outbound_messages WHERE id = ?", (outbound_id,)
        )
        return None if row is None else snapshot.load(row[0])

    async def list_entries(
        self,
        status: QueueStatus | None = None,
        limit: int = 100,
        mailbox_id: str | None = None,
        outbound_id: str | None = None,
    ) -> list[QueueEntry]:
        """Entries oldest first, optionally filtered."""
        where: list[str] = []
        params: list[object] = []
        if outbound_id is not None:
            where.append("(q.outbound_id = ? OR o.internet_message_id = ?)")
            params += [outbound_id, outbound_id]
        if status is not None:
            where.append("q.status = ?")
            params.append(status)
        if mailbox_id is not None:
            where.append("q.mailbox_id = ?")
            params.append(mailbox_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._conn.fetch_all(
            f"{_ENTRY}{clause} ORDER BY q.created_at, q.id LIMIT ?", [*params, limit]
        )
        return [_entry(r) for r in rows]

    async def claim_due(self, now: Timestamp, lease_until: Timestamp, limit: int) -> list[QueueEntry]:
        """Lease due entries: queued/deferred whose time has come, or sending whose lease ran out.

        One statement picks and leases the rows (`dialect.claim`), so two workers never lease the
        same entry: SQLite runs it under its single writer lock, PostgreSQL adds FOR UPDATE SKIP
        LOCKED so concurrent claims take disjoint rows instead of waiting on each other.
        """
        rows = await self._conn.fetch_all(_CLAIM[self._conn.dialect.name], (lease_until, now, now, limit))
        if not rows:
            return []
        clause, args = in_list("q.id", [r[0] for r in rows])
        return [_entry(r) for r in await self._conn.fetch_all(f"{_ENTRY} WHERE {clause} ORDER BY q.id", args)]

    async def record(
        self,
        entry_id: str,
        status: QueueStatus,
        next_attempt_at: Timestamp,
        reply_code: int | None,
        reply_text: str | None,
        lease: Timestamp | None = None,
    ) -> bool:
        """Record an attempt's outcome and release the lease; with `lease`, only if that lease still holds."""
        guard, args = ("", []) if lease is None else (" AND status = 'sending' AND lease_until = ?", [lease])
        changed = await self._conn.execute(
            "UPDATE outbound_queue SET status = ?, attempts = attempts + 1, next_attempt_at = ?, lease_until = NULL,"
            f" last_reply_code = ?, last_reply_text = ? WHERE id = ?{guard}",
            [status, next_attempt_at, reply_code, reply_text, entry_id, *args],
        )
        return changed > 0

    async def retry(
        self, now: Timestamp, expires_at: Timestamp, statuses: Sequence[QueueStatus], entry_ids: Sequence[str]
    ) -> int:
        """Make entries of `statuses` (all of them, or only `entry_ids` when given) due now again."""
        st_clause, st_args = in_list("status", list(statuses))
        id_clause, id_args = in_list("id", list(entry_ids)) if entry_ids else ("1 = 1", [])
        return await self._conn.execute(
            "UPDATE outbound_queue SET status = 'queued', next_attempt_at = ?, lease_until = NULL, expires_at = ?"
            f" WHERE {st_clause} AND {id_clause}",
            [now, expires_at, *st_args, *id_args],
        )

    async def purge(self, statuses: Sequence[QueueStatus]) -> int:
        """Delete entries of `statuses`, then the snapshots no entry refers to any more."""
        clause, args = in_list("status", list(statuses))
        removed = await self._conn.execute(f"DELETE FROM outbound_queue WHERE {clause}", args)
        await self._conn.execute(
            "DELETE FROM outbound_messages WHERE NOT EXISTS"
            " (SELECT 1 FROM outbound_queue q WHERE q.outbound_id = outbound_messages.id)",
            (),
        )
        return removed
