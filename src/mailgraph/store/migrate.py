"""Versioned schema migrations: `migrations/NNNN_name.sql`, applied in order, recorded in `schema_version`.

A file `NNNN_name.sqlite.sql` or `NNNN_name.postgres.sql` replaces the portable one for that engine
only when the SQL must differ (none does yet).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+(?:\.(sqlite|postgres))?\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step."""

    version: int
    name: str
    sql: str


def migrations(engine: str) -> list[Migration]:
    """All migrations for `engine` ("sqlite" or "postgres"), in version order."""
    chosen: dict[int, tuple[bool, Migration]] = {}
    for entry in resources.files("mailgraph.store").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if not match:
            continue
        version, only_for = int(match.group(1)), match.group(2)
        if only_for is not None and only_for != engine:
            continue
        specific = only_for is not None
        if version in chosen and chosen[version][0] and not specific:
            continue
        chosen[version] = (specific, Migration(version, entry.name, entry.read_text(encoding="utf-8")))
    return [chosen[v][1] for v in sorted(chosen)]


LATEST = max((m.version for m in migrations("sqlite")), default=0)
