"""The engine fixture of the store contract suite: every test here runs once per engine listed.

SQLite always; PostgreSQL when a server is reachable (tests/pgdb.py: required in CI). A PostgreSQL
test gets its own database, copied from a migrated template made once per session, dropped after.
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
def pg_template() -> Iterator[str]:
    """A migrated, empty PostgreSQL database to copy."""
    name = pgdb.create(prefix="mg_tmpl")

    async def migrate() -> None:
        store = await open_engine(pgdb.url_of(name))
        await store.close()

    pgdb.run(migrate)
    yield name
    pgdb.drop(name)


@pytest.fixture(params=ENGINES)
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL of an empty database, one per engine."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path.resolve()}/db.sqlite"
        return
    name = pgdb.create(request.getfixturevalue("pg_template"))
    yield pgdb.url_of(name)
    pgdb.drop(name)


@pytest.fixture
async def engine(engine_url: str) -> AsyncIterator[Engine]:
    """A fresh, migrated store."""
    store = await open_engine(engine_url)
    yield store
    await store.close()
