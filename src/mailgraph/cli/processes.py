"""`mailgraph serve --processes N`: a supervisor and N server processes on the same port(s).

The supervisor never opens the store or starts a thread or an event loop, so it can `fork` safely:

1. it binds, per listener (http, https) and per process, one socket with `SO_REUSEPORT` on the same
   port (port 0: the first socket picks it, the others join), so the kernel spreads connections over
   the processes; a socket belongs to its slot, not to a process, so connections waiting in its
   backlog survive a restart of that slot's process;
2. it forks process 0 and waits until it is ready — process 0 migrates, seeds the demo tenant and makes
   the signing keys, so the others never race it on an empty data dir — then forks the others;
3. each process runs the whole app on the same database (`cli._serve` with its sockets). Only process 0
   runs the delivery worker and the SMTP listeners: one worker means one claim transaction at a time
   on SQLite's single writer, and a send in any process wakes it through the engine's `Wakeups`
   (store/engines/wakeups.py); the atomic claims would let all of them run one, `mailgraph worker`
   processes can join;
4. SIGTERM/SIGINT: the supervisor SIGTERMs every process (each finishes its requests and closes the
   store), waits up to `STOP_GRACE_S`, then SIGKILLs what is left. The processes are in their own
   process group (a terminal's Ctrl-C reaches only the supervisor, which stops them once) and hold the
   read end of a "lifeline" pipe: if the supervisor dies, even by SIGKILL, they see EOF and stop.
5. A process that exits while the supervisor is not stopping is **restarted** in its slot (same
   sockets, same role), after a back-off — also while the others are still starting (only process
   0's first start must succeed: it alone proves the configuration); more than `MAX_RESTARTS` within `RESTART_WINDOW_S` means a
   crash loop: the supervisor stops the others and exits 1.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from mailgraph.config import Settings

STOP_GRACE_S = 15.0
READY_TIMEOUT_S = 120.0  # process 0 may generate RSA keys and run migrations
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class Slot:
    """What one server process gets: its index, its listening sockets, the pipes to its supervisor."""

    index: int
    sockets: dict[str, socket.socket]
    ready_fd: int
    """`ready()` writes the slot's index here once listening."""
    lifeline_fd: int
    """EOF here means the supervisor is gone: stop."""

    def ready(self) -> None:
        """Tell the supervisor this slot's process listens (two bytes: atomic on a pipe)."""
        os.write(self.ready_fd, self.index.to_bytes(2, "big"))


ServeChild = Callable[[Settings, Slot], int]


def _ready_slots(fd: int) -> list[int]:
    """The slots whose process said it is ready since the last read (none if nothing waits)."""
    try:
        data = os.read(fd, 512)
    except BlockingIOError:
        return []
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2)]


def listen_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening TCP sockets on one (host, port) with SO_REUSEPORT; port 0 picks one port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    out: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            out.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.listen(2048)
            sock.set_inheritable(True)
    except BaseException:
        for sock in out:
            sock.close()
        raise
    return out


@dataclass
class Supervisor:
    """Forks, watches and stops the server processes of `serve --processes N`."""

    settings: Settings
    count: int
    serve_child: ServeChild
    listeners: dict[str, list[socket.socket]] = field(default_factory=dict)
    pids: dict[int, int] = field(default_factory=dict)  # pid -> slot index
    restarts: list[float] = field(default_factory=list)
    stopping: bool = False

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT (0) or a crash loop / a failed start (1)."""
        s = self.settings
        if s.http or not s.tls:
            self.listeners["http"] = listen_sockets(s.host, s.port, self.count)
        if s.tls:
            self.listeners["https"] = listen_sockets(s.host, s.tls_port, self.count)
        self._ready_r, self._ready_w = os.pipe()
        os.set_blocking(self._ready_r, False)
        self._lifeline_r, self._lifeline_w = os.pipe()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        try:
            self._fork(0)
            if not self._await_ready(1):  # process 0 never came up (migrations, ports): a real failure
                return self._stop(1)
            for index in range(1, self.count):
                self._fork(index)
            # From here on the server is serving (process 0 answers; connections for a slot still
            # starting wait in its socket's backlog): a process that dies now, even before the others
            # said they are ready, is restarted in its slot like any later crash, not taken as a
            # failed start that stops the whole server (issue 17: 2 of 40 two-process crash rounds).
            return self._watch(starting=set(range(1, self.count)))
        finally:
            for socks in self.listeners.values():
                for sock in socks:
                    sock.close()

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _fork(self, index: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            self.pids[pid] = index
            return
        code = 1
        try:  # the child: never returns into the supervisor's code
            os.setpgid(0, 0)
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            os.close(self._lifeline_w)  # only the supervisor holds the write end: its death is EOF
            os.close(self._ready_r)
            sockets = {name: socks[index] for name, socks in self.listeners.items()}
            for socks in self.listeners.values():
                for i, sock in enumerate(socks):
                    if i != index:
                        sock.close()
            slot = Slot(index, sockets, self._ready_w, self._lifeline_r)
            code = self.serve_child(self._child_settings(index), slot)
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _child_settings(self, index: int) -> Settings:
        if index == 0:
            return self.settings
        # The worker and the SMTP listeners run in process 0 only (the module docstring says why).
        return replace(
            self.settings,
            worker=False,
            smtp_port=None,
            smtps_port=None,
            submission_port=None,
            submission_tls_port=None,
        )

    def _await_ready(self, n: int) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        got = 0
        while got < n and not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0 or self._reap(restart=False):
                return False
            readable, _, _ = select.select([self._ready_r], [], [], min(left, 0.2))
            if readable:
                got += len(_ready_slots(self._ready_r))
        return got >= n

    def _reap(self, *, restart: bool) -> bool:
        """Collect exited processes; restart them when `restart`. True when one exited (and was not)."""
        exited = False
        while self.pids:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            index = self.pids.pop(pid, None)
            if index is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if self.stopping:
                continue
            print(f"mailgraph: process {index} (pid {pid}) exited with {code}", file=sys.stderr, flush=True)
            if not restart:
                exited = True
                continue
            now = time.monotonic()
            self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW_S] + [now]
            if len(self.restarts) > MAX_RESTARTS:
                print("mailgraph: processes keep dying; stopping", file=sys.stderr, flush=True)
                return True
            time.sleep(min(0.2 * len(self.restarts), 2.0))  # back-off: no hot crash loop
            self._fork(index)
            print(f"mailgraph: process {index} restarted", file=sys.stderr, flush=True)
        return exited

    def _watch(self, starting: set[int] | None = None) -> int:
        """Restart what dies until stopped; `starting`: the slots whose first start has not said ready
        yet (the "serving" line is printed once they all have; more than READY_TIMEOUT_S is a failure)."""
        starting = starting or set()
        deadline = time.monotonic() + READY_TIMEOUT_S
        if not starting:
            self._serving()
        while not self.stopping:
            if self._reap(restart=True):
                return self._stop(1)
            with contextlib.suppress(InterruptedError):
                select.select([self._ready_r], [], [], 0.2)
            ready = _ready_slots(self._ready_r)  # (re)started processes that listen now
            if starting and ready:
                starting -= set(ready)
                if not starting:
                    self._serving()
            if starting and time.monotonic() > deadline:
                print("mailgraph: processes did not become ready in time", file=sys.stderr, flush=True)
                return self._stop(1)
        return self._stop(0)

    def _serving(self) -> None:
        ports = ", ".join(f"{k} port {v[0].getsockname()[1]}" for k, v in self.listeners.items())
        pids = " ".join(str(p) for p in sorted(self.pids, key=self.pids.__getitem__))
        print(f"mailgraph processes: {self.count} serving on {ports} (pids {pids})", flush=True)

    def _stop(self, code: int) -> int:
        self.stopping = True
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while self.pids and time.monotonic() < deadline:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                time.sleep(0.05)
                continue
            index = self.pids.pop(pid, None)
            if index is not None and os.waitstatus_to_exitcode(status) not in (0, -signal.SIGTERM):
                code = code or 1
        for pid in list(self.pids):  # did not stop in time
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            code = code or 1
        self.pids.clear()
        return code
