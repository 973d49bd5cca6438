"""The store's contracts: `Conn` (what SQL in store/sql/ runs on) and `Engine` (what wiring holds).

SQL in `store/sql/` is written once against `Conn`, with `?` placeholders; an engine adapts
placeholders, types and errors of its driver (integrity violations become `ConflictError`).
This module imports nothing of the store, so store/sql/*, store/tx.py and the engines all depend on
it and never on each other's assembly (the old store/base.py tied them into one import cycle).

`Engine` is what `wiring`, the CLI and the workers hold: a `domain.ports.UnitOfWork` plus the little
the composition root needs (its URL and engine name). `open_engine` (store/engines/__init__.py) picks
the implementation from a database URL; nothing else names a concrete engine.

What the domain may rely on, on every engine (pinned by tests/store/test_engine_semantics.py):

- **A unit is atomic and isolated from its batch-mates.** Engines may commit several units together
  (SQLite: one SAVEPOINT per unit in one transaction; PostgreSQL: pipelined units, one commit per
  batch). A unit that raises is rolled back alone; the others of the batch commit. A failure of the
  batch itself (disk full, connection lost) fails every unit of it: nobody committed.
- **Units may suspend only on their `Tx`.** A unit awaits repository calls and nothing else. On
  PostgreSQL those calls really await the network; on SQLite they complete at once and the engine
  drives the coroutine synchronously, so a unit that awaits anything else (a sleep, a future, a
  socket) is refused with `UnitSuspendedError` and rolled back. Either way a suspending unit never
  leaves a half-committed batch, and the engine stays usable. The domain must not rely on being able
  to await anything but its `Tx` inside a unit.
- **Case folding is Unicode `str.casefold()`.** Lookups by UPN/address compare casefolded keys
  computed in Python; `$filter` string comparisons, `startswith`/`contains`, `$orderby` on text and
  `$search` compare `mg_fold(column)` with `mg_fold(?)`: the same SQL function on both sides, so
  equal strings match whatever an engine's fold does. Each engine provides `mg_fold(text) -> text`
  equal to Python's `str.casefold` (store/sql/dialect.py says how).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mailgraph.domain.ports import UnitOfWork

Row = Sequence[Any]
Durability = Literal["full", "normal"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one engine spells what the portable SQL cannot."""

    name: str
    claim_lock: str
    """Appended to the inner SELECT of a queue claim: lock the chosen rows, skip rows another
    transaction holds. Empty on SQLite, whose single writer (BEGIN IMMEDIATE) already serialises
    claims; ` FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent workers take disjoint rows."""
    text_order: str
    """Appended to a text sort key so text sorts by code point: empty on SQLite (BINARY is code
    point order), ` COLLATE "C"` on PostgreSQL (the database default may be a linguistic order)."""
    numbers_after_commit: bool = False
    """Change numbers are assigned after commit by a sequencer (migration 0039, store/sql/change_log.py):
    PostgreSQL, where numbering inside the unit held the mailbox clock's row lock until the commit was
    flushed. False on SQLite: its single writer numbers inside the unit at no extra cost."""


class Conn(Protocol):
    """One database connection inside a transaction."""

    @property
    def dialect(self) -> Dialect:
        """How this engine spells what portable SQL cannot (store/sql/dialect.py)."""
        ...

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    async def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement once per parameter row."""
        ...

    async def fetch_one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        """The first row of a query, or None."""
        ...

    async def fetch_all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """All rows of a query."""
        ...


class UnitSuspendedError(RuntimeError):
    """A unit of work awaited something other than its `Tx` on an engine that cannot suspend."""


class DatabaseUnusableError(RuntimeError):
    """The database is not one mailgraph can use (damaged, another program's, or a newer schema); the
    engine refuses to start and changes nothing (issue 17: a corrupt or foreign data dir)."""


class EngineUrlError(ValueError):
    """A database URL names no engine this build has, or is malformed."""


class Engine(UnitOfWork, Protocol):
    """A database the store runs on: runs units of work (`write`, `read`, `close`) and names itself."""

    @property
    def name(self) -> str:
        """The engine's name: "sqlite" or "postgres" (chooses per-engine migrations and SQL)."""
        ...

    @property
    def url(self) -> str:
        """The database URL it was opened with, password removed (for banners and logs)."""
        ...


class Wakeups(Protocol):
    """Signals between the processes that share one database (hook of issue 11).

    An `AfterCommit` subscriber reaches only its own process; a commit in process A that queued
    outbound mail must wake the delivery worker of process B. An engine that can reach its other
    processes has a `wakeups` attribute of this type (SQLite: named pipes beside the database file,
    store/engines/wakeups.py; PostgreSQL: `LISTEN`/`NOTIFY` on its connection). `wakeups_of(engine)`
    gives a no-op for an engine without one. Wake-ups are hints: a lost one only delays work until
    the listener's next poll, so an engine may drop them under pressure.
    """

    def listen(self, channel: str, callback: Callable[[], None]) -> None:
        """Call `callback` on the running event loop when another process notifies `channel`."""
        ...

    def notify(self, channel: str) -> int:
        """Wake the other processes listening on `channel` (not this one); how many were reached."""
        ...

    async def ready(self) -> None:
        """Return once every `listen` so far is in effect (a server announces itself ready only then:
        a notification sent before would be missed until the next poll)."""
        ...

    def close(self) -> None:
        """Stop listening (the engine calls it when it closes)."""
        ...


class NoWakeups:
    """The `Wakeups` of an engine that cannot reach other processes: nothing is ever delivered."""

    def listen(self, channel: str, callback: Callable[[], None]) -> None:
        """Never calls back."""

    def notify(self, channel: str) -> int:
        """Reaches nobody."""
        return 0

    async def ready(self) -> None:
        """Nothing to wait for."""

    def close(self) -> None:
        """Nothing to release."""


def wakeups_of(engine: object) -> Wakeups:
    """The engine's cross-process `Wakeups`, or a no-op when it has none."""
    found = getattr(engine, "wakeups", None)
    return found if found is not None else NoWakeups()
