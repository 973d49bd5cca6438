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

import re
from typing import TYPE_CHECKING, Any

from mailgraph.domain.model import SECOND
from mailgraph.domain.send_quota import HeldSend, QuotaState
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
# `admit` over the old row `O` (SET expressions see the old row on both engines), written once: the
# DO UPDATE uses it on the stored row, the INSERT on a zero row (a mailbox's first send), so no
# Python-side `admit` runs for the insert values either. Named parameters, each bound once (`named`).
_B = "O.blocked_until > :now"  # blocked before this send: nothing changes
_USED = "(CASE WHEN :now >= O.day_start + :day THEN 0 ELSE O.day_recipients END)"
_OVER = f"{_USED} + :rec > :rlimit"  # this send would pass the recipient limit: block for a day
_NEW = "(:now >= O.window_start + :span)"  # the last scheduled window is over
_SENDS = f"(CASE WHEN {_NEW} THEN 0 ELSE O.window_sends END)"
_START = f"(CASE WHEN {_NEW} THEN :now ELSE O.window_start END)"
_FULL = f"{_SENDS} >= :slimit"
_ADMIT = {
    "window_start": f"CASE WHEN {_B} OR {_OVER} THEN O.window_start WHEN {_FULL} THEN {_START} + :span ELSE {_START} END",
    "window_sends": f"CASE WHEN {_B} OR {_OVER} THEN O.window_sends WHEN {_FULL} THEN 1 ELSE {_SENDS} + 1 END",
    "day_start": f"CASE WHEN {_B} THEN O.day_start WHEN {_OVER} THEN :now WHEN :now >= O.day_start + :day THEN :now ELSE O.day_start END",
    "day_recipients": f"CASE WHEN {_B} THEN O.day_recipients WHEN {_OVER} THEN 0 ELSE {_USED} + :rec END",
    "blocked_until": f"CASE WHEN {_B} THEN O.blocked_until WHEN {_OVER} THEN :now + :day ELSE 0 END",
}  # fmt: skip
_ZERO = re.compile(r"O\.(window_start|window_sends|day_start|day_recipients|blocked_until)\b")
_COUNT_NAMED = (
    f"INSERT INTO send_quota (mailbox_id, {', '.join(_ADMIT)}) VALUES (:id, "
    + ", ".join(_ZERO.sub("0", e) for e in _ADMIT.values())
    + ") ON CONFLICT (mailbox_id) DO UPDATE SET "
    + ", ".join(f"{c} = {e.replace('O.', 'send_quota.')}" for c, e in _ADMIT.items())
    + f" RETURNING {Q.sql}"
)
_INTS = frozenset({"now", "day", "rec", "rlimit", "span", "slimit"})
_COUNT = {d.name: named(_COUNT_NAMED, d, _INTS) for d in DIALECTS}
_COUNT_ORDER = ("id", "now", "day", "rec", "rlimit", "span", "slimit")
if any(order != _COUNT_ORDER for _, order in _COUNT.values()):  # pragma: no cover - a static check
    raise RuntimeError("send_quota count: parameter order changed")
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
        row = await self._conn.fetch_one(
            _COUNT[self._conn.dialect.name][0],
            (mailbox_id, now, limits.recipients_window_s * SECOND, recipients, limits.recipients,
             limits.sends_window_s * SECOND, limits.sends),
        )  # fmt: skip
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
