"""Database engines, and `open_engine`: the one place that picks an engine by database URL.

URLs: `sqlite:///abs/path.db` (three slashes, then an absolute path), `sqlite:relative/path.db`;
`postgresql://user@host/db` (and `postgres://`) is reserved for the PostgreSQL engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import unquote

from mailgraph.store.contract import Engine, EngineUrlError

Durability = Literal["full", "normal"]


def sqlite_url(path: Path) -> str:
    """The URL of an SQLite database file (made absolute)."""
    return "sqlite://" + str(path.resolve()) if path.is_absolute() else "sqlite:" + str(path)


def sqlite_path(url: str) -> Path:
    """The file of an `sqlite:` URL.

    Raises:
        EngineUrlError: not an SQLite URL, a host part, or no path.
    """
    if not url.startswith("sqlite:"):
        raise EngineUrlError(f"not an SQLite URL: {url!r}")
    rest = url[len("sqlite:") :]
    if rest.startswith("//"):
        if not rest.startswith("///"):
            raise EngineUrlError(f"{url!r}: an SQLite URL has no host; use sqlite:///absolute/path.db")
        rest = rest[2:]
    path = unquote(rest.split("?", 1)[0])
    if not path or path.endswith("/"):
        raise EngineUrlError(f"{url!r}: no database file")
    return Path(path)


async def open_engine(url: str, *, durability: Durability = "full") -> Engine:
    """Open (create and migrate at need) the database at `url`.

    Args:
        url: `sqlite:///abs/path.db` or `sqlite:relative.db`; `postgresql://…` once that engine exists.
        durability: "full" syncs every commit to disk; "normal" may lose the last commits on power loss.

    Raises:
        EngineUrlError: an unknown scheme, a malformed URL, or an engine not available in this build.
    """
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        from mailgraph.store.engines.sqlite import SqliteEngine

        return SqliteEngine(sqlite_path(url), durability=durability)
    if scheme in ("postgresql", "postgres"):
        raise EngineUrlError("the PostgreSQL engine is not available yet; use sqlite:///path/to/mailgraph.db")
    raise EngineUrlError(
        f"unknown database URL {url!r}: expected sqlite:///absolute/path.db (or postgresql://… later)"
    )
