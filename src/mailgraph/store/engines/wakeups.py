"""Wake-ups across processes on one SQLite database: one FIFO per listening process, next to the file.

`serve --processes N`, `serve --no-worker` + `mailgraph worker`, or two `serve` on one data dir all
share one database, but a commit's `AfterCommit` signal (domain/changes.py) reaches only its own
process. A unit that queues outbound mail in process A must wake the delivery worker of process B at
once, not at B's next poll. PostgreSQL has LISTEN/NOTIFY for this (its engine provides the same
`store.contract.Wakeups`); SQLite has nothing, so this module is the documented cheap mechanism:

- a listener makes a named pipe `<db>.wake/<channel>.<pid>` (made under a temporary name, opened for
  reading *and* writing — so it never reads EOF when notifiers close — then renamed into place, so no
  notifier ever sees it without a reader) and reads it on the event loop (`loop.add_reader`);
- `notify(channel)` lists the directory and writes one byte, non-blocking, to every other process's
  pipe of that channel. A full pipe (EAGAIN) means a wake-up is already pending: nothing lost.
  ENXIO/ENOENT means the listener died (no reader): its pipe is removed.

Why FIFOs and not UNIX datagram sockets: a socket path is limited to 107 bytes, a data dir path is
not. Why not `PRAGMA data_version` polling: it changes on *every* commit of another connection, so a
poller would claim (a write transaction) at its polling rate under any load, queue work or not.
A notify costs one `listdir` and one open/write/close per listener (~20 µs), and runs only after a
commit that queued something. Lost wake-ups are harmless: the worker still polls every `poll_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

from mailgraph.files import PRIVATE_DIR

log = logging.getLogger("mailgraph.wakeups")


class FifoWakeups:
    """`store.contract.Wakeups` for processes on one machine sharing an SQLite database file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._pid = os.getpid()
        self._listening: dict[str, tuple[int, int, Path, asyncio.AbstractEventLoop]] = {}

    async def ready(self) -> None:
        """`listen` is in effect when it returns (the pipe exists): nothing to wait for."""

    def listen(self, channel: str, callback: Callable[[], None]) -> None:
        """Call `callback` on the running loop whenever another process notifies `channel`."""
        _check_channel(channel)
        if channel in self._listening:
            raise RuntimeError(f"already listening on {channel!r}")
        loop = asyncio.get_running_loop()
        self.directory.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)  # like the data dir: 0700
        final = self.directory / f"{channel}.{self._pid}"
        temp = self.directory / f".{channel}.{self._pid}.tmp"
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        os.mkfifo(temp, 0o600)
        rd = os.open(temp, os.O_RDONLY | os.O_NONBLOCK)
        keep = os.open(temp, os.O_WRONLY | os.O_NONBLOCK)  # a writer of our own: no EOF, ever
        os.replace(temp, final)

        def readable() -> None:
            with contextlib.suppress(BlockingIOError):
                while os.read(rd, 512):  # drain: many notifies are one wake-up
                    pass
            callback()

        loop.add_reader(rd, readable)
        self._listening[channel] = (rd, keep, final, loop)

    def notify(self, channel: str) -> int:
        """Wake every other process listening on `channel`; returns how many were written to."""
        prefix = channel + "."
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return 0  # nobody ever listened
        own = f"{prefix}{self._pid}"
        woken = 0
        for name in names:
            if not name.startswith(prefix) or name == own:
                continue
            path = self.directory / name
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno in (errno.ENXIO, errno.ENOENT):  # its process is gone
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                else:
                    log.warning("cannot wake %s: %s", path, exc)
                continue
            try:
                os.write(fd, b"\0")
                woken += 1
            except BlockingIOError:
                woken += 1  # the pipe is full: a wake-up is pending already
            finally:
                os.close(fd)
        return woken

    def close(self) -> None:
        """Stop listening and remove this process's pipes."""
        for rd, keep, path, loop in self._listening.values():
            if not loop.is_closed():
                loop.remove_reader(rd)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            os.close(rd)
            os.close(keep)
        self._listening.clear()


def _check_channel(channel: str) -> None:
    if not channel or not channel.replace("_", "").isalnum():
        raise ValueError(f"a channel name is letters, digits and _: {channel!r}")
