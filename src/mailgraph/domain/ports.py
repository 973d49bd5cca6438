"""What the domain needs from storage: repositories inside one unit of work, and a runner for units.

The store implements these (store/engines/*, store/sql/*). A unit of work is an `async` function of a
`Tx`; the runner gives it one transaction and commits after it returns, or rolls back if it raises.
Units must not do network I/O: delivery goes through the outbox and a worker after commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from mailgraph.domain.model import (
    App,
    Folder,
    Message,
    Page,
    QueueEntry,
    QueueStatus,
    Tenant,
    Timestamp,
    User,
)

T = TypeVar("T")


class DirectoryRepo(Protocol):
    """Tenant, users and app registrations."""

    async def get_tenant(self) -> Tenant | None:
        """The hosted tenant, or None before the first start."""
        ...

    async def put_tenant(self, tenant: Tenant) -> None:
        """Insert or replace the tenant and its verified domains."""
        ...

    async def get_user(self, user_id: str) -> User | None:
        """A user by object id (exact)."""
        ...

    async def find_user(self, upn_or_mail: str) -> User | None:
        """A user by userPrincipalName or primary address, case-insensitively."""
        ...

    async def find_users_by_address(self, addresses: Sequence[str]) -> dict[str, User]:
        """Users whose primary address or UPN is one of `addresses`; keys are `casefold()`ed addresses."""
        ...

    async def list_users(self) -> list[User]:
        """All users, ordered by userPrincipalName."""
        ...

    async def put_user(self, user: User) -> None:
        """Insert or update a user by id; a UPN or mail taken by another user raises ConflictError."""
        ...

    async def delete_user(self, user_id: str) -> bool:
        """Remove a user and their mailbox; False if there was none."""
        ...

    async def get_app(self, client_id: str) -> App | None:
        """An app registration by client id (exact)."""
        ...

    async def list_apps(self) -> list[App]:
        """All app registrations, ordered by client id."""
        ...

    async def put_app(self, app: App) -> None:
        """Insert or update an app registration by client id."""
        ...

    async def delete_app(self, client_id: str) -> bool:
        """Remove an app registration; False if there was none."""
        ...


class FolderRepo(Protocol):
    """Mail folders, with item counts computed on read."""

    async def insert(self, folder: Folder) -> None:
        """Add a folder (counts are ignored)."""
        ...

    async def get(self, mailbox_id: str, folder_id: str) -> Folder | None:
        """A folder of this mailbox by id, with counts."""
        ...

    async def get_well_known(self, mailbox_id: str, name: str) -> Folder | None:
        """A folder by well-known name (lower case), with counts."""
        ...

    async def list_children(self, mailbox_id: str, parent_id: str, include_hidden: bool) -> list[Folder]:
        """The child folders of `parent_id`, ordered by display name, with counts."""
        ...

    async def well_known_ids(self, mailbox_id: str) -> dict[str, str]:
        """Map of well-known name to folder id for one mailbox."""
        ...


class MessageRepo(Protocol):
    """Message items."""

    async def insert(self, message: Message) -> None:
        """Add a message item."""
        ...

    async def update(self, message: Message) -> None:
        """Write every field of an existing item (by immutable `id`)."""
        ...

    async def delete(self, message_id: str) -> None:
        """Remove an item by immutable id."""
        ...

    async def get(self, mailbox_id: str, rest_id: str) -> Message | None:
        """An item of this mailbox by its current REST id."""
        ...

    async def get_immutable(self, mailbox_id: str, message_id: str) -> Message | None:
        """An item of this mailbox by its immutable id."""
        ...

    async def list(self, mailbox_id: str, folder_id: str | None, page: Page) -> list[Message]:
        """Items of a folder (or of the whole mailbox) in page order, at most `page.top` of them."""
        ...

    async def count(self, mailbox_id: str, folder_id: str | None, page: Page) -> int:
        """How many items match the page's filter, ignoring `top`/`skip` (for `$count`)."""
        ...


class OutboxRepo(Protocol):
    """The durable outbound queue: one snapshot per sent message, one entry per external recipient."""

    async def add(self, outbound_id: str, message: Message, entries: Sequence[QueueEntry]) -> None:
        """Store the message as sent and queue its external recipients, in the caller's transaction."""
        ...

    async def get_message(self, outbound_id: str) -> Message | None:
        """The snapshot of a queued message (Bcc included: it is the envelope)."""
        ...

    async def list_entries(
        self, status: QueueStatus | None = None, limit: int = 100, mailbox_id: str | None = None
    ) -> list[QueueEntry]:
        """Queue entries, oldest first, optionally of one status or one sender mailbox."""
        ...

    async def claim_due(self, now: Timestamp, lease_until: Timestamp, limit: int) -> list[QueueEntry]:
        """Lease entries that are due (queued/deferred past next attempt, or sending with an expired lease)."""
        ...

    async def record(
        self,
        entry_id: str,
        status: QueueStatus,
        next_attempt_at: Timestamp,
        reply_code: int | None,
        reply_text: str | None,
    ) -> None:
        """Record one attempt's outcome and release the lease."""
        ...


class Tx(Protocol):
    """The repositories of one unit of work, all in one transaction."""

    @property
    def directory(self) -> DirectoryRepo: ...

    @property
    def folders(self) -> FolderRepo: ...

    @property
    def messages(self) -> MessageRepo: ...

    @property
    def outbox(self) -> OutboxRepo: ...


class UnitOfWork(Protocol):
    """Runs units of work: one transaction each, durable once `write` returns."""

    async def write(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run `fn` in a read-write transaction; committed (and synced to disk) when this returns."""
        ...

    async def read(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run `fn` in a read-only snapshot."""
        ...

    async def close(self) -> None:
        """Finish pending work and release the database."""
        ...
