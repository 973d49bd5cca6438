"""The few SQL pieces whose text depends on the argument count or on the engine.

SQL in store/sql/ is written once; where engines must differ it asks this module, either for a
function every engine defines under one name (`FOLD`) or for a `Dialect` the engine's `Conn` carries
(`Conn.dialect`), the one place the engines differ in locking behaviour.

`mg_fold(text) -> text` is the case folding of every case-insensitive comparison the store makes in
SQL (store/contract.py states the rule). It is Python's `str.casefold` (Unicode full case folding):
SQLite registers `fold` below on every connection; PostgreSQL ≥ 18 defines it as
`CREATE FUNCTION mg_fold(t text) RETURNS text IMMUTABLE STRICT PARALLEL SAFE RETURN casefold(t)`
(the same Unicode folding). Comparisons apply it to both sides, so equal strings always match.
Ordering by `mg_fold(...)` is by code point on SQLite; PostgreSQL adds `COLLATE "C"` to agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from mailgraph.store.contract import Dialect

FOLD: Final = "mg_fold"


def fold(text: str | None) -> str | None:
    """The Python side of `mg_fold` (NULL stays NULL)."""
    return None if text is None else text.casefold()


SQLITE: Final = Dialect("sqlite", "")
POSTGRES: Final = Dialect("postgres", " FOR UPDATE SKIP LOCKED")
DIALECTS: Final = (SQLITE, POSTGRES)


def claim(table: str, due: str, order: str, dialect: Dialect, assignments: str) -> str:
    """One atomic claim statement: `UPDATE table SET assignments WHERE id IN (the first due rows)
    RETURNING id`. Parameters: those of `assignments`, then of `due`, then the limit."""
    return (
        f"UPDATE {table} SET {assignments} WHERE id IN"
        f" (SELECT id FROM {table} WHERE {due} ORDER BY {order} LIMIT ?{dialect.claim_lock}) RETURNING id"
    )


def in_list(column: str, values: Sequence[object]) -> tuple[str, list[object]]:
    """`column IN (?, ?, …)` with its parameters; an empty list matches nothing."""
    if not values:
        return "1 = 0", []
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)
