"""THE change-event point: every change to a mailbox is recorded here, in its unit of work, with its why.

Domain code that writes a message or folder row says why right after the write:
`tx.changes.message("moved", item, from_folder_id=old)`. The recorder belongs to one unit: the
`ObservedUnitOfWork` gives each unit a fresh one, and publishes what it recorded to the `AfterCommit`
hub only after that unit has committed (a unit that raised, or whose batch failed, publishes nothing).
The per-mailbox change log and webhooks hang on this point: at the end of every observed unit that
recorded changes, `ObservedUnitOfWork` runs its before-commit steps on that unit's recorder, in the
unit's transaction: `NotificationHook` (domain/webhooks.py, added by wiring) writes the notification
outbox, then, last, `log_changes` appends the changes to `tx.change_log` (domain/change_log.py, what
delta reads; last because, where the engine numbers inside the unit, it takes the mailbox clock's row
lock, held until commit; PostgreSQL only appends them there and numbers them after commit). The log, the outbox and the change commit or roll back together; subscribers of `AfterCommit`
are told after the commit.

Why a wrapper and not state on the engine's `Tx`: the SQLite engine reuses one `Tx` for every unit of
its writer thread, so per-unit state on it would leak between units; wrapping the unit is engine-agnostic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

from mailgraph.domain.model import Folder, Message

if TYPE_CHECKING:
    from mailgraph.domain.ports import Tx, UnitOfWork

T = TypeVar("T")
ChangeKind = Literal["created", "updated", "moved", "deleted"]
ChangeEntity = Literal["message", "folder"]
log = logging.getLogger("mailgraph.changes")


class Change(NamedTuple):
    """One change to one item or folder of a mailbox (a tuple: 5x cheaper to build than a frozen
    dataclass, and one is built per row write on the writer thread)."""

    kind: ChangeKind
    entity: ChangeEntity
    mailbox_id: str
    item_id: str
    """A message's immutable id, or a folder's id."""
    rest_id: str
    """A message's REST id after the change (the one it had, when deleted); a folder's id."""
    folder_id: str
    """The folder a message is in after the change (left, when deleted); a folder's parent ("" for a root)."""
    from_folder_id: str | None = None
    """`moved`: the folder the message left."""
    from_rest_id: str | None = None
    """`moved`: the REST id the message had in the folder it left (a move gives a new one, spec §3.5):
    delta reports it removed there, a subscription on that folder as deleted."""


class Commit(NamedTuple):
    """What one committed unit of work changed: published to `AfterCommit` subscribers."""

    changes: tuple[Change, ...]
    queued: int = 0
    """Outbound queue entries the unit added (the delivery worker's wake-up)."""
    notified: int = 0
    """Change notifications the unit put in the notification outbox (the webhook worker's wake-up)."""
    forwards: int = 0
    """Rule forwards-as-attachment the unit left pending (domain/rule_forwards.py; the forwarder's wake-up)."""


class ChangeRecorder:
    """The changes of one unit of work (`tx.changes`)."""

    __slots__ = ("changes", "forwards", "notified", "queued")

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.queued = 0
        self.notified = 0
        self.forwards = 0

    def record(self, change: Change) -> None:
        """Record one change (the change log will write its row here, in the unit's transaction)."""
        self.changes.append(change)

    def message(
        self,
        kind: ChangeKind,
        message: Message,
        from_folder_id: str | None = None,
        from_rest_id: str | None = None,
    ) -> None:
        """A message item was created, updated, moved (from `from_folder_id`, where its REST id was
        `from_rest_id`) or deleted."""
        self.record(
            Change(
                kind,
                "message",
                message.mailbox_id,
                message.id,
                message.rest_id,
                message.folder_id,
                from_folder_id,
                from_rest_id,
            )
        )

    def folder(self, kind: ChangeKind, folder: Folder) -> None:
        """A folder was created, updated, moved or deleted."""
        self.record(Change(kind, "folder", folder.mailbox_id, folder.id, folder.id, folder.parent_id or ""))

    def outbound(self, entries: int) -> None:
        """The unit queued `entries` outbound recipients (subscribers wake the delivery worker)."""
        self.queued += entries

    def forward_pending(self) -> None:
        """The unit left one forward-as-attachment for after the commit (subscribers wake the forwarder)."""
        self.forwards += 1

    def commit(self) -> Commit:
        """The record as published after commit."""
        return Commit(tuple(self.changes), self.queued, self.notified, self.forwards)


class UnobservedChanges(ChangeRecorder):
    """The `changes` of a `Tx` used without `ObservedUnitOfWork` (reads, store tests): records nothing."""

    __slots__ = ()

    def record(self, change: Change) -> None:
        """Drop the change: nobody observes this unit."""

    def outbound(self, entries: int) -> None:
        """Drop the count: nobody observes this unit."""

    def forward_pending(self) -> None:
        """Drop the count: nobody observes this unit."""


UNOBSERVED = UnobservedChanges()

Subscriber = Callable[[Commit], None]
BeforeCommit = Callable[["Tx", ChangeRecorder], Awaitable[None]]
"""A before-commit step, run at the end of every write unit that recorded changes, inside its transaction
(the change log and the notification outbox are written here, so they commit or roll back with the
change)."""


class AfterCommit:
    """The after-commit signal: subscribers are called with each committed unit's `Commit`.

    Subscribers run on the event loop of the unit's caller, right after its `write` returned, and must
    be quick (set an event, queue a task); one that raises is logged and does not stop the others.
    """

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._waiters: list[asyncio.Future[Commit]] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` after every commit; returns the function that unsubscribes it."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    async def next(self) -> Commit:
        """Wait for the next commit that changed something."""
        waiter: asyncio.Future[Commit] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return await waiter

    def publish(self, commit: Commit) -> None:
        """Tell every subscriber and waiter about a committed unit (skipped when it changed nothing)."""
        if not commit.changes and not commit.queued:
            return
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(commit)
            except Exception:  # one subscriber's bug must not cost the others their signal
                log.exception("after-commit subscriber failed")
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(commit)


class _ObservedTx:
    """The engine's `Tx` with this unit's own recorder as `changes`."""

    __slots__ = ("_tx", "attachments", "changes", "delegation", "directory", "folders", "messages", "outbox")

    def __init__(self, tx: Tx, changes: ChangeRecorder) -> None:
        self._tx = tx
        self.changes = changes
        # Copied once per unit: attribute reads on the hot path stay plain slot reads.
        self.directory = tx.directory
        self.folders = tx.folders
        self.messages = tx.messages
        self.outbox = tx.outbox
        self.attachments = tx.attachments
        self.delegation = tx.delegation

    def __getattr__(self, name: str) -> Any:
        # Repositories added to `Tx` later reach the engine's Tx without a change here.
        return getattr(self._tx, name)


async def log_changes(tx: Tx, recorder: ChangeRecorder) -> None:
    """The last before-commit step of every observed unit: append what it recorded to the mailbox
    change logs (domain/change_log.py), in the unit's transaction."""
    await tx.change_log.append(recorder.changes)


async def _with_hooks(
    fn: Callable[[Tx], Awaitable[T]], tx: Tx, recorder: ChangeRecorder, hooks: list[BeforeCommit]
) -> T:
    """Run the unit, then the before-commit steps on what it recorded (same transaction)."""
    result = await fn(tx)
    if recorder.changes:
        for hook in hooks:
            await hook(tx, recorder)
    return result


class ObservedUnitOfWork:
    """A `UnitOfWork` whose write units record their changes, published after their commit."""

    def __init__(self, inner: UnitOfWork, signals: AfterCommit) -> None:
        self._inner = inner
        self.signals = signals
        self.before_commit: list[BeforeCommit] = [log_changes]
        """Steps run in order inside each unit that recorded changes, after its own work, all on the same
        recorder: what wiring adds with `add_step` (webhooks' notification outbox), then the change log
        (delta) LAST: numbering in the unit takes each changed mailbox's clock row lock
        (store/sql/change_log.py), held until commit, so the later it is taken the shorter every unit
        of that mailbox waits. (PostgreSQL no longer numbers in the unit: its lock, held until the
        commit was flushed, serialized the units of a mailbox; issue 11, migration 0039.)"""

    def add_step(self, step: BeforeCommit) -> None:
        """Run `step` in every unit that recorded changes, after the steps added before it and before
        the change log (which stays last)."""
        self.before_commit.insert(len(self.before_commit) - 1, step)

    async def write(self, fn: Callable[[Tx], Awaitable[T]], *, durable: bool = True) -> T:
        """Run `fn` with a fresh recorder; publish its changes once the commit is durable (`durable`:
        see `UnitOfWork.write`)."""
        recorder: ChangeRecorder | None = None
        hooks = self.before_commit

        def unit(tx: Tx) -> Awaitable[T]:
            # A plain function returning a coroutine: one frame (`_with_hooks`) around fn's per unit, none
            # when there are no steps (the writer thread drives every unit; bench/cycle_cost.py).
            nonlocal recorder
            recorder = ChangeRecorder()  # per attempt: an engine that retries a unit starts it afresh
            observed: Tx = _ObservedTx(tx, recorder)
            if hooks:
                return _with_hooks(fn, observed, recorder, hooks)
            return fn(observed)

        # Raises (nothing published) if the unit rolled back.
        result = await self._inner.write(unit, durable=durable)
        if recorder is not None:
            self.signals.publish(recorder.commit())
        return result

    async def read(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Reads change nothing: straight to the engine."""
        return await self._inner.read(fn)

    async def close(self) -> None:
        """Close the engine."""
        await self._inner.close()
