"""What the domain needs from storage: repositories inside one unit of work, and a runner for units.

The store implements these (store/engines/*, store/sql/*). A unit of work is an `async` function of a
`Tx`; the runner gives it one transaction and commits after it returns, or rolls back if it raises.
Units must not do network I/O: delivery goes through the outbox and a worker after commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

from mailgraph.domain.change_log import ChangeLogRepo
from mailgraph.domain.changes import ChangeRecorder
from mailgraph.domain.delegation import AccessPolicy, MailboxPermission
from mailgraph.domain.faults import FaultRule
from mailgraph.domain.grants import AuthCode, DeviceCode, Grant
from mailgraph.domain.inspection import WorkbenchRepo

if TYPE_CHECKING:
    from mailgraph.domain.lockout import SignInFailures
    from mailgraph.domain.throttling import Limits
from mailgraph.domain.extended import MessagePropertyRepo
from mailgraph.domain.model import (
    App,
    Attachment,
    Folder,
    Message,
    Page,
    QueueEntry,
    QueueStatus,
    StoredKey,
    Tenant,
    Timestamp,
    UploadSession,
    User,
)
from mailgraph.domain.outlook import CategoryRepo, OverrideRepo
from mailgraph.domain.rule_forwards import PendingForward
from mailgraph.domain.rule_model import RuleRepo
from mailgraph.domain.send_quota import HeldSend, QuotaState
from mailgraph.domain.settings_model import SettingsRepo
from mailgraph.domain.subscriptions import Notification, Subscription, Watch

T = TypeVar("T")


class DirectoryRepo(Protocol):
    """Tenants, users and app registrations. Every user lookup names the tenant it may answer from."""

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        """A hosted tenant by id (exact, lower-case GUID)."""
        ...

    async def list_tenants(self) -> list[Tenant]:
        """All hosted tenants, ordered by id."""
        ...

    async def tenant_for_domain(self, domain: str) -> Tenant | None:
        """The tenant that has verified `domain` (case-insensitive), or None for a foreign domain."""
        ...

    async def put_tenant(self, tenant: Tenant) -> None:
        """Insert or replace this tenant and its verified domains; others are untouched.

        Raises ConflictError when one of its domains is verified by another tenant.
        """
        ...

    async def get_user(self, user_id: str) -> User | None:
        """A user by object id (exact); callers check `tenant_id` against the caller's tenant."""
        ...

    async def find_user(self, tenant_id: str, upn_or_mail: str) -> User | None:
        """A user of this tenant by userPrincipalName or primary address, case-insensitively."""
        ...

    async def find_users_by_address(self, tenant_id: str, addresses: Sequence[str]) -> dict[str, User]:
        """Users of this tenant whose address or UPN is in `addresses`; keys are `casefold()`ed."""
        ...

    async def list_users(self, tenant_id: str | None = None) -> list[User]:
        """The users of one tenant (or of all, for the admin CLI), ordered by userPrincipalName."""
        ...

    async def put_user(self, user: User) -> None:
        """Insert or update a user by id; a UPN or mail taken by another user raises ConflictError."""
        ...

    async def delete_user(self, user_id: str) -> bool:
        """Remove a user and their mailbox; False if there was none."""
        ...

    async def get_app(self, client_id: str) -> App | None:
        """An app registration by client id (exact); callers check its `tenant_id`."""
        ...

    async def list_apps(self, tenant_id: str | None = None) -> list[App]:
        """The app registrations of one tenant (or of all), ordered by client id."""
        ...

    async def put_app(self, app: App) -> None:
        """Insert or update an app registration by client id."""
        ...

    async def delete_app(self, client_id: str) -> bool:
        """Remove an app registration; False if there was none."""
        ...


class KeyRepo(Protocol):
    """Token signing keys per tenant (auth/keyring.py), so every process on one database signs alike."""

    async def list_keys(self) -> list[StoredKey]:
        """Every stored key of every tenant (a handful each)."""
        ...

    async def add_key(self, key: StoredKey) -> None:
        """Store a new key; its kid must be new."""
        ...

    async def retire_current(self, tenant_id: str, retire_at: Timestamp) -> None:
        """Schedule the tenant's current key (retire_at NULL) to retire at `retire_at`."""
        ...

    async def delete_retired(self, now: Timestamp) -> int:
        """Forget keys whose retire time has passed; how many."""
        ...


class FolderRepo(Protocol):
    """Mail folders, with item counts (counters the message writes keep; never a COUNT on read)."""

    async def insert(self, folder: Folder) -> None:
        """Add a folder (counts are ignored)."""
        ...

    async def update(self, folder: Folder) -> None:
        """Write a folder's display name, parent and hidden flag."""
        ...

    async def delete(self, folder_id: str) -> None:
        """Remove a folder that holds no items and no child folders."""
        ...

    async def fold_counts(self, limit: int) -> int:
        """Fold up to `limit` pending item-count deltas into their folders (domain/folder_counts.py);
        returns how many were folded. Counts read the same before and after."""
        ...

    async def lock(self, folder_id: str) -> None:
        """Lock a folder's row until commit, so name checks among its children run one at a time."""
        ...

    async def list_all(self, mailbox_id: str) -> list[Folder]:
        """Every folder of the mailbox (hidden included), with counts, in no particular order."""
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

    async def change_keys(self, mailbox_id: str, message_ids: Sequence[str]) -> dict[str, str]:
        """The changeKey of each of these items (by immutable id) that exists in this mailbox: what a
        notification's `@odata.etag` needs, without reading the items."""
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
    """Content-addressed bytes (sha256 hex names), read as bytes or streams, never as local paths: files
    in the data directory (store/blobs.py) or rows in PostgreSQL (store/engines/pg_blobs.py), chosen by
    `--blobs`. Used outside units of work only: a blob is written before the unit that references it.

    Partial uploads are stored as parts: each accepted chunk is its own part (named by `write_part`),
    so two processes writing chunks of one upload never write into the same place; the store records
    which parts were accepted (`UploadPartRepo`) and `adopt_parts` joins those.
    """

    async def put(self, data: bytes) -> str:
        """Store bytes durably and whole or not at all (a file: temp, fsync, rename; rows: one
        transaction); returns their hash. Idempotent by hash; storing existing bytes refreshes them."""
        ...

    async def read(self, blob_hash: str) -> bytes:
        """A stored blob's bytes, whole (for small blobs: callers stream large ones)."""
        ...

    def stream(self, blob_hash: str, piece: int) -> AsyncIterator[bytes]:
        """A stored blob's bytes in pieces of exactly `piece` bytes (the last one shorter)."""
        ...

    async def write_part(self, upload: str, start: int, data: bytes) -> str:
        """Store one chunk of upload `upload` (starting at byte `start`) durably; returns its part name,
        unique per call (a chunk written twice gives two parts: only the one recorded counts)."""
        ...

    async def adopt_parts(self, upload: str, parts: Sequence[str]) -> tuple[str, int]:
        """Join `parts` of an upload, in order, into a stored blob, hashing in bounded memory: (hash, size).
        The parts stay until `drop_parts`."""
        ...

    async def drop_parts(self, upload: str) -> None:
        """Remove every part of an upload, recorded or not (no error if there is none)."""
        ...

    async def remove(self, hashes: Sequence[str], older_than_s: float) -> int:
        """Delete these blobs unless written (or refreshed) in the last `older_than_s` seconds."""
        ...

    async def stray(self, older_than_s: float) -> list[str]:
        """Hashes of blobs older than `older_than_s` seconds that may have no reference (a superset is
        fine: the collector asks the store which are known); for orphan collection."""
        ...


class DelegationRepo(Protocol):
    """Mailbox permissions, application access policies and app certificates (issue 3)."""

    async def rights(self, mailbox_id: str, delegate_id: str) -> frozenset[str]:
        """The rights (FullAccess, SendAs, SendOnBehalf) `delegate_id` holds on `mailbox_id`."""
        ...

    async def list_permissions(self) -> list[MailboxPermission]:
        """Every grant, ordered by mailbox, delegate and right."""
        ...

    async def replace_permissions(self, tenant_id: str, permissions: Sequence[MailboxPermission]) -> None:
        """Replace all grants on the mailboxes of this tenant."""
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
    def keys(self) -> KeyRepo: ...

    @property
    def flows(self) -> FlowRepo: ...

    @property
    def upload_parts(self) -> UploadPartRepo: ...

    @property
    def lockouts(self) -> LockoutRepo: ...

    @property
    def faults(self) -> FaultRepo: ...

    @property
    def workbench(self) -> WorkbenchRepo:
        """Tenant-wide reads and deletes of the test workbench (domain/inspection.py)."""
        ...

    @property
    def changes(self) -> ChangeRecorder:
        """THE change-event point (domain/changes.py): say why after every message or folder write."""
        ...

    @property
    def change_log(self) -> ChangeLogRepo:
        """The per-mailbox change log and clocks (domain/change_log.py); written by `ObservedUnitOfWork`."""
        ...

    @property
    def subscriptions(self) -> SubscriptionRepo:
        """Change-notification subscriptions and the notification outbox (migration 0016)."""
        ...

    @property
    def send_quota(self) -> SendQuotaRepo:
        """Per-mailbox send counters and the sends held over the message rate (migration 0020)."""
        ...

    @property
    def message_rules(self) -> RuleRepo:
        """Inbox rules (migration 0022, domain/message_rules.py)."""
        ...

    @property
    def rule_forwards(self) -> RuleForwardRepo:
        """The rules' pending forwards-as-attachment (migration 0032, domain/rule_forwards.py)."""
        ...

    @property
    def mailbox_settings(self) -> SettingsRepo:
        """Mailbox settings and the automatic-reply log (migration 0022, domain/mailbox_settings.py)."""
        ...

    @property
    def categories(self) -> CategoryRepo:
        """The master category lists (migration 0023, domain/categories.py)."""
        ...

    @property
    def properties(self) -> MessagePropertyRepo:
        """Extended properties and open extensions of messages (migration 0024, domain/extended.py)."""
        ...

    @property
    def overrides(self) -> OverrideRepo:
        """Focused Inbox overrides (migration 0023, domain/inference.py)."""
        ...


class UnitOfWork(Protocol):
    """Runs units of work: one transaction each, durable once `write` returns."""

    async def write(self, fn: Callable[[Tx], Awaitable[T]], *, durable: bool = True) -> T:
        """Run `fn` in a read-write transaction; committed (and synced to disk) when this returns.

        `durable=False` (only for units whose loss in a power cut is harmless: an ephemeral tenant's
        create and delete, domain/workbench.py): committed, so safe against a process crash and
        ordered like every other commit, but answered before its own sync to disk; the next durable
        commit, or the store's own sync shortly after (SQLite's WAL checkpoint, PostgreSQL's WAL
        writer, both well under a second), makes it durable. A power cut before then loses it and
        nothing committed after it. Under `durability="normal"` every unit is like that already."""
        ...

    async def read(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run `fn` in a read-only snapshot."""
        ...

    async def close(self) -> None:
        """Finish pending work and release the database."""
        ...


class FlowRepo(Protocol):
    """Short-lived, single-use credentials of the interactive grants (migration 0006): authorization
    codes, device codes, and the `jti`s of client assertions already used. Codes are keyed by the sha256
    of the code (a stolen database does not yield redeemable codes). Times are seconds since the epoch."""

    async def put_code(self, code_hash: str, code: AuthCode) -> None:
        """Record an issued authorization code."""
        ...

    async def take_code(self, code_hash: str) -> AuthCode | None:
        """Remove and return a code; None if unknown or already taken. Of two transactions taking the
        same code at once, exactly one gets it (the delete decides, not the read)."""
        ...

    async def put_device(self, device_hash: str, device: DeviceCode) -> bool:
        """Record a device request; False (nothing written) if its `user_code` is taken."""
        ...

    async def device(self, device_hash: str) -> DeviceCode | None:
        """A device request by its device code's hash (expired ones included)."""
        ...

    async def device_by_user_code(self, user_code: str) -> DeviceCode | None:
        """A device request by the code the user types (normalised: upper case, no dashes)."""
        ...

    async def decide_device(self, user_code: str, grant: Grant | None) -> bool:
        """Approve (`grant`) or decline (None) a pending request; False if it is no longer pending."""
        ...

    async def take_device(self, device_hash: str) -> bool:
        """Remove a device request; False if another transaction removed it first."""
        ...

    async def use_jti(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        """Record a client assertion's `jti` until `expires_at`; False if it was recorded before (a replay).
        Entries expired before `now` are forgotten."""
        ...

    async def purge(self, before: float) -> int:
        """Forget codes and device requests that expired before `before`; returns how many."""
        ...


class UploadPartRepo(Protocol):
    """Which parts of an upload session were accepted, and the session's offset moved with them."""

    async def advance(
        self, session_id: str, start: int, received: int, expires_at: Timestamp, part: str
    ) -> bool:
        """Accept part `part` (bytes `start`…`received`-1) if the session still expects byte `start`: the
        session's `received` moves to `received` and its expiry to `expires_at`. False (nothing changed)
        if the session is gone or expects another offset: of two chunks for one offset, one wins."""
        ...

    async def parts(self, session_id: str) -> list[str]:
        """The accepted parts of a session, in byte order."""
        ...

    async def finish(self, session_id: str, start: int) -> bool:
        """Remove the session and its part records if it still expects byte `start` (its last chunk);
        False otherwise."""
        ...

    async def forget(self, session_id: str) -> None:
        """Remove the part records of a session (cancelled or expired)."""
        ...


class SubscriptionRepo(Protocol):
    """Subscriptions (domain/subscriptions.py) and the durable notification outbox of delivery/webhooks.py."""

    async def insert(self, sub: Subscription) -> None:
        """Store a new subscription."""
        ...

    async def get(self, sub_id: str) -> Subscription | None:
        """A subscription by id (expired ones included until removed)."""
        ...

    async def list_subscriptions(
        self, tenant_id: str | None, app_id: str | None = None
    ) -> list[Subscription]:
        """Subscriptions of a tenant (of one app when given), or of every tenant; ordered by creation."""
        ...

    async def versions(self, mailbox_ids: Sequence[str]) -> dict[str, int]:
        """The version of each mailbox's subscription set, bumped in the transaction of every insert,
        renew and delete of one of its subscriptions (absent: the mailbox never had one). One short
        indexed read: it runs in every unit that changed messages."""
        ...

    async def live_watches(self, mailbox_id: str, now: Timestamp) -> list[Watch]:
        """The match data of the unexpired subscriptions of one mailbox, in a stable order."""
        ...

    async def of_mailbox(self, mailbox_id: str, now: Timestamp) -> list[Subscription]:
        """The unexpired subscriptions of one mailbox."""
        ...

    async def get_many(self, sub_ids: Sequence[str]) -> dict[str, Subscription]:
        """The subscriptions with these ids that are still there, by id."""
        ...

    async def count_live(self, mailbox_id: str, now: Timestamp) -> int:
        """Unexpired subscriptions on one mailbox (the 1,000 limit)."""
        ...

    async def renew(self, sub_id: str, expires_at: Timestamp, token_expires_at: Timestamp) -> bool:
        """Set a new expiration and token expiry (PATCH, reauthorize); False if it is gone."""
        ...

    async def set_reauth(self, sub_id: str, reauth_at: Timestamp) -> None:
        """When the next `reauthorizationRequired` is due."""
        ...

    async def delete(self, sub_id: str) -> bool:
        """Remove a subscription and its pending notifications; False if there was none."""
        ...

    async def expired(self, now: Timestamp, limit: int) -> list[Subscription]:
        """Subscriptions whose expiration has passed (to remove)."""
        ...

    async def reauth_due(self, now: Timestamp, limit: int) -> list[Subscription]:
        """Live subscriptions whose `reauth_at` has come."""
        ...

    async def enqueue(
        self, notifications: Sequence[Notification], lease_until: Timestamp | None = None
    ) -> None:
        """Add notifications to the outbox (already leased until `lease_until` when given)."""
        ...

    async def claim(self, now: Timestamp, lease_until: Timestamp, limit: int) -> list[Notification]:
        """Lease due pending notifications (a lease that ran out is due again), oldest first."""
        ...

    async def delivered(self, ids: Sequence[str], lease: Timestamp) -> int:
        """Remove delivered notifications still under `lease`; returns how many."""
        ...

    async def retry(self, ids: Sequence[str], lease: Timestamp, next_at: Timestamp, error: str) -> int:
        """Count an attempt and make them due at `next_at` (under `lease`)."""
        ...

    async def give_up(self, ids: Sequence[str], lease: Timestamp, error: str) -> int:
        """Mark them failed (kept for /admin until purged), under `lease`."""
        ...

    async def counts(self) -> dict[str, int]:
        """Outbox rows by status (`pending`, `failed`)."""
        ...

    async def purge_failed(self) -> int:
        """Delete failed notifications."""


class FaultRepo(Protocol):
    """Fault-injection rules and their occurrence counts (migration 0017, domain/faults.py)."""

    async def list(self) -> list[FaultRule]:
        """Every rule, oldest first, with its counts."""
        ...

    async def put(self, rule: FaultRule) -> None:
        """Insert a rule, or replace the one with its id (counts as given)."""
        ...

    async def delete(self, rule_id: str | None) -> int:
        """Remove one rule (or all when None); returns how many."""
        ...

    async def hit(self, rule_id: str) -> tuple[int, int] | None:
        """Count one occurrence; returns (occurrences, firings so far), None if the rule is gone.
        Concurrent transactions see distinct occurrence numbers (the UPDATE comes first)."""
        ...

    async def fired(self, rule_id: str) -> None:
        """Count one firing."""
        ...


class SendQuotaRepo(Protocol):
    """Exchange's per-mailbox sending limits (migration 0020, domain/send_quota.py): one counter row per
    mailbox, and the sends held in the Outbox until their window."""

    async def count(self, mailbox_id: str, limits: Limits, recipients: int, now: Timestamp) -> QuotaState:
        """Count one send of `recipients` recipients in one statement: the counters after
        `send_quota.admit` (created at zero first), locked until the unit ends like `lock`."""
        ...

    async def lock(self, mailbox_id: str) -> QuotaState:
        """The mailbox's counters (zeros when new), locked until the unit ends: concurrent sends of one
        mailbox in other transactions wait, so each counts against the state the previous one left."""
        ...

    async def put(self, state: QuotaState) -> None:
        """Store the counters of a row `lock` returned."""
        ...

    async def hold(self, held: HeldSend) -> None:
        """Record a held send."""
        ...

    async def claim_due(self, now: Timestamp, lease_until: Timestamp, limit: int) -> list[HeldSend]:
        """Lease held sends whose time has come (or whose lease ran out), earliest first."""
        ...

    async def release(self, held_id: str, lease: Timestamp) -> bool:
        """Delete a held send if `lease` still holds it; False when another claim owns it or it is gone."""
        ...

    async def held(self, mailbox_id: str | None = None) -> list[HeldSend]:
        """The held sends (of one mailbox), earliest first."""
        ...


class RuleForwardRepo(Protocol):
    """The outbox of Inbox rules' forwards-as-attachment (migration 0032, domain/rule_forwards.py)."""

    async def add(self, job: PendingForward) -> None:
        """Record a pending forward (its copy is already inserted in this unit)."""
        ...

    async def claim_due(self, now: Timestamp, lease_until: Timestamp, limit: int) -> list[PendingForward]:
        """Lease pending forwards that are due (or whose lease ran out), oldest first."""
        ...

    async def finish(self, job_id: str, lease: Timestamp) -> bool:
        """Delete a pending forward if `lease` still holds it; False when another claim owns it or it is
        gone (its copy was purged)."""
        ...

    async def retry(self, job_id: str, lease: Timestamp, due_at: Timestamp) -> bool:
        """Count a failed attempt and make the forward due again at `due_at`, if `lease` still holds it."""
        ...

    async def pending(self, mailbox_id: str | None = None) -> list[PendingForward]:
        """The pending forwards (of one mailbox), oldest first."""
        ...
