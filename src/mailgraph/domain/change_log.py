"""The per-mailbox change log: what delta queries read (issue 12, migration 0015).

Every change recorded at THE change-event point (domain/changes.py) becomes one log entry, numbered
by the mailbox's clock. `ObservedUnitOfWork` appends them at the end of the unit, in its transaction;
the engine numbers them there (SQLite) or leaves them pending and numbers them after the commit in a
short sequencer unit (PostgreSQL, migration 0039: `sequence`, run in the background by
domain/change_sequencer.py and by delta reads before they read). Numbers of one mailbox increase by
one per change and become visible in commit order on every engine (the clock is a row the numbering
unit updates, so its lock serialises them); a reader that sees number `n` in a snapshot sees every
change up to `n`. Changes committed but not numbered yet in that snapshot (`pending`) get numbers
above `n`. Delta rounds therefore read only the entries between two numbers: O(changes), not
O(mailbox).

Retention: entries are pruned `LOG_RETENTION_S` after they were written, which is the delta token
lifetime plus a margin, so every unexpired token finds all the entries it needs
(docs/change-tracking.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mailgraph.domain.changes import Change, ChangeEntity, ChangeKind
    from mailgraph.domain.model import Folder, Message, Timestamp

TOKEN_LIFETIME_S = 7 * 24 * 3600
"""How long a delta or skip token stays valid after it was issued (Graph: Outlook's limit is not fixed;
directory objects have 7 days)."""
LOG_RETENTION_S = TOKEN_LIFETIME_S + 3600
"""How long log entries are kept: the token lifetime plus an hour, so clock skew between the unit that
wrote an entry and the request that issued a token can never prune an entry a valid token needs."""
PRUNE_EVERY = 256
"""A mailbox's log is pruned when its clock passes a multiple of this (amortised O(1) per change)."""


@dataclass(frozen=True, slots=True)
class MailboxClock:
    """A mailbox's change clock as one snapshot sees it."""

    n: int
    """The number of the latest committed change (0: none yet)."""
    pruned_through: int
    """Entries numbered up to here may be gone: a token older than this needs a full resync."""
    secret: str
    """The key that signs this mailbox's delta tokens."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One logged change (the fields of `domain.changes.Change` plus its number)."""

    seq: int
    entity: ChangeEntity
    kind: ChangeKind
    item_id: str
    rest_id: str
    folder_id: str
    from_folder_id: str | None
    from_rest_id: str | None

    @property
    def folder_before(self) -> str | None:
        """The folder the item was in just before this change (None: it did not exist)."""
        if self.kind == "created":
            return None
        return self.from_folder_id if self.kind == "moved" else self.folder_id

    @property
    def rest_id_before(self) -> str | None:
        """The REST id the item had just before this change (None: it did not exist)."""
        if self.kind == "created":
            return None
        return self.from_rest_id if self.kind == "moved" else self.rest_id


class ChangeLogRepo(Protocol):
    """The change log and mailbox clocks of one transaction, and the snapshot reads delta needs."""

    async def append(self, changes: Sequence[Change]) -> None:
        """Number `changes` with their mailboxes' clocks and log them (called by `ObservedUnitOfWork`)."""
        ...

    async def sequence(self, mailbox_id: str | None = None, limit: int = 5000) -> int:
        """Number committed changes left pending by `append` (engines that number after commit; a
        no-op elsewhere): all of `mailbox_id`'s, or the oldest `limit` of every mailbox. A write; returns
        how many were taken."""
        ...

    async def pending(self, mailbox_id: str) -> list[LogEntry]:
        """The mailbox's committed changes not yet numbered in this snapshot, in change order (their
        `seq` is 0): they will get numbers above the clock this snapshot sees."""
        ...

    async def clock(self, mailbox_id: str) -> MailboxClock | None:
        """The mailbox's clock, or None if it has none yet (see `ensure_clock`)."""
        ...

    async def ensure_clock(self, mailbox_id: str) -> None:
        """Create the mailbox's clock at 0 unless it exists (a write)."""
        ...

    async def entries(
        self, mailbox_id: str, after: int, upto: int, folder_id: str | None = None
    ) -> list[LogEntry]:
        """Entries numbered `after < seq <= upto`, in order; with `folder_id`, only message entries
        that touched that folder (in it after the change, or moved out of it)."""
        ...

    async def folder_items(
        self,
        mailbox_id: str,
        folder_id: str,
        before: tuple[Timestamp, str] | None,
        since: Timestamp | None,
        limit: int,
    ) -> list[Message]:
        """Up to `limit` items of a folder in `receivedDateTime desc, id desc` order, strictly after the
        key `before` (received_at, id) when given, received at or after `since` when given."""
        ...

    async def mailbox_folders(self, mailbox_id: str) -> list[Folder]:
        """Every folder of a mailbox, with counts (folders are few; delta of the hierarchy reads them all)."""
        ...
