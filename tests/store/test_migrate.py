"""The migration runner (store/migrate.py): one runner for every engine, behind a small hook."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import asyncpg
import pytest

from mailgraph.store.engines import open_engine
from mailgraph.store.engines.sqlite import SqliteEngine
from mailgraph.store.migrate import LATEST, Migration, migrate, migrations
from tests import pgdb


class _Recorder:
    """A target that records what the runner asks of it (stands in for any engine)."""

    def __init__(self, engine: str, version: int, taken: set[int] | None = None) -> None:
        self.engine = engine
        self.version = version
        self.taken = taken or set()
        self.applied: list[str] = []

    async def current_version(self) -> int:
        return self.version

    async def apply(self, migration: Migration) -> bool:
        if migration.version in self.taken:  # another process got there first
            return False
        self.applied.append(migration.name)
        return True


async def test_runner_applies_what_is_missing_in_order_and_skips_what_others_applied() -> None:
    target = _Recorder("postgres", 2, taken={4})
    applied = await migrate(target)
    assert applied == [m.version for m in migrations("postgres") if m.version >= 3 and m.version != 4]
    assert target.applied == [m.name for m in migrations("postgres") if m.version in applied]
    assert await migrate(_Recorder("sqlite", LATEST)) == []


async def test_two_engines_starting_at_once_record_each_version_once(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    engines = await asyncio.gather(*(asyncio.to_thread(SqliteEngine, path) for _ in range(2)))
    for engine in engines:
        await engine.close()
    with closing(sqlite3.connect(path)) as db:
        versions = [r[0] for r in db.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [m.version for m in migrations("sqlite")]


@pytest.mark.skipif(not pgdb.enabled(), reason="no PostgreSQL at 127.0.0.1:5432 (CI always has one)")
async def test_two_postgres_engines_starting_at_once_record_each_version_once() -> None:
    name = pgdb.create()
    try:
        engines = await asyncio.gather(*(open_engine(pgdb.url_of(name)) for _ in range(3)))
        for engine in engines:
            await engine.close()
        con = await asyncpg.connect(pgdb.url_of(name))
        try:
            versions = [
                r["version"] for r in await con.fetch("SELECT version FROM schema_version ORDER BY 1")
            ]
        finally:
            await con.close()
        assert versions == [m.version for m in migrations("postgres")]
        assert any(m.name.endswith(".postgres.sql") for m in migrations("postgres"))
    finally:
        pgdb.drop(name)
