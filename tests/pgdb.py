"""Throw-away PostgreSQL databases for the test suites.

PostgreSQL runs when `MAILGRAPH_TEST_PG` names a server URL (e.g. `postgresql://postgres@127.0.0.1:5432`)
or one answers at 127.0.0.1:5432. In CI (`CI=true`) an unreachable server is an error, never a skip;
locally the PostgreSQL half is skipped then.

Each test gets `CREATE DATABASE mg_test_<random> TEMPLATE <a migrated template>` (tens of ms on
PostgreSQL, against ~1 s to migrate), dropped after the test; templates are dropped at session end.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
SERVER = os.environ.get("MAILGRAPH_TEST_PG") or "postgresql://postgres@127.0.0.1:5432"


def _reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def enabled() -> bool:
    """Whether the PostgreSQL variants run (raises in CI when the server is missing)."""
    if os.environ.get("MAILGRAPH_TEST_PG") or _reachable():
        return True
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError("CI needs PostgreSQL at 127.0.0.1:5432 (.ci/run starts it)")
    return False


def run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even under a running event loop."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(fn())  # type: ignore[arg-type]
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def url_of(name: str) -> str:
    """The URL of database `name` on the test server."""
    return SERVER.rstrip("/") + "/" + name


async def _admin(*sql: str) -> None:
    import asyncpg

    con = await asyncpg.connect(url_of("postgres"))
    try:
        for statement in sql:
            await con.execute(statement)
    finally:
        await con.close()


def create(template: str | None = None, prefix: str = "mg_test") -> str:
    """A new empty database (or a copy of `template`); returns its name."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    clause = f" TEMPLATE {template}" if template else ""
    run(lambda: _admin(f"CREATE DATABASE {name}{clause}"))
    return name


def drop(name: str) -> None:
    """Drop a database, disconnecting whoever still uses it."""
    run(lambda: _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
