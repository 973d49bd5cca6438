"""Database engines, and `open_engine`: the one place that picks an engine by database URL.

URLs: `sqlite:///abs/path.db` (three slashes, then an absolute path), `sqlite:relative/path.db`;
`postgresql://user@host/db` (and `postgres://`) for the PostgreSQL engine (asyncpg).

`open_blobs` picks where attachment bytes live (`--blobs`, issue 11): in the database when the engine
can hold them (PostgreSQL: hosts then share nothing but the database), else the data directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from mailgraph.domain.ports import BlobStorage
from mailgraph.store.blobs import BlobStore
from mailgraph.store.contract import Durability, Engine, EngineUrlError
from mailgraph.store.engines.urls import sqlite_path, sqlite_url

__all__ = ["BlobsChoice", "import_blob_files", "open_blobs", "open_engine", "sqlite_path", "sqlite_url"]

BlobsChoice = Literal["auto", "db", "dir"]


async def open_engine(url: str, *, durability: Durability = "full") -> Engine:
    """Open (create and migrate at need) the database at `url`.

    Args:
        url: `sqlite:///abs/path.db` or `sqlite:relative.db`; `postgresql://user@host:5432/db`.
        durability: "full" syncs every commit to disk; "normal" may lose the last commits on power loss.

    Raises:
        EngineUrlError: an unknown scheme, a malformed URL, or an engine not available in this build.
    """
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        from mailgraph.store.engines.sqlite import SqliteEngine

        return SqliteEngine(sqlite_path(url), durability=durability)
    if scheme in ("postgresql", "postgres"):
        from mailgraph.store.engines.postgres import open_postgres

        return await open_postgres(url, durability=durability)
    raise EngineUrlError(
        f"unknown database URL {url!r}: expected sqlite:///absolute/path.db or postgresql://user@host/db"
    )


def open_blobs(engine: Engine, data_dir: Path, choice: BlobsChoice = "auto") -> BlobStorage:
    """The blob store for `engine`: `db` (PostgreSQL: chunked rows, store/engines/pg_blobs.py), `dir`
    (files under `data_dir`, store/blobs.py), or `auto`: the database when the engine can hold blobs.

    Raises:
        EngineUrlError: `db` on an engine that cannot hold blobs (SQLite).
    """
    in_database = getattr(engine, "blob_store", None)
    if choice == "db" and in_database is None:
        raise EngineUrlError(
            f"--blobs db needs PostgreSQL; the {engine.name} engine keeps blobs in the data dir"
        )
    if choice == "dir" or in_database is None:
        return BlobStore(data_dir)
    legacy = data_dir / "blobs"  # files of a PostgreSQL deployment from before migration 0034
    store: BlobStorage = in_database(
        BlobStore(data_dir) if legacy.is_dir() and any(legacy.iterdir()) else None
    )
    return store


async def import_blob_files(engine: Engine, data_dir: Path) -> tuple[int, int]:
    """Copy the blob files of `data_dir` into the database (`mailgraph db import-blobs`): (imported,
    already there).

    Raises:
        EngineUrlError: the engine cannot hold blobs (SQLite).
    """
    in_database = getattr(engine, "blob_store", None)
    if in_database is None:
        raise EngineUrlError(f"the {engine.name} engine keeps blobs in the data dir: nothing to import")
    imported: tuple[int, int] = await in_database().import_directory(BlobStore(data_dir))
    return imported
