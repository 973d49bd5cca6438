"""One background step repeated every few seconds (fault-rule reload, folder-count folding).

A failing step is logged and tried again at the next tick: the store may be closing or briefly
unreachable, and a background task that died on the first error would stop the work for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

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
