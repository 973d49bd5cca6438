"""Per-mailbox send counters and held sends (migration 0020): `domain.ports.SendQuotaRepo` in SQL.

`count` is the send path's ONE statement (issue 13: the bookkeeping was two, +3.9 % instructions per
create+send cycle): an upsert whose DO UPDATE computes `domain.send_quota.admit` in SQL from the old
row and RETURNING gives the new one, from which the domain reads the admission (`admission_of`).
tests/store/test_send_quota_contract.py checks it against `admit` on random states, on both engines.
The same row lock argument holds as for `lock` below.

`lock` is one upsert that always touches the row and returns it: the write takes the row's lock
(SQLite: the single writer; PostgreSQL: the row lock, held to the end of the transaction) and
RETURNING gives the row as the previous send committed it (PostgreSQL's ON CONFLICT DO UPDATE works on
the latest committed version, whatever the snapshot). Two sends of one mailbox in two processes therefore count
one after the other, never from the same old state (PostgreSQL writes run READ COMMITTED).
Held sends are claimed like the outbound queue (`dialect.claim`: one statement, SKIP LOCKED on
PostgreSQL) and released by a DELETE under the lease.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailgraph.domain.model import SECOND
from mailgraph.domain.send_quota import HeldSend, QuotaState, admit
from mailgraph.domain.throttling import Limits
from mailgraph.store.sql.columns import Columns
from mailgraph.store.sql.dialect import DIALECTS, claim, in_list, named

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mailgraph.domain.model import Timestamp
    from mailgraph.store.contract import Conn

Q = Columns("mailbox_id, window_start, window_sends, day_start, day_recipients, blocked_until")
H = Columns("id, message_id, mailbox_id, save_copy, release_at, lease_until, created_at")
_LOCK = (
    "INSERT INTO send_quota (mailbox_id, window_start, window_sends, day_start, day_recipients, blocked_until)"
    " VALUES (?, 0, 0, 0, 0, 0) ON CONFLICT (mailbox_id) DO UPDATE SET window_sends = send_quota.window_sends"
    f" RETURNING {Q.sql}"
)
# `admit` over the old row `o` (SET expressions see the old row on both engines). Named parameters here,
# turned into positional parameters below (with the order of their values).
_B = "send_quota.blocked_until > :now"  # blocked before this send: nothing changes
_USED = "(CASE WHEN :now >= send_quota.day_start + :day THEN 0 ELSE send_quota.day_recipients END)"
_OVER = f"{_USED} + :rec > :rlimit"  # this send would pass the recipient limit: block for a day
_NEW = "(:now >= send_quota.window_start + :span)"  # the last scheduled window is over
_SENDS = f"(CASE WHEN {_NEW} THEN 0 ELSE send_quota.window_sends END)"
_START = f"(CASE WHEN {_NEW} THEN :now ELSE send_quota.window_start END)"
_FULL = f"{_SENDS} >= :slimit"
_COUNT_NAMED = (
    "INSERT INTO send_quota (mailbox_id, window_start, window_sends, day_start, day_recipients, blocked_until)"
    " VALUES (:id, :ws0, :wn0, :ds0, :dr0, :bu0) ON CONFLICT (mailbox_id) DO UPDATE SET"
    f" window_start = CASE WHEN {_B} OR {_OVER} THEN send_quota.window_start"
    f" WHEN {_FULL} THEN {_START} + :span ELSE {_START} END,"
    f" window_sends = CASE WHEN {_B} OR {_OVER} THEN send_quota.window_sends WHEN {_FULL} THEN 1 ELSE {_SENDS} + 1 END,"
    f" day_start = CASE WHEN {_B} THEN send_quota.day_start WHEN {_OVER} THEN :now"
    " WHEN :now >= send_quota.day_start + :day THEN :now ELSE send_quota.day_start END,"
    f" day_recipients = CASE WHEN {_B} THEN send_quota.day_recipients WHEN {_OVER} THEN 0 ELSE {_USED} + :rec END,"
    f" blocked_until = CASE WHEN {_B} THEN send_quota.blocked_until WHEN {_OVER} THEN :now + :day ELSE 0 END"
    f" RETURNING {Q.sql}"
)  # fmt: skip
# Each of the 12 values is bound once (numbered placeholders): 55 positional ones cost more than the
# second statement this one replaces.
_INTS = frozenset({"ws0", "wn0", "ds0", "dr0", "bu0", "now", "rec", "day", "rlimit", "span", "slimit"})
_COUNT = {d.name: named(_COUNT_NAMED, d, _INTS) for d in DIALECTS}
_CLAIM = {
    d.name: claim(
        "held_sends",
        "release_at <= ? AND (lease_until IS NULL OR lease_until < ?)",
        "release_at, id",
        d,
        assignments="lease_until = ?",
    )
    for d in DIALECTS
}


def _state(r: Sequence[Any]) -> QuotaState:
    return QuotaState(
        r[Q["mailbox_id"]], int(r[Q["window_start"]]), int(r[Q["window_sends"]]), int(r[Q["day_start"]]),
        int(r[Q["day_recipients"]]), int(r[Q["blocked_until"]]),
    )  # fmt: skip


def _held(r: Sequence[Any]) -> HeldSend:
    lease = r[H["lease_until"]]
    return HeldSend(
        r[H["id"]], r[H["message_id"]], r[H["mailbox_id"]], bool(r[H["save_copy"]]), int(r[H["release_at"]]),
        int(r[H["created_at"]]), None if lease is None else int(lease),
    )  # fmt: skip


class SqlSendQuota:
    """`domain.ports.SendQuotaRepo` in SQL."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def count(self, mailbox_id: str, limits: Limits, recipients: int, now: Timestamp) -> QuotaState:
        """Count one send in one statement: the mailbox's counters after `admit` (created if missing)."""
        first, _ = admit(QuotaState(mailbox_id), limits, recipients, now)  # the row a new mailbox gets
        values = {
            "id": mailbox_id, "ws0": first.window_start, "wn0": first.window_sends, "ds0": first.day_start,
            "dr0": first.day_recipients, "bu0": first.blocked_until, "now": now, "rec": recipients,
            "day": limits.recipients_window_s * SECOND, "rlimit": limits.recipients,
            "span": limits.sends_window_s * SECOND, "slimit": limits.sends,
        }  # fmt: skip
        sql, order = _COUNT[self._conn.dialect.name]
        row = await self._conn.fetch_one(sql, [values[name] for name in order])
        assert row is not None  # an upsert with RETURNING returns its row
        return _state(row)

    async def lock(self, mailbox_id: str) -> QuotaState:
        """The mailbox's counters, created at zero if missing, write-locked for this transaction."""
        row = await self._conn.fetch_one(_LOCK, (mailbox_id,))
        return QuotaState(mailbox_id) if row is None else _state(row)

    async def put(self, state: QuotaState) -> None:
        """Store the counters (the row exists: `lock` made it)."""
        await self._conn.execute(
            "UPDATE send_quota SET window_start = ?, window_sends = ?, day_start = ?, day_recipients = ?,"
            " blocked_until = ? WHERE mailbox_id = ?",
            (state.window_start, state.window_sends, state.day_start, state.day_recipients,
             state.blocked_until, state.mailbox_id),
        )  # fmt: skip

    async def hold(self, held: HeldSend) -> None:
        """Insert a held send."""
        await self._conn.execute(
            f"INSERT INTO held_sends ({H.sql}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (held.id, held.message_id, held.mailbox_id, int(held.save_copy), held.release_at,
             held.lease_until, held.created_at),
        )  # fmt: skip

    async def claim_due(self, now: Timestamp, lease_until: Timestamp, limit: int) -> list[HeldSend]:
        """Lease due held sends (one statement: two claimers never lease the same row)."""
        rows = await self._conn.fetch_all(_CLAIM[self._conn.dialect.name], (lease_until, now, now, limit))
        if not rows:
            return []
        clause, args = in_list("id", [r[0] for r in rows])
        found = await self._conn.fetch_all(
            f"SELECT {H.sql} FROM held_sends WHERE {clause} ORDER BY release_at, id", args
        )
        return [_held(r) for r in found]

    async def release(self, held_id: str, lease: Timestamp) -> bool:
        """Delete the row if this lease still holds it."""
        return (
            await self._conn.execute(
                "DELETE FROM held_sends WHERE id = ? AND lease_until = ?", (held_id, lease)
            )
            == 1
        )

    async def held(self, mailbox_id: str | None = None) -> list[HeldSend]:
        """The held sends, earliest first."""
        where, args = ("", ()) if mailbox_id is None else (" WHERE mailbox_id = ?", (mailbox_id,))
        rows = await self._conn.fetch_all(
            f"SELECT {H.sql} FROM held_sends{where} ORDER BY release_at, id", args
        )
        return [_held(r) for r in rows]
