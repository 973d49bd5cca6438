"""Database engines, and `open_engine`: the one place that picks an engine by database URL.

URLs: `sqlite:///abs/path.db` (three slashes, then an absolute path), `sqlite:relative/path.db`;
`postgresql://user@host/db` (and `postgres://`) for the PostgreSQL engine (asyncpg).
"""

from __future__ import annotations

from mailgraph.store.contract import Durability, Engine, EngineUrlError
from mailgraph.store.engines.urls import sqlite_path, sqlite_url

__all__ = ["open_engine", "sqlite_path", "sqlite_url"]


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
