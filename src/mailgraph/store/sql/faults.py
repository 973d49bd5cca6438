"""Fault-injection rules and their counts (migration 0017): `domain.ports.FaultRepo` in SQL.

An occurrence is counted by an UPDATE before the count is read, in the caller's unit of work: the
UPDATE takes the row's write lock (SQLite: the single writer; PostgreSQL: the row lock), so two
processes counting at once get distinct occurrence numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailgraph.domain.faults import SCOPES, FaultRule, FaultScope

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mailgraph.store.contract import Conn

_COLUMNS = (
    "id, scope, method, route, mailbox, app, nth, probability_ppm, seed, times, expires_at, status, code,"
    " message, retry_after_s, latency_ms, reset, seen, fired, created_at"
)
_PPM = 1_000_000


def _row(rule: FaultRule) -> tuple[object, ...]:
    ppm = None if rule.probability is None else round(rule.probability * _PPM)
    return (
        rule.id, rule.scope, rule.method, rule.route, rule.mailbox, rule.app, rule.nth, ppm, rule.seed,
        rule.times, rule.expires_at, rule.status, rule.code, rule.message, rule.retry_after_s,
        rule.latency_ms, int(rule.reset), rule.seen, rule.fired, rule.created_at,
    )  # fmt: skip


def _rule(r: Sequence[Any]) -> FaultRule:
    scope: FaultScope = next((s for s in SCOPES if s == r[1]), "http")
    return FaultRule(
        id=r[0], scope=scope, method=r[2], route=r[3], mailbox=r[4], app=r[5], nth=r[6],
        probability=None if r[7] is None else r[7] / _PPM, seed=r[8], times=r[9], expires_at=r[10],
        status=r[11], code=r[12], message=r[13], retry_after_s=r[14], latency_ms=r[15], reset=bool(r[16]),
        seen=r[17], fired=r[18], created_at=r[19],
    )  # fmt: skip


class SqlFaults:
    """`domain.ports.FaultRepo` in SQL."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def list(self) -> list[FaultRule]:
        """Every rule, oldest first."""
        rows = await self._conn.fetch_all(f"SELECT {_COLUMNS} FROM fault_rules ORDER BY created_at, id")
        return [_rule(r) for r in rows]

    async def put(self, rule: FaultRule) -> None:
        """Insert or replace by id."""
        await self._conn.execute("DELETE FROM fault_rules WHERE id = ?", (rule.id,))
        marks = ", ".join("?" * 20)
        await self._conn.execute(f"INSERT INTO fault_rules ({_COLUMNS}) VALUES ({marks})", _row(rule))

    async def delete(self, rule_id: str | None) -> int:
        """Remove one rule or all."""
        if rule_id is None:
            return await self._conn.execute("DELETE FROM fault_rules")
        return await self._conn.execute("DELETE FROM fault_rules WHERE id = ?", (rule_id,))

    async def hit(self, rule_id: str) -> tuple[int, int] | None:
        """Count one occurrence, then read the counts."""
        if await self._conn.execute("UPDATE fault_rules SET seen = seen + 1 WHERE id = ?", (rule_id,)) != 1:
            return None
        row = await self._conn.fetch_one("SELECT seen, fired FROM fault_rules WHERE id = ?", (rule_id,))
        return None if row is None else (int(row[0]), int(row[1]))

    async def fired(self, rule_id: str) -> None:
        """Count one firing."""
        await self._conn.execute("UPDATE fault_rules SET fired = fired + 1 WHERE id = ?", (rule_id,))
