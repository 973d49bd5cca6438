"""The engine fixture of the store contract suite: every test here runs once per engine listed.

SQLite always; PostgreSQL when a server is reachable (tests/pgdb.py: required in CI). PostgreSQL tests
share one migrated database per session, emptied before each test (`pgdb.reset`), dropped at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mailgraph.store.contract import Engine
from mailgraph.store.engines import open_engine
from tests import pgdb

ENGINES = ["sqlite", *(["postgres"] if pgdb.enabled() else [])]


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A migrated, empty PostgreSQL database for this session."""
    name = pgdb.create(prefix="mg_tmpl")

    async def migrate() -> None:
        store = await open_engine(pgdb.url_of(name))
        await store.close()

    pgdb.run(migrate)
    pgdb.snapshot(name)
    yield name
    pgdb.drop(name)


@pytest.fixture(params=ENGINES)
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL of an empty database, one per engine."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path.resolve()}/db.sqlite"
        return
    name = request.getfixturevalue("pg_database")
    pgdb.reset(name)
    yield pgdb.url_of(name)


@pytest.fixture
async def engine(engine_url: str) -> AsyncIterator[Engine]:
    """A fresh, migrated store."""
    store = await open_engine(engine_url)
    yield store
    await store.close()
