"""The `serve --processes N` supervisor (cli/processes.py) when a process dies while another is still
starting (issue 17: 2 of 40 two-process crash rounds did not come back).

The supervisor used to take any exit before every process had said "ready" as a failed start and
stop the whole server — but process 0 is already serving by then (the trials' load had begun), so a
`kill -9` at that moment took the server down. Here the supervisor runs in a subprocess with a stub
server process (no app: a few milliseconds to start), slot 1 slow to get ready; process 0 is killed
while slot 1 is still starting: it must be restarted in its slot, and the server must go on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SLOT1_START_S = 1.5
SCRIPT = textwrap.dedent(
    """
    import os, select, sys, time
    from mailgraph.cli.processes import Supervisor, Slot
    from mailgraph.config import Settings

    def child(settings: Settings, slot: Slot) -> int:
        if slot.index == 1:
            time.sleep(float(sys.argv[1]))  # slot 1 is slow to start (a loaded machine)
        slot.ready()
        select.select([slot.lifeline_fd], [], [])  # serve until the supervisor is gone
        return 0

    sys.exit(Supervisor(Settings(host="127.0.0.1", port=0), 2, child).run())
    """
)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _wait(predicate: object, bound_s: float) -> bool:
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_a_process_killed_while_another_starts_is_restarted_not_fatal() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path])}
    popen = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(SLOT1_START_S)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert _wait(lambda: len(_children(popen.pid)) == 2, 30), "the supervisor did not fork both"
        first = _children(popen.pid)
        process0 = min(first)  # forked first
        os.kill(process0, signal.SIGKILL)  # slot 1 is still asleep in its start-up
        assert _wait(lambda: len(_children(popen.pid)) == 2 and process0 not in _children(popen.pid), 10)
        time.sleep(SLOT1_START_S)  # slot 1 says ready meanwhile
        assert popen.poll() is None, popen.communicate()[0]  # still serving
        popen.send_signal(signal.SIGTERM)
        out = popen.communicate(timeout=30)[0]
        assert popen.returncode == 0, out
        assert "process 0 (pid" in out and "process 0 restarted" in out, out
        assert "mailgraph processes: 2 serving" in out, out  # once slot 1 said ready, not process 0 again
        assert out.index("process 0 restarted") < out.index("mailgraph processes: 2 serving"), out
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(10)
