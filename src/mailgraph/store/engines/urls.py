"""Database URLs of the engines: `sqlite:///abs/path.db` (three slashes, then an absolute path) or
`sqlite:relative/path.db`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from mailgraph.store.contract import EngineUrlError


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
