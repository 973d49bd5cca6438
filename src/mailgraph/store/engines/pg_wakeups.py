"""Wake-ups across processes on one PostgreSQL database: `LISTEN`/`NOTIFY` (store.contract.Wakeups).

A commit in process A that queued outbound mail must wake the delivery worker of process B (or of a
`mailgraph worker` on another host) at once, not at B's next poll. PostgreSQL delivers `NOTIFY` to every
session that ran `LISTEN` on the channel, on any host, after the notifying transaction commits.

- `listen(channel, callback)` opens one dedicated connection (listeners must not share pooled ones: a
  pooled connection is reset when released, which drops its `LISTEN`s) and registers the callback;
- `notify(channel)` sends `pg_notify(channel, <this process's token>)` from the pool, in the background:
  the caller is an after-commit subscriber on the event loop and must not wait. The token lets a process
  ignore its own notifications (its `AfterCommit` signal already woke it).

Wake-ups are hints (store/contract.py): a lost one only delays work until the listener's next poll.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

import asyncpg

log = logging.getLogger("mailgraph.wakeups")


class PgWakeups:
    """`store.contract.Wakeups` over PostgreSQL `LISTEN`/`NOTIFY`."""

    def __init__(self, dsn: str, pool: asyncpg.Pool) -> None:
        self._dsn = dsn
        self._pool = pool
        self._token = secrets.token_hex(8)
        self._listener: asyncpg.Connection | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._channels: set[str] = set()
        self._listening: list[asyncio.Task[None]] = []
        self._connecting = asyncio.Lock()  # channels share one listening connection, in turn

    def listen(self, channel: str, callback: Callable[[], None]) -> None:
        """Call `callback` on the running loop whenever another process notifies `channel`."""
        if channel in self._channels:
            raise RuntimeError(f"already listening on {channel!r}")
        self._channels.add(channel)

        def received(_con: object, _pid: int, _channel: str, payload: str) -> None:
            if payload != self._token:
                callback()

        self._listening.append(self._spawn(self._listen(channel, received)))

    async def _listen(self, channel: str, handler: Callable[[object, int, str, str], None]) -> None:
        async with self._connecting:  # one operation at a time on the listening connection
            if self._listener is None:
                self._listener = await asyncpg.connect(self._dsn)
            await self._listener.add_listener(channel, handler)

    async def ready(self) -> None:
        """Wait (at most 10 s) until the `LISTEN`s are in effect; a failure is logged, not raised: the
        listeners' polls still find the work, later."""
        pending, self._listening = self._listening, []
        if pending:
            _, late = await asyncio.wait(pending, timeout=10.0)
            if late:
                log.warning("LISTEN not in effect after 10 s; wake-ups from other processes may be late")

    def notify(self, channel: str) -> int:
        """Wake the other processes listening on `channel`; sent in the background (1 = sent)."""
        self._spawn(self._notify(channel))
        return 1

    async def _notify(self, channel: str) -> None:
        await self._pool.execute("SELECT pg_notify($1, $2)", channel, self._token)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("wake-up failed: %s", task.exception())  # a hint only: the poll catches up

    async def aclose(self) -> None:
        """Finish pending notifications and close the listening connection."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

    def close(self) -> None:
        """Stop listening (the engine awaits `aclose` when it closes)."""
        self._channels.clear()
