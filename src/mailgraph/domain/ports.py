"""What the domain needs from storage: repositories inside one unit of work, and a runner for units.

The store implements these (store/engines/*, store/sql/*). A unit of work is an `async` function of a
`Tx`; the runner gives it one transaction and commits after it returns, or rolls back if it raises.
Units must not do network I/O: delivery goes through the outbox and a worker after commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from mailgraph.domain.delegation import AccessPolicy, MailboxPermission

if TYPE_CHECKING:
    from mailgraph.domain.lockout import SignInFailures
from mailgraph.domain.model import (
    App,
    Attachment,
    Folder,
    Message,
    Page,
    QueueEntry,
    QueueStatus,
    Tenant,
    Timestamp,
    UploadSession,
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

    async def find_conversations(
        self, mailbox_ids: Sequence[str], internet_message_ids: Sequence[str]
    ) -> dict[str, str]:
        """Threading of received mail: per mailbox holding an item with one of these Message-IDs, the
        conversationId of the most recently received such item (mailboxes without one are absent)."""
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
        self,
        status: QueueStatus | None = None,
        limit: int = 100,
        mailbox_id: str | None = None,
        outbound_id: str | None = None,
    ) -> list[QueueEntry]:
        """Queue entries, oldest first, optionally of one status, one sender mailbox, or one message
        (`outbound_id` matches the queue's message id or the message's internetMessageId)."""
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
        lease: Timestamp | None = None,
    ) -> bool:
        """Record one attempt's outcome and release the lease.

        With `lease` (the `lease_until` the claim set), nothing changes unless the entry is still
        `sending` under that lease: a worker whose lease ran out and was re-claimed must not overwrite
        the newer attempt. Returns whether the entry changed.
        """
        ...

    async def retry(
        self, now: Timestamp, expires_at: Timestamp, statuses: Sequence[QueueStatus], entry_ids: Sequence[str]
    ) -> int:
        """Make entries of `statuses` (only `entry_ids` when non-empty) due at `now` with a new expiry."""
        ...

    async def purge(self, statuses: Sequence[QueueStatus]) -> int:
        """Delete entries of `statuses` and the snapshots left without entries; returns entries deleted."""
        ...


class AttachmentRepo(Protocol):
    """Attachment rows of items, and the reference counts of the blobs they point at."""

    async def insert(self, attachment: Attachment) -> None:
        """Add an attachment; its blob (if any) gains one reference (the row is created at need)."""
        ...

    async def get(self, item_id: str, attachment_id: str) -> Attachment | None:
        """One attachment of an item."""
        ...

    async def for_item(self, item_id: str) -> list[Attachment]:
        """The attachments of an item, in the order they were added."""
        ...

    async def counts(self, item_id: str) -> tuple[int, int]:
        """(all attachments, non-inline attachments) of an item."""
        ...

    async def delete(self, item_id: str, attachment_id: str, now: Timestamp) -> bool:
        """Remove one attachment and drop its blob reference; False if there was none."""
        ...

    async def release_item(self, item_id: str, now: Timestamp) -> int:
        """Remove every attachment of an item, dropping their blob references; returns how many."""
        ...

    async def put_session(self, session: UploadSession) -> None:
        """Insert or replace an upload session."""
        ...

    async def get_session(self, session_id: str) -> UploadSession | None:
        """An upload session by id."""
        ...

    async def delete_session(self, session_id: str) -> bool:
        """Remove an upload session; False if there was none."""
        ...

    async def open_sessions(self, item_id: str, now: Timestamp) -> int:
        """How many unexpired upload sessions target this item."""
        ...

    async def expired_sessions(self, now: Timestamp, limit: int) -> list[str]:
        """Ids of upload sessions that expired before `now`."""
        ...

    async def collect(self, before: Timestamp, reconcile: bool) -> list[str]:
        """Forget blobs unreferenced since before `before`; returns their hashes (their files may go).

        With `reconcile`, first drop attachment rows whose item no longer exists and recount every blob
        (repairs counts after deletions that bypassed the domain, e.g. a deleted user).
        """
        ...

    async def known_blobs(self, hashes: Sequence[str]) -> set[str]:
        """Which of `hashes` have a blob row."""
        ...


class BlobStorage(Protocol):
    """Content-addressed bytes on disk (sha256 hex names). Used outside units of work only."""

    async def put(self, data: bytes) -> str:
        """Store bytes durably (temp file, fsync, rename); returns their hash. Idempotent by hash."""
        ...

    def path(self, blob_hash: str) -> Path:
        """Where a stored blob's bytes are."""
        ...

    async def write_part(self, name: str, offset: int, data: bytes) -> int:
        """Write `data` at `offset` of the partial upload `name` (truncating after); returns the new size."""
        ...

    async def adopt_part(self, name: str) -> tuple[str, int]:
        """Move a finished partial upload into the store, hashing it in bounded memory: (hash, size)."""
        ...

    async def drop_part(self, name: str) -> None:
        """Remove a partial upload (no error if absent)."""
        ...

    async def remove(self, hashes: Sequence[str], older_than_s: float) -> int:
        """Delete the files of these blobs unless written in the last `older_than_s` seconds."""
        ...

    async def stray(self, older_than_s: float) -> list[str]:
        """Hashes of blob files older than `older_than_s` seconds (for orphan collection)."""
        ...


class DelegationRepo(Protocol):
    """Mailbox permissions, application access policies and app certificates (issue 3)."""

    async def rights(self, mailbox_id: str, delegate_id: str) -> frozenset[str]:
        """The rights (FullAccess, SendAs, SendOnBehalf) `delegate_id` holds on `mailbox_id`."""
        ...

    async def list_permissions(self) -> list[MailboxPermission]:
        """Every grant, ordered by mailbox, delegate and right."""
        ...

    async def replace_permissions(self, permissions: Sequence[MailboxPermission]) -> None:
        """Replace all grants."""
        ...

    async def access_policy(self, client_id: str) -> AccessPolicy | None:
        """The app's access policy; None when it reaches every mailbox."""
        ...

    async def replace_access_policy(self, client_id: str, policy: AccessPolicy | None) -> None:
        """Set or (None) remove the app's access policy."""
        ...

    async def certificates(self, client_id: str) -> list[str]:
        """PEM certificates registered on the app."""
        ...

    async def replace_certificates(self, client_id: str, certificates: Sequence[tuple[str, str]]) -> None:
        """Replace the app's certificates with `(thumbprint, pem)` pairs."""
        ...


class LockoutRepo(Protocol):
    """Failed sign-ins per user or client (smart lockout, domain/lockout.py; issue 17)."""

    async def get(self, subject: str) -> SignInFailures | None:
        """The subject's failures, or None."""
        ...

    async def put(self, state: SignInFailures, now: Timestamp) -> None:
        """Insert or replace the subject's failures."""
        ...

    async def clear(self, subject: str) -> None:
        """Forget the subject's failures."""
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

    @property
    def attachments(self) -> AttachmentRepo: ...

    @property
    def delegation(self) -> DelegationRepo: ...

    @property
    def lockouts(self) -> LockoutRepo: ...


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
