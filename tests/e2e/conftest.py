"""Start `mailgraph serve` as a real process on a free loopback port, and stop it by PID."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

READY = re.compile(r"mailgraph ready: (http://\S+)")


@dataclass
class Server:
    """A running server process."""

    url: str
    process: subprocess.Popen[str]
    data_dir: Path
    startup: list[str] = field(default_factory=list)  # what it printed before its ready line


def start_server(data: Path, *extra: str) -> Server:
    """`python -m mailgraph serve --port 0` on `data`; returns once it printed its ready line."""
    cmd = [
        sys.executable,
        "-m",
        "mailgraph",
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(data),
        "--log-level",
        "warning",
        *extra,
    ]
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ}
    )
    url = None
    startup: list[str] = []
    deadline = time.monotonic() + 30
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        found = READY.search(line)
        if found:
            url = found.group(1)
            break
        startup.append(line)
    if url is None:
        process.kill()
        output = process.stdout.read()
        process.wait(5)
        process.stdout.close()
        pytest.fail(f"server did not start: {output}")
    return Server(url, process, data, startup)


def stop_server(server: Server) -> None:
    """SIGTERM the process we started (by its PID), then kill it if it does not stop in time."""
    process = server.process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture(autouse=True)
def _on_the_runs_engine(database: str | None) -> str | None:
    """Every process a test here starts runs on the run's engine: with `MAILGRAPH_TEST_DATABASE=
    postgres` the `database` fixture puts the session's database back to the template's rows and sets
    `MAILGRAPH_DATABASE` (which `serve`, `worker` and the CLI read) for the test, so the SDK suites run
    on both engines; on SQLite it does nothing."""
    return database


@pytest.fixture
def server(template_dir: Path, tmp_path: Path) -> Iterator[Server]:
    """`python -m mailgraph serve --port 0` on a copy of the test tenant's data directory."""
    data = tmp_path / "data"
    shutil.copytree(template_dir, data)
    running = start_server(data)
    try:
        yield running
    finally:
        stop_server(running)
