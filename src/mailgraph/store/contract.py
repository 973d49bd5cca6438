"""The store's contract with its engines and with the composition root.

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
  `$search` compare `mg_fold(column)` to a parameter casefolded in Python. Each engine provides the
  SQL function `mg_fold(text) -> text` (store/sql/dialect.py says how).
"""

from __future__ import annotations

from typing import Protocol

from mailgraph.domain.ports import UnitOfWork


class UnitSuspendedError(RuntimeError):
    """A unit of work awaited something other than its `Tx` on an engine that cannot suspend."""


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
