"""The generic leased-queue runner: claim with a lease → work → record under the lease, in a loop.

A durable queue in the store (the outbound SMTP queue now, the webhook outbox next) is drained the same
way, so the loop lives here once and a queue only says how to claim and how to handle one job:

1. `claim(now, lease_until)` — one unit of work leases a batch of due jobs (a job whose lease ran out,
   a crashed runner's, is due again) and loads what the work needs; no network I/O inside;
2. `handle(job, lease_until)` — the network part, at most `concurrency` jobs at a time, then one unit
   of work that records the outcome *under the lease* (nothing changes if another runner re-claimed
   the job after this lease expired).

The runner wakes on `wake()` (e.g. an `AfterCommit` subscriber: a commit queued something) and
otherwise polls every `poll_s` for jobs that became due (retries). `stop()` lets the jobs in flight
finish for a grace period; unfinished leases simply expire and the jobs are claimed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from mailgraph.domain.model import SECOND, Timestamp

J = TypeVar("J")
log = logging.getLogger("mailgraph.queue")


@dataclass(frozen=True, slots=True)
class Claimed(Generic[J]):
    """What one claim leased: the jobs to handle, and how many queue entries they cover."""

    jobs: Sequence[J]
    entries: int


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    """Tuning of one runner."""

    concurrency: int = 8  # jobs handled at once
    poll_s: float = 1.0  # how often to look for jobs that became due without a wake-up
    lease_s: float = 300.0  # how long a claim owns its jobs


class LeasedQueueRunner(Generic[J]):
    """Drains one leased queue; a queue subclasses it with `claim` and `handle`."""

    name = "mailgraph-queue"

    def __init__(self, clock: Callable[[], Timestamp], runner: RunnerConfig) -> None:
        self._clock = clock
        self.runner = runner
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._home: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(runner.concurrency)

    async def claim(self, now: Timestamp, lease_until: Timestamp) -> Claimed[J]:
        """Lease a batch of due jobs in one unit of work (no network I/O)."""
        raise NotImplementedError

    async def handle(self, job: J, lease_until: Timestamp) -> None:
        """Do one job's work, then record its outcome under `lease_until` in a unit of its own."""
        raise NotImplementedError

    async def closing(self) -> None:
        """Release what the queue holds (connections) once the loop has stopped."""

    def wake(self) -> None:
        """Look at the queue now (new jobs were committed); safe from any thread."""
        loop = self._home
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if loop is None or loop is here or loop.is_closed():
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    @property
    def alive(self) -> bool:
        """Whether the background loop runs (readiness, api/ops.py)."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Run the loop in the background until `stop()`."""
        if self._task is None:
            self._stopping = False
            self._home = asyncio.get_running_loop()
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Finish the jobs in flight (up to `grace_s`), then stop; unfinished leases expire."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, grace_s)
            except TimeoutError:
                log.warning("%s stopped with jobs in flight; their leases will expire", self.name)
        await self.closing()

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before the claim: a commit during the cycle wakes the next one
            try:
                handled = await self.run_once()
            except Exception:  # a store failure must not end the queue for good; retried after a poll
                log.exception("%s cycle failed", self.name)
                handled = 0
            if handled == 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.runner.poll_s)

    async def run_once(self) -> int:
        """One cycle: lease a batch, handle its jobs, each recording its outcome. Returns entries handled."""
        now = self._clock()
        lease = now + round(self.runner.lease_s * SECOND)
        claimed = await self.claim(now, lease)
        await asyncio.gather(*(self._handle(job, lease) for job in claimed.jobs))
        return claimed.entries

    async def _handle(self, job: J, lease: Timestamp) -> None:
        async with self._slots:
            await self.handle(job, lease)
