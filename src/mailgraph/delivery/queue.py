"""Queue visibility and repair, shared by `mailgraph queue …` and the admin endpoint.

A message is named by its queue id (`outbound_id`, shown by `queue list`) or by its internetMessageId,
so a user holding only the sent item can ask what happened to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mailgraph.delivery.policy import RetryPolicy
from mailgraph.delivery.worker import Parts, wire_message_async
from mailgraph.domain import attachments
from mailgraph.domain.model import SECOND, Message, QueueEntry, QueueStatus, Timestamp
from mailgraph.domain.ports import BlobStorage, Tx, UnitOfWork

STATUSES: tuple[QueueStatus, ...] = ("queued", "sending", "delivered", "deferred", "failed", "captured")
# What `retry` revives by default: entries that are waiting or gave up. Captured entries are revived
# only when asked by name (`--status captured`), e.g. after configuring a relay.
RETRYABLE: tuple[QueueStatus, ...] = ("deferred", "failed")
# What `purge` removes by default: entries whose story is over.
FINISHED: tuple[QueueStatus, ...] = ("delivered", "failed", "captured")


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """One queued message: its snapshot and each recipient's entry."""

    outbound_id: str
    message: Message
    entries: list[QueueEntry]


class QueueAdmin:
    """List, inspect, retry and purge queue entries."""

    def __init__(
        self,
        uow: UnitOfWork,
        clock: Callable[[], Timestamp],
        policy: RetryPolicy | None = None,
        hostname: str = "localhost",
        blobs: BlobStorage | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._hostname = hostname
        self._blobs = blobs

    async def list(self, status: QueueStatus | None = None, limit: int = 100) -> list[QueueEntry]:
        """Entries oldest first, optionally of one status."""
        return await self._uow.read(lambda tx: tx.outbox.list_entries(status, limit))

    async def show(self, message_key: str) -> QueuedMessage | None:
        """A message by queue id or internetMessageId, with every recipient's entry; None if unknown."""

        async def unit(tx: Tx) -> QueuedMessage | None:
            entries = await tx.outbox.list_entries(None, 10_000, None, message_key)
            if not entries:
                return None
            message = await tx.outbox.get_message(entries[0].outbound_id)
            if message is None:  # pragma: no cover - entries cascade with their snapshot
                return None
            return QueuedMessage(entries[0].outbound_id, message, entries)

        return await self._uow.read(unit)

    async def mime(self, message_key: str) -> bytes | None:
        """The message as the relay gets it (or would get it, for a captured one), attachments included."""
        queued = await self.show(message_key)
        if queued is None:
            return None
        blobs = self._blobs
        parts: Parts = []
        if blobs is not None and queued.message.has_attachments:
            parts = await self._uow.read(lambda tx: attachments.attachment_parts(tx, queued.outbound_id))
        m = queued.message
        return await wire_message_async(blobs, m, parts, queued.outbound_id, self._hostname, m.sent_at)

    async def retry(self, statuses: Sequence[QueueStatus] = RETRYABLE, keys: Sequence[str] = ()) -> int:
        """Make entries due now with a fresh expiry; `keys` are entry ids, queue ids or Message-IDs.

        Returns how many entries were revived (0 when a key names nothing of those statuses).
        """
        now = self._clock()
        expires = now + round(self._policy.expiry_s * SECOND)

        async def unit(tx: Tx) -> int:
            ids: list[str] = []
            for key in keys:
                found = await tx.outbox.list_entries(None, 10_000, None, key)
                ids += [e.id for e in found] or [key]
            if keys and not ids:  # pragma: no cover - every key yields at least itself
                return 0
            return await tx.outbox.retry(now, expires, statuses, ids)

        return await self._uow.write(unit)

    async def purge(self, statuses: Sequence[QueueStatus] = FINISHED) -> int:
        """Delete entries of `statuses`, and the snapshots left without entries with their attachment
        references (the blob collector frees the bytes); returns how many entries were deleted."""
        now = self._clock()

        async def unit(tx: Tx) -> int:
            touched = {e.outbound_id for s in statuses for e in await tx.outbox.list_entries(s, 1_000_000)}
            removed = await tx.outbox.purge(statuses)
            for outbound_id in touched:
                if await tx.outbox.get_message(outbound_id) is None:
                    await attachments.release(tx, outbound_id, now)
            return removed

        return await self._uow.write(unit)
