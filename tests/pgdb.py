"""Throw-away PostgreSQL databases for the test suites.

PostgreSQL runs when `MAILGRAPH_TEST_PG` names a server URL (e.g. `postgresql://postgres@127.0.0.1:5432`)
or one answers at 127.0.0.1:5432. In CI (`CI=true`) an unreachable server is an error, never a skip;
locally the PostgreSQL half is skipped then.

One database per test *run* (per session), dropped at its end. Between tests it is put back to a
snapshot (`snapshot` copies every table into schema `mg_snapshot`; `reset` deletes all rows and copies
them back, FK triggers off): ~10–30 ms, where `CREATE DATABASE … TEMPLATE` + `DROP DATABASE` per test
measured 0.9–1.9 s on this 2-core machine (both write and fsync whole database directories).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
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


_loop: asyncio.AbstractEventLoop | None = None
_admins: dict[str, Any] = {}


def run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code (even under a running event loop), on one
    background loop that keeps the admin connections open between calls."""
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
        threading.Thread(target=_loop.run_forever, name="pgdb", daemon=True).start()
        atexit.register(_close_admins)
    return asyncio.run_coroutine_threadsafe(_call(fn), _loop).result()


def _close_admins() -> None:
    """Close the admin connections before the interpreter tears down: left to the garbage collector
    at exit, asyncpg's `Connection.__del__` printed "Exception ignored … 'NoneType' … 'warn'"."""

    async def go() -> None:
        for con in _admins.values():
            if not con.is_closed():
                await con.close()
        _admins.clear()

    with contextlib.suppress(Exception):  # the server is gone already: nothing left to close cleanly
        run(go)


async def _call(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()


def url_of(name: str) -> str:
    """The URL of database `name` on the test server."""
    return SERVER.rstrip("/") + "/" + name


async def _con(database: str) -> Any:
    import asyncpg

    con = _admins.get(database)
    if con is None or con.is_closed():
        con = _admins[database] = await asyncpg.connect(url_of(database))
    return con


async def _admin(*sql: str) -> None:
    con = await _con("postgres")
    for statement in sql:
        await con.execute(statement)


def create(template: str | None = None, prefix: str = "mg_test") -> str:
    """A new empty database (or a copy of `template`); returns its name."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    clause = f" TEMPLATE {template}" if template else ""
    run(lambda: _admin(f"CREATE DATABASE {name}{clause}"))
    return name


def drop(name: str) -> None:
    """Drop a database, disconnecting whoever still uses it."""

    async def go() -> None:
        con = _admins.pop(name, None)
        if con is not None:
            await con.close()
        await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    run(go)


def terminate(name: str) -> int:
    """Terminate every connection to database `name` (a PostgreSQL restart as its clients see it)."""

    async def go() -> int:
        con = await _con("postgres")
        rows = await con.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        return len(rows)

    return run(go)


_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_version'"


def has_snapshot(name: str) -> bool:
    """Whether database `name` holds a `snapshot` already."""

    async def go() -> bool:
        con = await _con(name)
        return bool(await con.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = 'mg_snapshot'"))

    return run(go)


def snapshot(name: str) -> None:
    """Remember the rows of every table of database `name` (for `reset`)."""

    async def go() -> None:
        con = await _con(name)
        tables = [r["tablename"] for r in await con.fetch(_TABLES)]
        await con.execute(
            "DROP SCHEMA IF EXISTS mg_snapshot CASCADE; CREATE SCHEMA mg_snapshot; "
            + " ".join(f"CREATE TABLE mg_snapshot.{t} AS TABLE public.{t};" for t in tables)
        )

    run(go)


def reset(name: str) -> None:
    """Put database `name` back to its `snapshot` (tables created since then are emptied too)."""

    async def go() -> None:
        con = await _con(name)
        tables = [r["tablename"] for r in await con.fetch(_TABLES)]
        kept = {
            r["tablename"]
            for r in await con.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'mg_snapshot'")
        }
        script = ["SET session_replication_role = replica"]  # no FK triggers while copying back
        script += [f"DELETE FROM public.{t}" for t in tables]
        script += [f"INSERT INTO public.{t} SELECT * FROM mg_snapshot.{t}" for t in tables if t in kept]
        script += ["SET session_replication_role = DEFAULT"]
        await con.execute("BEGIN; " + "; ".join(script) + "; COMMIT")

    run(go)
