"""`mailgraph db upgrade`: migrates the database named by --database (or the data dir's SQLite file)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from mailgraph.cli import main
from mailgraph.store.migrate import LATEST
from tests import pgdb


def test_db_upgrade_migrates_the_data_dir_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade", "--data-dir", str(tmp_path / "d")]) == 0
    with closing(sqlite3.connect(tmp_path / "d" / "mailgraph.db")) as db:
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == LATEST
    assert f"schema at version {LATEST} (sqlite)" in capsys.readouterr().out


@pytest.mark.skipif(not pgdb.enabled(), reason="no PostgreSQL at 127.0.0.1:5432 (CI always has one)")
def test_db_upgrade_migrates_a_postgres_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = pgdb.create()
    try:
        assert main(["db", "upgrade", "--data-dir", str(tmp_path), "--database", pgdb.url_of(name)]) == 0
        assert f"schema at version {LATEST} (postgres)" in capsys.readouterr().out
        assert main(["db", "upgrade", "--data-dir", str(tmp_path), "--database", pgdb.url_of(name)]) == 0
    finally:
        pgdb.drop(name)
