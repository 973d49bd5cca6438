"""The engine fixture of the store contract suite: every test here runs once per engine listed.

Adding an engine is one line in `ENGINES` (a name and how to get a fresh, empty database URL for a
test); e.g. `"postgres": lambda tmp: fresh_postgres_database(os.environ["MAILGRAPH_TEST_POSTGRES"])`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from mailgraph.store.contract import Engine
from mailgraph.store.engines import open_engine

ENGINES: dict[str, Callable[[Path], str]] = {
    "sqlite": lambda tmp: f"sqlite://{tmp.resolve()}/db.sqlite",
}


@pytest.fixture(params=list(ENGINES))
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL of an empty database, one per engine."""
    return ENGINES[request.param](tmp_path)


@pytest.fixture
async def engine(engine_url: str) -> AsyncIterator[Engine]:
    """A fresh, migrated store."""
    store = await open_engine(engine_url)
    yield store
    await store.close()
