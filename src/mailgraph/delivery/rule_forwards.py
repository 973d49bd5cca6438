"""The forwarder: sends the Inbox rules' forwards-as-attachment after the delivery's commit.

A leased queue on the generic runner (delivery/runner.py) over the `rule_forwards` table (migration
0032): one unit leases the due rows; each is carried out by `AttachedForwardService.carry_out`
(domain/attached_forwards.py: compose the delivered copy's MIME, stage it in the blob store, then one
unit that deletes the row under the lease and sends the forward through the normal path). A failure
(the store or the blob store) gives the row back with a wait, up to `MAX_ATTEMPTS`. Nothing here
touches the network: external recipients go to the relay queue, whose worker that commit wakes.

It wakes when a committed unit left a forward pending (`on_commit`, an `AfterCommit` subscriber) and
otherwise polls every `poll_s` (rows left by another process, retries, leases of a crashed forwarder).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mailgraph.delivery.runner import Claimed, LeasedQueueRunner, RunnerConfig
from mailgraph.domain.attached_forwards import AttachedForwardService
from mailgraph.domain.changes import Commit
from mailgraph.domain.model import Timestamp
from mailgraph.domain.rule_forwards import PendingForward

log = logging.getLogger("mailgraph.rules")


class RuleForwarder(LeasedQueueRunner[PendingForward]):
    """Drains the pending forwards-as-attachment."""

    name = "mailgraph-rule-forwards"

    def __init__(
        self,
        service: AttachedForwardService,
        clock: Callable[[], Timestamp],
        poll_s: float = 1.0,
        lease_s: float = 120.0,
        batch: int = 32,
    ) -> None:
        super().__init__(clock, RunnerConfig(concurrency=4, poll_s=poll_s, lease_s=lease_s))
        self.service = service
        self._batch = batch

    async def claim(self, now: Timestamp, lease_until: Timestamp) -> Claimed[PendingForward]:
        """Lease the due pending forwards, oldest first."""
        jobs = await self.service.claim(now, lease_until, self._batch)
        return Claimed(jobs, len(jobs))

    async def handle(self, job: PendingForward, lease_until: Timestamp) -> None:
        """Carry one out; on failure, count the attempt (due again later, dropped after the last)."""
        try:
            await self.service.carry_out(job, lease_until)
        except Exception:  # a store or blob failure: retried, never lost silently
            log.exception("forward-as-attachment %s of %s failed", job.id, job.mailbox_id)
            await self.service.failed(job, lease_until)

    def on_commit(self, commit: Commit) -> None:
        """`AfterCommit` subscriber: a delivery that left a forward pending wakes the forwarder."""
        if commit.forwards:
            self.wake()
