"""The workbench commands against a real server: create, seed a .eml, wait, inspect, reset, delete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e
TOKEN = "cli-test-admin-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("cli") / "data", "--admin-token", TOKEN)
    yield running
    stop_server(running)


def _cli(server: Server, *args: str) -> tuple[int, Any]:
    env = {**os.environ, "MAILGRAPH_URL": server.url, "MAILGRAPH_ADMIN_TOKEN": TOKEN}
    done = subprocess.run(
        [sys.executable, "-m", "mailgraph", *args], capture_output=True, text=True, env=env, timeout=120
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else done.stderr


def test_workbench_commands(server: Server, tmp_path: Path) -> None:
    code, tenant = _cli(server, "tenants", "create", "--template", "single", "--name", "CLI")
    assert code == 0 and tenant["displayName"] == "CLI" and len(tenant["users"]) == 1
    tid = tenant["id"]
    eml = tmp_path / "hello.eml"
    eml.write_text(
        "From: far@example.net\r\nSubject: Seeded by CLI\r\nMessage-ID: <cli-1@example.net>\r\n\r\nhi\r\n"
    )
    code, seeded = _cli(server, "seed", tid, str(eml), "--mailbox", "alice", "--folder", "inbox")
    assert code == 0 and seeded["value"][0]["subject"] == "Seeded by CLI"
    code, found = _cli(server, "wait", tid, "--subject", "seeded", "--timeout", "5")
    assert code == 0 and found["value"][0]["internetMessageId"] == "<cli-1@example.net>"
    code, inspected = _cli(server, "inspect", tid, "<cli-1@example.net>")
    assert code == 0 and inspected["sentItem"] is None and len(inspected["deliveries"]) == 1
    code, _ = _cli(server, "wait", tid, "--subject", "never", "--timeout", "0.2")
    assert code == 1  # timed out: a script can branch on it
    code, reset = _cli(server, "reset", tid)
    assert code == 0 and reset["deletedMessages"] == 1
    code, listed = _cli(server, "messages", tid)
    assert code == 0 and listed["value"] == []
    assert _cli(server, "tenants", "delete", tid)[0] == 0
    code, tenants = _cli(server, "tenants", "list")
    assert code == 0 and tid not in {t["id"] for t in tenants["value"]}
