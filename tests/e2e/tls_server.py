"""Start `mailgraph serve --tls` as a real process, on port 443 of a private loopback address if possible.

MSAL Python's password flow calls `https://<host>/common/userrealm/…` with the authority's port dropped
(client-wire fact 9), so the password grant through MSAL works only on port 443. Each fixture picks a
random 127.x.y.z address (the whole 127/8 is loopback on Linux), so parallel runs never collide on
port 443; where binding port 443 is not allowed it falls back to a free port and `port443` is False.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailgraph.config import Settings
from mailgraph.wiring import build
from tests import pgdb
from tests.conftest import ON_POSTGRES, TENANT_FILE

READY = re.compile(r"mailgraph ready: (https://\S+)")


@dataclass
class TlsServer:
    """A running `serve --tls` process."""

    url: str  # https://host[:port]
    host: str
    ca: Path
    data_dir: Path
    port443: bool
    process: subprocess.Popen[str]
    database: str | None = None  # its own PostgreSQL database (dropped by `stop`), on that engine's run


def _pick_address() -> tuple[str, int]:
    for _ in range(20):
        host = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        probe = socket.socket()
        try:
            probe.bind((host, 443))
            return host, 443
        except PermissionError:
            return "127.0.0.1", 0
        except OSError:
            continue
        finally:
            probe.close()
    return "127.0.0.1", 0


def _own_database(data: Path) -> str:
    """A database of its own with the test tenant (on `MAILGRAPH_TEST_DATABASE=postgres`): a server
    shared by a module outlives the per-test resets of the session's database."""
    name = pgdb.create(prefix="mg_tls")

    async def seed() -> None:
        runtime = await build(Settings(data_dir=data, tenant_file=TENANT_FILE, database=pgdb.url_of(name)))
        await runtime.engine.close()

    pgdb.run(seed)
    return name


def start_tls_server(
    template_dir: Path, root: Path, prepare: Callable[[Path, str | None], None] | None = None
) -> TlsServer:
    """Copy the test tenant's data dir (then `prepare(data_dir, database URL or None)`) and run
    `serve --tls --no-http` on it, on the run's engine."""
    data = root / "data"
    shutil.copytree(template_dir, data)
    name = _own_database(data) if ON_POSTGRES else None
    database = None if name is None else pgdb.url_of(name)
    if prepare is not None:
        prepare(data, database)
    host, port = _pick_address()
    cmd = [sys.executable, "-m", "mailgraph", "serve", "--data-dir", str(data), "--log-level", "warning"]
    if database is not None:
        cmd += ["--database", database]
    cmd += ["--host", host, "--tls", "--no-http", "--tls-port", str(port), "--tls-name", host]
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ}
    )
    assert process.stdout is not None
    url = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if found := READY.search(line):
            url = found.group(1)
            break
    if url is None:
        process.kill()
        output = process.stdout.read()
        process.wait(5)
        process.stdout.close()
        pytest.fail(f"server did not start: {output}")
    if url.endswith(":443"):  # the authority as users write it: no default port
        url = url[: -len(":443")]
    return TlsServer(url, host, data / "tls" / "ca.crt.pem", data, port == 443, process, name)


def stop(server: TlsServer) -> None:
    """SIGTERM the process (by PID), then kill it if it does not stop."""
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(5)
    assert server.process.stdout is not None
    server.process.stdout.close()
    if server.database is not None:
        pgdb.drop(server.database)


@pytest.fixture(scope="module")
def tls_server(template_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """One `serve --tls` process shared by a test module."""
    server = start_tls_server(template_dir, tmp_path_factory.mktemp("tls"))
    try:
        yield server
    finally:
        stop(server)
