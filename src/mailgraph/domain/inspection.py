"""What the test workbench asks of the store: tenant-wide queries and whole-tenant deletes.

The workbench (domain/workbench.py, the `/_mailgraph` control API) looks at a tenant from above:
every mailbox at once, the outbound queue of the tenant, a tenant's whole data. Graph's repositories
are per mailbox, so these queries get a repository of their own (`tx.workbench`), kept apart so the
Graph path never grows a tenant-wide query by accident. Every query here is filtered by tenant id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mailgraph.domain.model import Message, QueueEntry, QueueStatus, Tenant, Timestamp


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """Which messages of a tenant: every field set must match (None: any).

    `subject` matches a case-insensitive substring; `sender` the From (or Sender) address exactly,
    case-insensitively; `recipient` one of To/Cc/Bcc (outbound: the queued recipient);
    `received_after` is inclusive. Drafts never match (they have not arrived anywhere).
    """

    mailbox_ids: tuple[str, ...] | None = None
    folder_ids: tuple[str, ...] | None = None
    subject: str | None = None
    sender: str | None = None
    recipient: str | None = None
    internet_message_id: str | None = None
    received_after: Timestamp | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class TenantInfo:
    """A hosted tenant with its workbench attributes."""

    tenant: Tenant
    ephemeral: bool
    created_at: Timestamp


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message that left (or is leaving) a tenant over SMTP: its snapshot and its recipients."""

    outbound_id: str
    message: Message
    entries: tuple[QueueEntry, ...]
    created_at: Timestamp


@dataclass(frozen=True, slots=True)
class Removed:
    """What deleting or resetting removed: counts, and the blob hashes whose last reference went."""

    messages: int
    outbound: int
    released_blobs: tuple[str, ...] = ()
    upload_sessions: tuple[str, ...] = ()
    """Upload sessions removed: their partial files are the blob storage's to drop."""


class WorkbenchRepo(Protocol):
    """Tenant-wide reads and deletes of the workbench (store/sql/workbench.py)."""

    async def tenant_infos(self) -> list[TenantInfo]:
        """Every hosted tenant with its workbench attributes, by creation time then id."""
        ...

    async def mark_ephemeral(self, tenant_id: str, created_at: Timestamp, seed: str | None) -> None:
        """Flag a tenant as made by the workbench, with its opaque seed (None: no seed)."""
        ...

    async def seed(self, tenant_id: str) -> str | None:
        """The opaque seed stored with the tenant, if any."""
        ...

    async def find_messages(self, tenant_id: str, query: MessageQuery) -> list[Message]:
        """Messages of the tenant's mailboxes matching `query`, newest received first."""
        ...

    async def find_outbound(self, tenant_id: str, query: MessageQuery) -> list[Outbound]:
        """Outbound messages of the tenant matching `query`, newest first, with their entries."""
        ...

    async def clear_mailboxes(
        self, tenant_id: str, mailbox_ids: Sequence[str] | None, now: Timestamp
    ) -> Removed:
        """Empty mailboxes (default: all of the tenant): messages, own folders, outbound mail, uploads,
        Inbox rules and mailbox settings."""
        ...

    async def delete_tenant(self, tenant_id: str, now: Timestamp) -> Removed | None:
        """Remove the tenant and everything it owns; None if there is no such tenant."""
        ...

    async def queue_depths(self) -> dict[QueueStatus, int]:
        """Outbound queue entries by status, over the whole server (metrics)."""
        ...

    async def schema_version(self) -> int:
        """The highest migration applied (readiness)."""
        ...
