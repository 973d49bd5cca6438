"""The writer's cache of well-known folder ids: mailbox id → {well-known name: folder id}.

Every draft, send and delivery needs one well-known folder id of a mailbox (drafts, sentitems,
inbox), which cost one SELECT each, three per create+send cycle on the single writer connection
(docs/performance.md). The mapping is nearly immutable: `provision` creates the folders once with
the user, a well-known folder is never deleted, and a folder id does not change on move (spec
§3.3). It changes only when a user is deleted and re-created with the same id (a tenant file may
fix user ids) or when missing well-known folders are provisioned later. The cache follows those:

* in this process, `SqlFolders.insert` of a well-known folder and `SqlDirectory.delete_user`
  call `forget`, and a mailbox forgotten in the current batch is not cached again until the batch
  has ended: the batch (or a unit of it) may still roll back, so what it read is not yet committed;
* another process (the CLI on the same database file) is noticed through SQLite's
  `PRAGMA data_version`, which changes when any other connection has committed. It is read once
  per write batch, lazily on the first lookup, inside `BEGIN IMMEDIATE`: the write lock keeps
  other writers out until the batch commits, so the check holds for the whole batch.

Only the writer uses the cache; the reader's snapshots read the table.
"""

from __future__ import annotations

from collections.abc import Callable


class WellKnownIdCache:
    """Committed well-known folder ids per mailbox, valid while nobody else has written."""

    __slots__ = ("_checked", "_data_version", "_dirty", "_ids", "_version")

    def __init__(self, data_version: Callable[[], int]) -> None:
        self._data_version = data_version
        self._version: int | None = None
        self._checked = False
        self._ids: dict[str, dict[str, str]] = {}
        self._dirty: set[str] = set()

    def begin_batch(self) -> None:
        """A new write transaction has begun (its write lock is held)."""
        self._checked = False
        self._dirty.clear()

    def get(self, mailbox_id: str) -> dict[str, str] | None:
        """The cached ids (do not mutate), or None to read them from the table."""
        if not self._checked:
            version = self._data_version()
            if version != self._version:  # another connection committed: anything may have changed
                self._ids.clear()
                self._version = version
            self._checked = True
        return self._ids.get(mailbox_id)

    def put(self, mailbox_id: str, ids: dict[str, str]) -> None:
        """Remember ids just read, unless this batch changed the mailbox's well-known folders."""
        if ids and mailbox_id not in self._dirty:
            self._ids[mailbox_id] = ids

    def forget(self, mailbox_id: str) -> None:
        """The mailbox's well-known folders are being created or deleted in this batch."""
        self._ids.pop(mailbox_id, None)
        self._dirty.add(mailbox_id)
