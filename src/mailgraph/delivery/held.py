"""The sends held over Exchange's message rate (domain/send_quota.py), released when their window comes.

A leased queue on the generic runner (delivery/runner.py): one unit leases the held sends whose
`release_at` has passed; each is then sent by `SendService.release` in a unit of its own that deletes
the row under the lease, so a held send is sent once even with several processes or a crash between
claim and release (the lease expires and another claim takes it). Nothing here touches the network:
the release is a send like any other, and its external recipients go to the relay queue, whose
worker the release's commit wakes.

The schedule is in the store, so held sends survive a restart; the runner polls every `poll_s` (the
release times are known in advance, so a wake-up on commit would not make them come sooner).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mailgraph.delivery.runner import Claimed, LeasedQueueRunner, RunnerConfig
from mailgraph.domain.errors import DomainError
from mailgraph.domain.model import Timestamp
from mailgraph.domain.ports import Tx, UnitOfWork
from mailgraph.domain.send_quota import HeldSend
from mailgraph.domain.sending import SendService

log = logging.getLogger("mailgraph.held")


class HeldSendReleaser(LeasedQueueRunner[HeldSend]):
    """Sends the held items of the Outbox when their time has come."""

    name = "mailgraph-held-sends"

    def __init__(
        self,
        uow: UnitOfWork,
        sending: SendService,
        clock: Callable[[], Timestamp],
        poll_s: float = 0.5,
        lease_s: float = 60.0,
        batch: int = 64,
    ) -> None:
        super().__init__(clock, RunnerConfig(concurrency=4, poll_s=poll_s, lease_s=lease_s))
        self._uow = uow
        self._sending = sending
        self._batch = batch

    async def claim(self, now: Timestamp, lease_until: Timestamp) -> Claimed[HeldSend]:
        """Lease the due held sends, earliest first."""

        async def unit(tx: Tx) -> list[HeldSend]:
            return await tx.send_quota.claim_due(now, lease_until, self._batch)

        held = await self._uow.write(unit)
        return Claimed(held, len(held))

    async def handle(self, job: HeldSend, lease_until: Timestamp) -> None:
        """Send it (the row goes in the same unit); a send that can no longer be made is dropped."""
        try:
            await self._sending.release(job, lease_until)
        except DomainError as exc:
            # E.g. the sender lost the right to send as `from` meanwhile. Retrying cannot help; the
            # item stays in the Outbox, where the user sees it was not sent.
            log.warning("held send %s of %s dropped: %s", job.id, job.mailbox_id, exc.message)

            async def drop(tx: Tx) -> None:
                await tx.send_quota.release(job.id, lease_until)

            await self._uow.write(drop)

    async def pending(self) -> int:
        """How many sends are held (start-up: whether a releaser is needed with every profile off)."""

        async def unit(tx: Tx) -> int:
            return len(await tx.send_quota.held())

        return await self._uow.read(unit)
