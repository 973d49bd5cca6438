"""One background step repeated every few seconds (fault-rule reload, folder-count folding, change
sequencing), and `Drain`: a periodic step that empties an insert-only queue table in short units.

A failing step is logged and tried again at the next tick: the store may be closing or briefly
unreachable, and a background task that died on the first error would stop the work for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # ports imports faults, which imports this module
    from mailgraph.domain.ports import Tx, UnitOfWork

log = logging.getLogger("mailgraph.periodic")


class Periodic:
    """`step` every `interval_s` seconds between `start` and `stop`."""

    def __init__(self, name: str, interval_s: float, step: Callable[[], Awaitable[object]]) -> None:
        self._name = name
        self._interval_s = interval_s
        self._step = step
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start repeating (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=self._name)

    async def stop(self) -> None:
        """Stop repeating; a step in progress is cancelled."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self._step()
            except Exception:  # try again at the next tick (module docstring)
                log.debug("%s: step failed", self._name, exc_info=True)


class Drain:
    """Every `interval_s`, run `step` in units of its own until it takes nothing (at most `passes`).

    For the background work over insert-only tables (folder count deltas, pending changes): `step`
    takes up to `batch` rows in one short unit, so the rows it locks are held briefly; under constant
    writes there is always a little more, hence the bound. Each step must be safe to run twice at once
    (every process drains) and to run late or not at all (readers account for what is left).
    """

    def __init__(
        self,
        name: str,
        uow: UnitOfWork,
        step: Callable[[Tx, int], Awaitable[int]],
        interval_s: float,
        batch: int,
        passes: int = 100,
    ) -> None:
        self._uow = uow
        self._step = step
        self._batch = batch
        self._passes = passes
        self._periodic = Periodic(name, interval_s, self.run)

    async def run(self) -> int:
        """Drain now (everything unless more keeps coming); returns how many rows were taken."""
        taken = 0
        for _ in range(self._passes):
            n = await self._uow.write(lambda tx: self._step(tx, self._batch))
            if n == 0:
                break
            taken += n
        return taken

    def start(self) -> None:
        """Drain every `interval_s` until `stop`."""
        self._periodic.start()

    async def stop(self) -> None:
        """Stop draining (what is left stays, and readers still account for it)."""
        await self._periodic.stop()
