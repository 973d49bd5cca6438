"""`open_engine`: the database URL picks the engine; unknown engines fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailgraph.config import Settings
from mailgraph.store.contract import Engine, EngineUrlError
from mailgraph.store.engines import open_engine, sqlite_path, sqlite_url
from mailgraph.store.migrate import LATEST
from mailgraph.wiring import open_engine as open_settings_engine
from tests import pgdb


async def test_sqlite_url_opens_a_migrated_engine(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/x/db.sqlite"
    engine: Engine = await open_engine(url)
    try:
        assert (engine.name, engine.url) == ("sqlite", url)
        assert await engine.read(lambda tx: tx.directory.list_tenants()) == []
    finally:
        await engine.close()
    assert (tmp_path / "x" / "db.sqlite").exists() and LATEST >= 5


def test_sqlite_url_forms() -> None:
    assert sqlite_path("sqlite:///abs/path.db") == Path("/abs/path.db")
    assert sqlite_path("sqlite:rel/path.db") == Path("rel/path.db")
    assert sqlite_path("sqlite:///a%20b.db") == Path("/a b.db")
    assert sqlite_url(Path("/abs/path.db")) == "sqlite:///abs/path.db"
    for bad in ("sqlite://host/db", "sqlite:", "sqlite:///"):
        with pytest.raises(EngineUrlError):
            sqlite_path(bad)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://localhost/mail", "unknown database URL"),
        ("/just/a/path.db", "unknown database URL"),
    ],
)
async def test_other_urls_fail_clearly(url: str, says: str) -> None:
    with pytest.raises(EngineUrlError, match=says):
        await open_engine(url)


async def test_settings_default_to_the_data_dir_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.database_url == f"sqlite://{(tmp_path / 'data' / 'mailgraph.db').resolve()}"
    elsewhere = Settings(data_dir=tmp_path / "data", database=f"sqlite://{tmp_path}/other.db")
    engine = await open_settings_engine(elsewhere)
    try:
        assert engine.url == f"sqlite://{tmp_path}/other.db"
    finally:
        await engine.close()
    assert (tmp_path / "other.db").exists() and (tmp_path / "data").is_dir()


@pytest.mark.skipif(not pgdb.enabled(), reason="no PostgreSQL at 127.0.0.1:5432 (CI always has one)")
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_postgres_urls_open_the_postgres_engine_with_the_password_hidden(scheme: str) -> None:
    name = pgdb.create()
    try:
        server = pgdb.url_of(name).split("://", 1)[1].split("@", 1)[1]
        engine = await open_engine(f"{scheme}://postgres:secret@{server}")
        try:
            assert (engine.name, engine.url) == ("postgres", f"{scheme}://postgres@{server}")
            assert await engine.read(lambda tx: tx.directory.list_tenants()) == []
        finally:
            await engine.close()
    finally:
        pgdb.drop(name)
