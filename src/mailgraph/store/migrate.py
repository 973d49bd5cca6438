"""Versioned schema migrations: `migrations/NNNN_name.sql`, applied in order, recorded in `schema_version`.

A file `NNNN_name.sqlite.sql` or `NNNN_name.postgres.sql` replaces the portable one for that engine
only when the SQL must differ (none does yet).

The runner (`migrate`) is the same for every engine; an engine only provides a `MigrationTarget`:
read the recorded version, and apply one migration (its statements and the version row) in one
transaction. `apply` re-checks the version inside that transaction and skips a migration another
process applied meanwhile (SQLite: under BEGIN IMMEDIATE; PostgreSQL: under an advisory lock), so
several processes may start on one database at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

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


# Portable SQL every target uses for its bookkeeping.
CREATE_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
CURRENT_VERSION = "SELECT MAX(version) FROM schema_version"
RECORD_VERSION = "INSERT INTO schema_version (version) VALUES (?)"


class MigrationTarget(Protocol):
    """The engine hook the runner drives."""

    @property
    def engine(self) -> str:
        """ "sqlite" or "postgres": which per-engine files apply."""
        ...

    async def current_version(self) -> int:
        """The highest recorded version (0 on an empty database; creates `schema_version` at need)."""
        ...

    async def apply(self, migration: Migration) -> bool:
        """Run `statements(migration.sql)` and record the version, in one transaction; False (and no
        change) when that version is already recorded."""
        ...


async def migrate(target: MigrationTarget) -> list[int]:
    """Bring the database up to the latest version; returns the versions this call applied."""
    current = await target.current_version()
    applied = []
    for migration in migrations(target.engine):
        if migration.version > current and await target.apply(migration):
            applied.append(migration.version)
    return applied


def statements(script: str) -> list[str]:
    """Split a migration into statements (our migrations have no semicolons inside literals)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


LATEST = max((m.version for m in migrations("sqlite")), default=0)
