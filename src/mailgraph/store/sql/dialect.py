"""The few SQL pieces whose text depends on the argument count or on the engine.

SQL in store/sql/ is written once; where engines must differ it asks this module, either for a
function every engine defines under one name (`FOLD`) or for a `Dialect` the engine's `Conn` carries
(`Conn.dialect`), the one place the engines differ in locking behaviour.

`mg_fold(text) -> text` is the case folding of every case-insensitive comparison the store makes in
SQL (store/contract.py states the rule). It is Python's `str.casefold` (Unicode full case folding):
SQLite registers `fold` below on every connection; on PostgreSQL migration
0011_fold.postgres.sql defines it as ICU's Unicode `lower()` followed by the mappings where
`str.casefold` differs from `str.lower` (ß → ss, ς → σ, ligatures…; generated from Python's tables:
`casefold(lower(c)) == casefold(c)` for every code point, so the two steps compose to casefold).
PostgreSQL ≥ 18 could use its built-in `casefold()` instead. Comparisons apply it to both sides,
so equal strings always match. Ordering by `mg_fold(...)` is by code point on SQLite; PostgreSQL
adds `COLLATE "C"` (`Dialect.text_order`) to agree whatever the database's default collation.

`postgres_ddl` adapts the portable migration DDL to PostgreSQL's types: `INTEGER` is int4 there,
too small for microsecond times and counters written as INTEGER, so it becomes BIGINT; BLOB is BYTEA.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Final

from mailgraph.store.contract import Conn, Dialect

FOLD: Final = "mg_fold"
HAS_MEMBER: Final = "mg_has_member"
"""`mg_has_member(json_array_text, value) -> bool`: some string member equals the value under `mg_fold`
(SQLite: `has_member` below; PostgreSQL: migration 0033_json_member.postgres.sql)."""


def fold(text: str | None) -> str | None:
    """The Python side of `mg_fold` (NULL stays NULL)."""
    return None if text is None else text.casefold()


def has_member(array: str | None, value: str | None) -> bool | None:
    """The Python side of `mg_has_member` (NULL in, NULL out, as a STRICT SQL function)."""
    if array is None or value is None:
        return None
    members = json.loads(array)
    wanted = value.casefold()
    return isinstance(members, list) and any(isinstance(m, str) and m.casefold() == wanted for m in members)


SQLITE: Final = Dialect("sqlite", "", "")
POSTGRES: Final = Dialect("postgres", " FOR UPDATE SKIP LOCKED", ' COLLATE "C"', numbers_after_commit=True)
_PG_TYPES: Final = {"INTEGER": "BIGINT", "BLOB": "BYTEA"}
_PG_TYPE_WORDS: Final = re.compile(r"\b(INTEGER|BLOB)\b", re.I)


def postgres_ddl(statement: str) -> str:
    """A portable migration statement in PostgreSQL's types (INTEGER → BIGINT, BLOB → BYTEA)."""
    return _PG_TYPE_WORDS.sub(lambda m: _PG_TYPES[m.group(1).upper()], statement)


DIALECTS: Final = (SQLITE, POSTGRES)


def dialect_of(engine: str) -> Dialect:
    """The dialect of an engine by its name ("sqlite", "postgres")."""
    return next(d for d in DIALECTS if d.name == engine)


def claim(table: str, due: str, order: str, dialect: Dialect, assignments: str) -> str:
    """One atomic claim statement: `UPDATE table SET assignments WHERE id IN (the first due rows)
    RETURNING id`. Parameters: those of `assignments`, then of `due`, then the limit."""
    return (
        f"UPDATE {table} SET {assignments} WHERE id IN"
        f" (SELECT id FROM {table} WHERE {due} ORDER BY {order} LIMIT ?{dialect.claim_lock}) RETURNING id"
    )


_NAMED: Final = re.compile(r":([a-z_][a-z0-9_]*)")


def named(sql: str, dialect: Dialect, integers: frozenset[str] = frozenset()) -> tuple[str, tuple[str, ...]]:
    """`:name` placeholders → numbered ones, each name bound ONCE however often it is used (`?N` on
    SQLite, `$N` on PostgreSQL, which the engine's `?` translation leaves alone); the names in
    binding order. Binding is the per-parameter cost of a statement: a long expression that repeats
    its arguments (store/sql/send_quota.py `count`) would otherwise bind dozens. Names in `integers`
    are typed BIGINT on PostgreSQL, which cannot infer the type of `$1 + $2`."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in order:
            order.append(name)
        n = order.index(name) + 1
        if dialect.name == "postgres":
            return f"CAST(${n} AS BIGINT)" if name in integers else f"${n}"
        return f"?{n}"

    return _NAMED.sub(number, sql), tuple(order)


def in_list(column: str, values: Sequence[object]) -> tuple[str, list[object]]:
    """`column IN (?, ?, …)` with its parameters; an empty list matches nothing."""
    if not values:
        return "1 = 0", []
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)


def update_returning_old(table: str, assignments: str, old: str, dialect: Dialect) -> str | None:
    """PostgreSQL: one statement that updates the row `id = ?` (`assignments` first, then the id) and
    returns its `old` columns as they were, the row locked first (`FOR UPDATE` in the subquery; READ
    COMMITTED re-reads a row it waited for, so "as they were" is as last committed). None on SQLite:
    its RETURNING cannot name an UPDATE's FROM table, and its single writer makes a SELECT then an
    UPDATE just as safe."""
    if dialect.name != "postgres":
        return None
    returning = ", ".join(f"o.{c.strip()}" for c in old.split(","))
    return (
        f"UPDATE {table} m SET {assignments} FROM (SELECT id, {old} FROM {table} WHERE id = ? FOR UPDATE) o"
        f" WHERE m.id = o.id RETURNING {returning}"
    )


def take_oldest(table: str, returning: str) -> str:
    """PostgreSQL: delete the rows of an insert-only queue table (`id` ascending) with `id < ?` and
    return exactly those (`returning`). What a background drain takes (the folder count fold, the change
    sequencer): at READ COMMITTED the DELETE does not see a row whose unit commits meanwhile (it stays
    for the next pass), and of two drains at once the second blocks on the rows the first deleted, then
    skips them, so two drains take disjoint rows. (A SELECT then a DELETE could delete a row it never
    read.)"""
    return f"DELETE FROM {table} WHERE id < ? RETURNING {returning}"


async def oldest_bound(conn: Conn, table: str, limit: int) -> int | None:
    """The `id < ?` bound of the next drain pass over `table`: its oldest id + `limit` (None: empty).
    A range of ids from the oldest, not `id IN (SELECT … ORDER BY id LIMIT ?)`: that subquery's
    ephemeral table cost SQLite more than the delete itself (callgrind, docs/performance.md)."""
    oldest = await conn.fetch_one(f"SELECT MIN(id) FROM {table}")
    if oldest is None or oldest[0] is None:
        return None
    return int(oldest[0]) + limit


_DELTA_SUMS: Final = (
    "SELECT folder_id, SUM(total), SUM(unread), COUNT(*) FROM {src} GROUP BY folder_id ORDER BY folder_id"
)


def fold_deltas(dialect: Dialect) -> tuple[str, str | None]:
    """How to take the folder count deltas with `id < ?` out of `folder_count_deltas`, summed per folder
    (rows: folder id, total, unread, how many rows), in folder-id order: (the statement, then a second
    statement with the same parameter, or None).

    The sums must be of exactly the rows deleted. PostgreSQL: one statement, DELETE … RETURNING in a
    CTE summed by the SELECT (a delta with a lower id whose unit commits meanwhile is not seen by the
    DELETE and stays for the next fold; a SELECT then a DELETE at READ COMMITTED could delete it
    unsummed). SQLite has no DML in a CTE, but its single writer makes the unit serial: SELECT the sums,
    then DELETE the same range, and no row is sent to Python (callgrind: about half the cost of
    DELETE … RETURNING every row and summing them in Python).
    """
    if dialect.name == "postgres":
        gone = take_oldest("folder_count_deltas", "folder_id, total, unread")
        return f"WITH gone AS ({gone}) {_DELTA_SUMS.format(src='gone')}", None
    where = "folder_count_deltas WHERE id < ?"
    return _DELTA_SUMS.format(src=where), f"DELETE FROM {where}"
