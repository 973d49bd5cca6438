"""The few SQL helpers whose text depends on the argument count or the engine.

Everything here is portable today; the PostgreSQL engine will add its `FOR UPDATE SKIP LOCKED`
claim here (the one place the engines differ in behaviour, per docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence


def in_list(column: str, values: Sequence[object]) -> tuple[str, list[object]]:
    """`column IN (?, ?, …)` with its parameters; an empty list matches nothing."""
    if not values:
        return "1 = 0", []
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)
