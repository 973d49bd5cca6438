"""The embedded SQLite engine: WAL, one writer thread with group commit, snapshot reads inline.

Why this shape (ARCHITECTURE.md measurements): in a create+send prototype 71 % of the time went to
SQLite commits, so the writer thread commits *batches* of units of work — each unit inside its own
SAVEPOINT, so one failing unit rolls back alone — and one fsync covers the batch. Reads run on the
event loop thread against a second connection (WAL readers never block on the writer; stdlib sqlite3
inline is 1.7–2.5× aiosqlite). WAL checkpoints run on their own thread, off the request path.

Units of work are `async` functions (the PostgreSQL engine really awaits), but on SQLite every
repository call completes synchronously, so the engine drives the coroutine to completion with
`send(None)`; a unit that tries to suspend is a bug and is rejected.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from mailgraph.domain.errors import ConflictError
from mailgraph.domain.ports import Tx
from mailgraph.files import PRIVATE_FILE
from mailgraph.store.contract import DatabaseUnusableError, Durability, Row, UnitSuspendedError
from mailgraph.store.engines.sqlite_stats import pin_statistics
from mailgraph.store.engines.urls import sqlite_url
from mailgraph.store.engines.wakeups import FifoWakeups
from mailgraph.store.full import is_full, storage_full_or
from mailgraph.store.migrate import (
    CREATE_VERSION_TABLE,
    CURRENT_VERSION,
    RECORD_VERSION,
    Migration,
    migrate,
    migrations,
    statements,
)
from mailgraph.store.sql.dialect import FOLD, HAS_MEMBER, SQLITE, fold, has_member
from mailgraph.store.sql.folder_ids import WellKnownIdCache
from mailgraph.store.tx import SqlTx

T = TypeVar("T")
__all__ = ["SqliteConn", "SqliteEngine", "UnitSuspendedError", "drive", "install_functions"]
_MAX_BATCH = 512
WAL_LIMIT = 64 * 1024 * 1024
"""Above this many bytes of WAL the writer resets it (see `SqliteEngine._bound_wal`)."""
_WAL_WAIT_MS = 250  # how long that reset waits for readers of older snapshots before trying later
_Job = tuple[Callable[[Tx], Awaitable[Any]], "asyncio.Future[Any]", bool]  # (unit, its future, durable)


def drive(awaitable: Awaitable[T]) -> T:
    """Run an awaitable that never suspends to completion, synchronously."""
    it = awaitable.__await__()
    try:
        it.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    close = getattr(it, "close", None)
    if close is not None:
        close()
    raise UnitSuspendedError("a unit of work suspended; units of work must not await I/O")


class SqliteConn:
    """`store.contract.Conn` over a stdlib sqlite3 connection; calls complete synchronously."""

    __slots__ = ("_db",)
    dialect = SQLITE

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one statement."""
        try:
            return self._db.execute(sql, params).rowcount
        except sqlite3.IntegrityError as exc:
            raise ConflictError(str(exc)) from exc

    async def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement per row."""
        try:
            self._db.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise ConflictError(str(exc)) from exc

    async def fetch_one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        """First row or None."""
        row: Row | None = self._db.execute(sql, params).fetchone()
        return row

    async def fetch_all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """All rows."""
        return self._db.execute(sql, params).fetchall()


def install_functions(db: sqlite3.Connection) -> None:
    """The SQL functions the store's SQL expects of every engine (store/sql/dialect.py)."""
    db.create_function(FOLD, 1, fold, deterministic=True)
    db.create_function(HAS_MEMBER, 2, has_member, deterministic=True)


_WAL_SWITCH_TRIES = 100  # × 0.05 s: how long a start waits for another process starting at once


def _enable_wal(db: sqlite3.Connection) -> None:
    """`PRAGMA journal_mode = WAL`, waiting for another connection that holds the lock it needs.

    SQLite may answer this pragma SQLITE_BUSY without calling the busy handler (while another process
    switches the file to WAL, recovers its WAL or migrates it), so two processes starting at once on a
    new database would otherwise fail one start under load; retried here for a few seconds.
    """
    for attempt in range(_WAL_SWITCH_TRIES):
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == _WAL_SWITCH_TRIES - 1:
                raise
            time.sleep(0.05)


def _connect(path: Path, durability: Durability) -> sqlite3.Connection:
    try:
        return _open(path, durability)
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
        raise DatabaseUnusableError(
            f"{path} is not a usable SQLite database ({exc}); nothing was changed. Restore a backup"
            " (mailgraph restore) into a new data directory, or start with another --data-dir."
        ) from exc


def _refuse_foreign(db: sqlite3.Connection) -> None:
    """Tables without mailgraph's `schema_version`: another program's database, which migrating would
    write into (issue 17: a foreign data dir is a clear start-up error, nothing changed)."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "schema_version" not in tables:
        db.close()
        raise DatabaseUnusableError(
            "the database holds tables but no mailgraph schema_version: it belongs to another"
            f" program ({', '.join(sorted(tables)[:5])}); nothing was changed"
        )


def _open(path: Path, durability: Durability) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=512)
    install_functions(db)
    # First: switching a new file to WAL takes a lock that another process starting at the same
    # moment may hold (serve --processes, two engines in tests/store/test_migrate.py).
    db.execute("PRAGMA busy_timeout = 10000")
    _refuse_foreign(db)  # before WAL: switching the journal mode rewrites the file's header
    _enable_wal(db)
    # FULL: the WAL is fsynced at every commit, so a 202 survives a power cut. NORMAL survives a
    # process crash but may lose the last commits on power loss (opt-in, see docs/operations.md).
    db.execute(f"PRAGMA synchronous = {'FULL' if durability == 'full' else 'NORMAL'}")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer thread does it
    return db


class SqliteEngine:
    """`store.contract.Engine` on an embedded SQLite database file."""

    name = "sqlite"

    def __init__(self, path: Path, *, durability: Durability = "full", wal_limit: int | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Owner-only (issue 17): created 0600 before SQLite opens it, because SQLite gives its -wal and
        # -shm files the database file's mode.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE))
        self.path = path
        self.url = sqlite_url(path)
        # Processes sharing this file wake each other through pipes beside it (engines/wakeups.py).
        self.wakeups = FifoWakeups(path.with_name(path.name + ".wake"))
        self._writer_db = _connect(path, durability)
        self._full = durability == "full"
        self._syncing = self._full  # the writer connection's current `synchronous` is FULL
        self.batches = 0
        self.units = 0
        self.checkpoints = 0
        """Write batches committed, units run in them (group commit at work: units / batches), and
        WAL checkpoints run (paced: at most ~5 a second, whatever the commit rate)."""
        # Processes sharing the file take this lock around each write batch (see `_commit`).
        self._write_lock = os.open(path.with_name(path.name + ".writer-lock"), os.O_RDWR | os.O_CREAT, 0o600)
        drive(migrate(_Migrations(self._writer_db)))
        pin_statistics(self._writer_db)  # before the reader connects: it loads them with the schema
        writer = self._writer_db  # data_version: changes when another connection (process) commits
        self._folder_ids = WellKnownIdCache(lambda: int(writer.execute("PRAGMA data_version").fetchone()[0]))
        self._reader_db = _connect(path, durability)
        self._reader = SqlTx(SqliteConn(self._reader_db))
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._checkpoint_wake = threading.Event()
        self._closing = threading.Event()  # only `close` sets it: the checkpointer's pause ends early
        self._wal = Path(f"{path}-wal")
        self._wal_limit = WAL_LIMIT if wal_limit is None else wal_limit  # bench/wal_bound.py sets WAL_LIMIT
        # One checkpoint at a time in this process: SQLite answers a second one SQLITE_BUSY at once
        # (the checkpointer's PASSIVE, paced to ~5 a second, may be running when `_bound_wal` does).
        self._checkpoint_lock = threading.Lock()
        self._wal_pause = self._wal_retry_at = 0.0  # back-off after a TRUNCATE a reader kept busy
        self.wal_resets = 0
        """How many times the writer truncated an outgrown WAL (for tests and the bench)."""
        self._writer = threading.Thread(target=self._write_loop, name="sqlite-writer", daemon=True)
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="sqlite-checkpoint", daemon=True
        )
        self._writer.start()
        self._checkpointer.start()

    async def write(self, fn: Callable[[Tx], Awaitable[T]], *, durable: bool = True) -> T:
        """Run `fn` in the next group commit; returns once the batch is durable (`durable=False`:
        once it is committed, `UnitOfWork.write` — a batch of only such units is committed without
        its fsync; the next synced commit or the checkpoint right after syncs it)."""
        if self._closed:
            raise RuntimeError("engine is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put((fn, future, durable))
        return await future

    async def read(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run `fn` on one consistent snapshot, inline on the calling thread."""
        db = self._reader_db
        db.execute("BEGIN")
        try:
            return drive(fn(self._reader))
        finally:
            db.execute("COMMIT")

    def _write_loop(self) -> None:
        tx = SqlTx(SqliteConn(self._writer_db), self._folder_ids)
        last = 1  # units in the previous batch
        while True:
            job = self._jobs.get()
            if job is None:
                return
            batch = [job]
            stop = False
            if last > 1 and self._jobs.empty():
                # Under concurrency the units of a batch come back together: its commit resumes their
                # callers in one run of the event loop, which submits their next units one by one.
                # Taking the first alone would commit it (and the notification worker's claim, which
                # its wake-up submits first) in a batch of its own. One yield of the GIL lets that run
                # finish submitting, so the burst joins one batch: fewer commits, no wait when idle
                # (docs/performance.md, "Notifications on the send path: one yield before a batch").
                time.sleep(0)
            while len(batch) < _MAX_BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            last = len(batch)
            self._commit(batch, tx)
            self._bound_wal()
            if stop:
                return

    def _commit(self, batch: list[_Job], tx: SqlTx) -> None:
        db = self._writer_db
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        # One writer at a time across processes: SQLite's own wait for the write lock (busy_timeout)
        # sleeps 1, 2, 5 … 100 ms between tries, so with `serve --processes N` a waiting writer would
        # idle long after the lock is free. flock() blocks in the kernel (GIL released) and wakes
        # the next writer the moment the batch commits. In one process it is two uncontended syscalls.
        # A batch of only non-durable units commits without its fsync (`write(durable=False)`): SQLite
        # takes `synchronous` per connection and refuses to change it inside a transaction, so it is
        # set here, between batches, and only when it changes. The WAL is one append-only file whose
        # frames chain their checksums: the next FULL commit's fsync syncs these frames too, and
        # recovery never keeps a later commit without the earlier ones.
        sync = self._full and any(durable for _, _, durable in batch)
        if sync != self._syncing:
            db.execute(f"PRAGMA synchronous = {'FULL' if sync else 'NORMAL'}")
            self._syncing = sync
        self.batches += 1
        self.units += len(batch)
        fcntl.flock(self._write_lock, fcntl.LOCK_EX)
        try:
            db.execute("BEGIN IMMEDIATE")
            self._folder_ids.begin_batch()
            for fn, future, _ in batch:
                db.execute("SAVEPOINT unit")
                try:
                    result = drive(fn(tx))
                except Exception as exc:  # the unit's own failure: undo it alone
                    if is_full(exc):  # SQLite may have rolled the whole transaction back: fail the batch
                        raise
                    db.execute("ROLLBACK TO unit")
                    db.execute("RELEASE unit")
                    outcomes.append((future, None, exc))
                else:
                    db.execute("RELEASE unit")
                    outcomes.append((future, result, None))
            db.execute("COMMIT")
        except Exception as exc:  # the batch itself failed (disk full, I/O error): nobody committed
            if db.in_transaction:
                db.execute("ROLLBACK")
            failure = storage_full_or(exc)  # disk full: a clean 507/452 to every unit of the batch
            outcomes = [(future, None, failure) for _, future, _ in batch]
        finally:
            fcntl.flock(self._write_lock, fcntl.LOCK_UN)
        self._checkpoint_wake.set()
        by_loop: dict[
            asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]
        ] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].get_loop(), []).append(outcome)
        for loop, items in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle, items)

    def _bound_wal(self) -> None:
        """Truncate the WAL when it outgrew `wal_limit`: between batches, on the writer thread.

        The checkpointer's PASSIVE checkpoints copy committed pages into the database but never move
        the WAL's write position back to its start: SQLite restarts the WAL only when a write begins
        with every frame copied and no reader on it, which back-to-back write batches never leave
        time for — the loader grew it to 8.6 GB (docs/performance.md, issue 11). So after a batch, if
        the file is over the limit, the writer itself runs a TRUNCATE checkpoint (after the PASSIVE
        one in progress, if any) while holding the cross-process write lock: no writer can append
        meanwhile (this process's next batch waits, other processes' writers wait on the flock), and
        readers never wait for it — it waits for them, for at most `_WAL_WAIT_MS`. PASSIVE has copied
        nearly everything by then, so what the next batch waits for is the rest of the copy, one
        fsync of the database and the truncation (measured in docs/performance.md). TRUNCATE rather
        than RESTART: the file shrinks back to zero, so its size stays the measure, and the disk
        space comes back. If a long reader (a backup) keeps it busy, it tries again after a pause that
        doubles each time (1 s up to 32 s), so such a reader costs the writer one wait per pause, not
        one per batch.
        """
        if self._wal_retry_at and time.monotonic() < self._wal_retry_at:
            return
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return
        if size <= self._wal_limit:
            return
        db = self._writer_db
        self._checkpoint_lock.acquire()
        fcntl.flock(self._write_lock, fcntl.LOCK_EX)
        try:
            db.execute(f"PRAGMA busy_timeout = {_WAL_WAIT_MS}")
            busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.Error:  # a full disk, an I/O error: not this batch's problem; retried later
            busy = 1
        finally:
            db.execute("PRAGMA busy_timeout = 10000")
            fcntl.flock(self._write_lock, fcntl.LOCK_UN)
            self._checkpoint_lock.release()
        if busy:
            self._wal_pause = min(self._wal_pause * 2, 32.0) if self._wal_pause else 1.0
            self._wal_retry_at = time.monotonic() + self._wal_pause
        else:
            self._wal_pause = self._wal_retry_at = 0.0
            self.wal_resets += 1

    def _checkpoint_loop(self) -> None:
        db = _connect(self.path, "full")
        try:
            while not self._closed:
                self._checkpoint_wake.wait(timeout=1.0)
                self._checkpoint_wake.clear()
                if self._closed:
                    break
                # PASSIVE never blocks the writer or readers; it copies what it can (sqlite.org/wal.html).
                try:
                    self.checkpoints += 1
                    with self._checkpoint_lock:
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.OperationalError as exc:
                    # A full disk (the database file cannot grow): try again later rather than end
                    # the checkpointer — else the WAL would grow without bound once space returns.
                    if not is_full(exc):
                        raise
                    self._checkpoint_wake.wait(timeout=1.0)
                # At most ~5 checkpoints a second. Not a wait on `_checkpoint_wake`: the commits made
                # during this checkpoint have set it again, so that wait returned at once and every
                # commit got its own checkpoint — two more fsyncs (WAL, database file) per commit.
                self._closing.wait(timeout=0.2)
        finally:
            db.close()

    async def close(self) -> None:
        """Finish queued units, checkpoint, and close the database."""
        if self._closed:
            return
        self.wakeups.close()
        self._jobs.put(None)
        await asyncio.to_thread(self._writer.join)
        self._closed = True
        self._closing.set()
        self._checkpoint_wake.set()
        await asyncio.to_thread(self._checkpointer.join)
        self._writer_db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._writer_db.close()
        self._reader_db.close()
        os.close(self._write_lock)


def _settle(items: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, exc in items:
        if future.done():
            continue
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)


class _Migrations:
    """`store.migrate.MigrationTarget` on the writer connection (before the writer thread starts)."""

    engine = "sqlite"

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    async def current_version(self) -> int:
        """The recorded version.

        Raises:
            DatabaseUnusableError: a version newer than this build knows.
        """
        self._db.execute(CREATE_VERSION_TABLE)
        version = int(self._db.execute(CURRENT_VERSION).fetchone()[0] or 0)
        newest = max((m.version for m in migrations("sqlite")), default=0)
        if version > newest:
            raise DatabaseUnusableError(
                f"the database has schema version {version}, newer than this mailgraph ({newest}); nothing was changed"
            )
        return version

    async def apply(self, migration: Migration) -> bool:
        """One migration under BEGIN IMMEDIATE (the write lock: another process waits, then skips)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if int(db.execute(CURRENT_VERSION).fetchone()[0] or 0) >= migration.version:
                db.execute("ROLLBACK")
                return False
            for statement in statements(migration.sql):
                db.execute(statement)
            db.execute(RECORD_VERSION, (migration.version,))
            db.execute("COMMIT")
            return True
        except BaseException:
            db.execute("ROLLBACK")
            raise
