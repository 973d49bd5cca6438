"""Collection of unreferenced attachment blobs and of expired upload sessions.

A blob's bytes are written before the unit of work that references them, so a failed unit, a crash, or
a purge leaves files that no row needs. The collector forgets blob rows whose reference count has been
zero for `GRACE_S` and deletes their files unless written in the last `GRACE_S` (a blob about to be
referenced again is refreshed by `BlobStorage.put`). It runs at startup with `reconcile` (recounts
references, drops attachment rows of vanished items, removes stray files) and `GRACE_S` after deletes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from mailgraph.domain.model import SECOND, Timestamp
from mailgraph.domain.ports import BlobStorage, Tx, UnitOfWork

log = logging.getLogger("mailgraph.attachments")

GRACE_S = 60.0  # the collector spares blobs unreferenced (or written) less than this long ago


class BlobCollector:
    """Owns the blob store's housekeeping; the attachment service builds on it."""

    def __init__(self, uow: UnitOfWork, blobs: BlobStorage, clock: Callable[[], Timestamp]) -> None:
        self._uow = uow
        self.blobs = blobs
        self._clock = clock
        self._pending: asyncio.Task[None] | None = None

    def schedule_collect(self) -> None:
        """Collect once the grace period of what was just released has passed (one pending run at most)."""
        if self._pending is None or self._pending.done():
            self._pending = asyncio.get_running_loop().create_task(self._collect_later())

    async def _collect_later(self) -> None:
        await asyncio.sleep(GRACE_S + 1)
        try:
            await self.collect()
        except Exception:  # the store may be closing; the next start reconciles anyway
            log.warning("attachment blob collection failed", exc_info=True)

    async def close(self) -> None:
        """Cancel a pending collection (shutdown)."""
        if self._pending is not None:
            self._pending.cancel()

    async def collect(self, reconcile: bool = False) -> int:
        """Remove blob files no attachment references any more (older than GRACE_S); returns how many.

        With `reconcile` (at startup), also recount references, drop attachment rows of vanished
        items, and remove stray files that have no blob row at all.
        """
        now = self._clock()
        before = now - int(GRACE_S * SECOND)

        async def sweep(tx: Tx) -> tuple[list[str], list[str]]:
            expired = await tx.attachments.expired_sessions(now, 1000)
            for session_id in expired:
                await tx.attachments.delete_session(session_id)
                await tx.upload_parts.forget(session_id)
            return expired, await tx.attachments.collect(before, reconcile)

        expired, hashes = await self._uow.write(sweep)
        for session_id in expired:
            await self.blobs.drop_parts(session_id)
        removed = await self.blobs.remove(hashes, GRACE_S)
        if reconcile:
            stray = await self.blobs.stray(GRACE_S)
            known: set[str] = set()
            for at in range(0, len(stray), 500):  # bounded IN lists (SQLite's variable limit)
                known |= await self._uow.read(_known_blobs(stray[at : at + 500]))
            removed += await self.blobs.remove([h for h in stray if h not in known], GRACE_S)
        return removed


def _known_blobs(batch: list[str]) -> Callable[[Tx], Awaitable[set[str]]]:
    """A read unit answering which of `batch` the store still references."""

    async def unit(tx: Tx) -> set[str]:
        return await tx.attachments.known_blobs(batch)

    return unit
