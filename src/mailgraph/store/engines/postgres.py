"""The PostgreSQL engine (asyncpg): a connection pool, one transaction per unit of work.

Units of work really await here: every repository call is a round trip on the unit's connection.
What the engine owns:

- **Placeholders.** store/sql/ writes `?`; PostgreSQL wants `$1…$n`. `translate` rewrites a statement
  once (outside string literals) and caches the result per SQL text, so the steady state costs a dict
  lookup. asyncpg then prepares and caches the statement per connection.
- **Errors.** Integrity violations (SQLSTATE class 23) become `ConflictError`, as on SQLite. A
  serialization failure or a deadlock (40001, 40P01) aborts the whole transaction: the unit is run
  again from the start, at most `_RETRIES` times, on a fresh transaction.
- **Commits.** One transaction per unit (READ COMMITTED), so a failing unit rolls back alone and never
  touches another. Group commit happens in the server: concurrent units commit on concurrent pool
  connections, and PostgreSQL's WAL flush covers every commit record written before it, so N units
  committing together share one fsync (`synchronous_commit=on`, the durable default; `durability=
  "normal"` sets it off: a crash may then lose the last ~200 ms of commits, never corrupt).
  docs/scaling.md has the measurements and why pipelining several units into one transaction was
  not taken.
- **NUL characters.** PostgreSQL text cannot hold U+0000 (SQLite can). A value with one can therefore
  never equal a stored value: a query with such a parameter finds nothing (fetch → None / []), and a
  write of one is refused as `BadRequestError` instead of failing the server.
- **Reads** run in a read-only REPEATABLE READ transaction: one snapshot for all statements of a read.
- **Migrations** run under a transaction-level advisory lock, so several processes may start at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from mailgraph.domain.errors import BadRequestError, ConflictError, StorageFullError, StoreUnavailableError
from mailgraph.domain.ports import Tx
from mailgraph.store.blobs import BlobStore
from mailgraph.store.contract import Durability, Row
from mailgraph.store.engines.pg_blobs import PgBlobStore
from mailgraph.store.engines.pg_wakeups import PgWakeups
from mailgraph.store.full import is_full
from mailgraph.store.migrate import (
    CREATE_VERSION_TABLE,
    CURRENT_VERSION,
    RECORD_VERSION,
    Migration,
    migrate,
    statements,
)
from mailgraph.store.sql.dialect import POSTGRES, postgres_ddl
from mailgraph.store.tx import SqlTx

T = TypeVar("T")
__all__ = ["PgConn", "PostgresEngine", "open_postgres", "translate"]

_RETRIES: Final = 8
_MIGRATION_LOCK: Final = 0x6D61696C  # "mail": the advisory lock key of schema migrations
_TRANSIENT: Final = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)
_cache: dict[str, str] = {}
_PIECES: Final = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?")


def translate(sql: str) -> str:
    """`?` placeholders → `$1…$n`, skipping quoted literals and identifiers; cached per SQL text."""
    done = _cache.get(sql)
    if done is not None:
        return done
    counter = 0

    def number(match: re.Match[str]) -> str:
        nonlocal counter
        if match.group(0) != "?":
            return match.group(0)
        counter += 1
        return f"${counter}"

    done = _PIECES.sub(number, sql)
    if len(_cache) < 4096:  # bounded: $filter/IN-list texts vary; the common ones fit many times over
        _cache[sql] = done
    return done


def _has_nul(params: Sequence[object]) -> bool:
    return any(type(p) is str and "\x00" in p for p in params)


def _rowcount(status: str) -> int:
    """Rows changed, from a command tag such as `UPDATE 3` or `INSERT 0 1`."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class PgConn:
    """`store.contract.Conn` over one asyncpg connection inside a transaction."""

    __slots__ = ("_con",)
    dialect = POSTGRES

    def __init__(self, con: asyncpg.Connection) -> None:
        self._con = con

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one statement."""
        if _has_nul(params):  # checked first: the server's error would abort the whole unit
            raise BadRequestError("text values cannot contain NUL characters")
        try:
            return _rowcount(await self._con.execute(translate(sql), *params))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise ConflictError(str(exc)) from exc
        except asyncpg.CharacterNotInRepertoireError as exc:
            raise BadRequestError("text values cannot contain NUL characters") from exc

    async def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement per row (pipelined by asyncpg)."""
        if not rows:
            return
        try:
            await self._con.executemany(translate(sql), rows)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise ConflictError(str(exc)) from exc
        except asyncpg.CharacterNotInRepertoireError as exc:
            raise BadRequestError("text values cannot contain NUL characters") from exc

    async def fetch_one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        """First row or None."""
        if _has_nul(params):
            return None  # nothing stored can match it (checked first: an error would abort the unit)
        row: Row | None = await self._con.fetchrow(translate(sql), *params)
        return row

    async def fetch_all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """All rows."""
        if _has_nul(params):
            return []
        rows: list[Row] = await self._con.fetch(translate(sql), *params)
        return rows


def redact(url: str) -> str:
    """The URL without its password (for banners and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


# A connection that died under a unit (server restart, pg_terminate_backend, network): the unit is
# rolled back or its commit's fate is unknown — the caller hears "unavailable, try again" (503/451),
# never a 500; the pool replaces the broken connection on the next acquire.
_CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,  # ConnectionDoesNotExistError: "connection was closed in the middle of operation"
    asyncpg.AdminShutdownError,  # 57P01: terminated by an administrator / server shutting down
    asyncpg.CannotConnectNowError,  # 57P03: the server is starting up
    OSError,  # refused or reset while (re)connecting
)


@contextlib.asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    try:
        yield
    except _CONNECTION_LOST as exc:
        raise StoreUnavailableError() from exc
    except asyncpg.PostgresError as exc:
        if is_full(exc):  # SQLSTATE 53100 disk_full: a clean 507/452, the unit was rolled back
            raise StorageFullError() from exc
        raise
    except asyncpg.InterfaceError as exc:
        # "cannot call Transaction.__aexit__(): the underlying connection is closed": the same loss, seen
        # by the rollback; any other InterfaceError is a bug of ours and stays one.
        if "connection is closed" not in str(exc):
            raise
        raise StoreUnavailableError() from exc


class PostgresEngine:
    """`store.contract.Engine` on a PostgreSQL database (asyncpg pool)."""

    name = "postgres"

    def __init__(self, url: str, pool: asyncpg.Pool, dsn: str = "") -> None:
        self.url = redact(url)
        self._pool = pool
        self._closed = False
        # Processes (and hosts) sharing this database wake each other with LISTEN/NOTIFY.
        self.wakeups = PgWakeups(dsn or url, pool)

    async def write(self, fn: Callable[[Tx], Awaitable[T]], *, durable: bool = True) -> T:
        """Run `fn` in its own transaction; returns once it is committed (durable by default; with
        `durable=False` the transaction's `synchronous_commit` is off: `UnitOfWork.write`)."""
        if self._closed:
            raise RuntimeError("engine is closed")
        attempt = 0
        while True:
            try:
                async with _reachable(), self._pool.acquire() as con, con.transaction():
                    if not durable:  # this transaction only; its commit record is still ordered in the WAL
                        await con.execute("SET LOCAL synchronous_commit TO OFF")
                    return await fn(SqlTx(PgConn(con)))
            except _TRANSIENT:
                # The server aborted the whole transaction; nothing of it is visible. Run it again,
                # after a short randomised pause so two colliding units do not collide again.
                attempt += 1
                if attempt > _RETRIES:
                    raise
                await asyncio.sleep(random.uniform(0, 0.002 * attempt))

    async def read(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run `fn` on one consistent snapshot (read-only REPEATABLE READ)."""
        if self._closed:
            raise RuntimeError("engine is closed")
        for attempt in range(2):  # a read is safe to run again on a fresh connection
            try:
                async with (
                    _reachable(),
                    self._pool.acquire() as con,
                    con.transaction(isolation="repeatable_read", readonly=True),
                ):
                    return await fn(SqlTx(PgConn(con)))
            except StoreUnavailableError:
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def blob_store(self, legacy: BlobStore | None = None) -> PgBlobStore:
        """Attachment blobs in this database (migration 0034), on this engine's pool; `legacy`: a blob
        directory of before 0034, read where the database lacks a blob (store/engines/pg_blobs.py)."""
        return PgBlobStore(self._pool, legacy)

    async def close(self) -> None:
        """Wait for running units, then close every connection."""
        if self._closed:
            return
        self._closed = True
        self.wakeups.close()
        await self.wakeups.aclose()
        await self._pool.close()


async def open_postgres(url: str, *, durability: Durability = "full", max_size: int = 16) -> PostgresEngine:
    """Connect, migrate at need, and return the engine.

    Args:
        url: `postgresql://user[:password]@host[:port]/database` (libpq-style query options allowed).
        durability: "full" keeps `synchronous_commit=on`; "normal" sets it off for this engine's sessions.
        max_size: the pool size: how many units run (and commit) concurrently.
    """
    settings = {"synchronous_commit": "on" if durability == "full" else "off"}
    dsn = "postgresql" + url[url.index(":") :]  # asyncpg accepts both schemes; normalise anyway
    # Connections are the slow part of opening (a backend fork each): start with one, migrate on it.
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, server_settings=settings)
    try:
        async with pool.acquire() as con:
            await migrate(_Migrations(con))
    except BaseException:
        await pool.close()
        raise
    return PostgresEngine(url, pool, dsn)


class _Migrations:
    """`store.migrate.MigrationTarget` on one connection; each migration under an advisory lock."""

    engine = "postgres"

    def __init__(self, con: asyncpg.Connection) -> None:
        self._con = con

    async def current_version(self) -> int:
        """The recorded version."""
        async with self._con.transaction():
            await self._con.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await self._con.execute(postgres_ddl(CREATE_VERSION_TABLE))
            return int(await self._con.fetchval(CURRENT_VERSION) or 0)

    async def apply(self, migration: Migration) -> bool:
        """One migration in one transaction; another process holding the lock makes us wait, then skip."""
        async with self._con.transaction():
            await self._con.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            if int(await self._con.fetchval(CURRENT_VERSION) or 0) >= migration.version:
                return False
            for statement in statements(migration.sql):
                await self._con.execute(postgres_ddl(statement))
            await self._con.execute(translate(RECORD_VERSION), migration.version)
            return True
