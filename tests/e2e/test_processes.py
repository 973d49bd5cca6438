"""Several server processes on one SQLite database (issue 11): wake-ups across processes, and
`serve --processes N` (shared port, one delivery worker, restart of a dead process, clean stop).

The queue poll is set to 60 s in every test, so a message relayed within seconds was relayed because
a wake-up crossed the process boundary, not because a worker happened to poll.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.delivery.sink import Sink, wait_until
from tests.e2e.test_delivery_e2e import Process, _app_token

pytestmark = [pytest.mark.e2e]
SLOW_POLL = ("--queue-poll", "60")
PIDS = re.compile(r"mailgraph processes: (\d+) serving on .*\(pids ([\d ]+)\)")


@pytest.fixture
def data(template_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(template_dir, target)
    return target


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    with contextlib.suppress(AssertionError, RuntimeError):
        s.stop()


def _send(url: str, auth: dict[str, str], subject: str) -> None:
    body = {"message": {"subject": subject, "body": {"contentType": "Text", "content": "x"},
            "toRecipients": [{"emailAddress": {"address": "far@example.net"}}]}}  # fmt: skip
    r = httpx.post(f"{url}/v1.0/users/alice@fabrikam.test/sendMail", json=body, headers=auth, timeout=30)
    assert r.status_code == 202, r.text


def _subjects(sink: Sink) -> set[str]:
    return {str(m.message["Subject"]) for m in sink.received}


def test_a_send_in_one_process_wakes_the_worker_in_the_other(data: Path, sink: Sink) -> None:
    worker = Process(data, "--relay", sink.url, *SLOW_POLL)
    try:
        front = Process(data, "--no-worker", *SLOW_POLL)
        try:
            auth = _app_token(front.url)
            time.sleep(0.5)  # the worker's first claim (at start) is over: only a wake-up can help now
            for i in range(3):
                t0 = time.monotonic()
                _send(front.url, auth, f"cross {i}")
                wait_until(lambda i=i: f"cross {i}" in _subjects(sink), timeout=10)
                assert time.monotonic() - t0 < 5.0  # promptly, not at the 60 s poll
            assert len(sink.received) == 3
        finally:
            front.kill(signal.SIGTERM)
    finally:
        worker.kill(signal.SIGTERM)
    assert not list((data / "mailgraph.db.wake").glob("outbox.*"))  # both removed their pipes


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] != "Z"
    return False


def _read_until(proc: Process, pattern: re.Pattern[str], timeout: float = 60) -> re.Match[str]:
    assert proc.popen.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = proc.popen.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = pattern.search(line)
        if found:
            return found
    pytest.fail(f"{pattern.pattern!r} not printed: {''.join(seen)}")


def test_serve_processes_share_the_port_relay_restart_and_stop(data: Path, sink: Sink) -> None:
    server = Process(data, "--processes", "2", "--relay", sink.url, *SLOW_POLL)
    try:
        found = _read_until(server, PIDS)
        assert found.group(1) == "2"
        pids = [int(p) for p in found.group(2).split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        cpu0 = [_cpu(p) for p in pids]
        auth = _app_token(server.url)
        for i in range(8):  # a new connection each: SO_REUSEPORT spreads them over both processes
            _send(server.url, auth, f"spread {i}")
        wait_until(lambda: len(_subjects(sink)) == 8, timeout=10)  # one worker, woken from either side
        assert len(sink.received) == 8  # each recipient relayed exactly once
        for _ in range(40):  # new connections again, to be sure each process got some
            r = httpx.get(f"{server.url}/v1.0/users/alice@fabrikam.test/messages?$top=1", headers=auth)
            assert r.status_code == 200, r.text
        assert all(_cpu(p) > c for p, c in zip(pids, cpu0, strict=True))  # both served requests

        os.kill(pids[1], signal.SIGKILL)  # a process dies: its slot is restarted, the port stays up
        _read_until(server, re.compile(r"process 1 restarted"))
        wait_until(lambda: not _alive(pids[1]), timeout=10)
        for i in range(4):
            _send(server.url, auth, f"after {i}")
        wait_until(lambda: len(_subjects(sink)) == 12, timeout=10)

        server.popen.send_signal(signal.SIGTERM)  # stops every process, exit status 0
        assert server.popen.wait(30) == 0
        assert not _alive(pids[0])
        assert not list((data / "mailgraph.db.wake").glob("outbox.*"))
    finally:
        server.kill(signal.SIGKILL)


def _cpu(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def test_processes_stop_when_the_supervisor_is_killed(data: Path) -> None:
    cmd = [sys.executable, "-m", "mailgraph", "serve", "--port", "0", "--data-dir", str(data),
           "--log-level", "warning", "--processes", "2"]  # fmt: skip
    popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert popen.stdout is not None
        pids: list[int] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not pids:
            line = popen.stdout.readline()
            if not line:
                break
            if found := PIDS.search(line):
                pids = [int(p) for p in found.group(2).split()]
        assert pids, "no pids line"
        popen.kill()  # SIGKILL: no chance to stop them; their lifeline pipe reads EOF
        popen.wait(10)
        wait_until(lambda: not any(_alive(p) for p in pids), timeout=20)
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(10)
        if popen.stdout is not None:
            popen.stdout.close()
