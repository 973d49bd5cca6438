"""`mailgraph serve` operations (issue 14): JSON log lines for app and access logs, and the start-up
banner printing the credentials of the tenant actually loaded (not the demo's)."""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from mailgraph.cli.banner import credential_lines
from mailgraph.cli.logs import JsonLines
from tests.e2e.test_delivery_e2e import Process

TENANT_FILE = Path(__file__).parent.parent / "tenant.toml"
pytestmark = [pytest.mark.e2e]


class _Output:
    """The merged output of a process, line by line, read on a thread (so waits can be bounded)."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(popen,), daemon=True).start()

    def _read(self, popen: subprocess.Popen[str]) -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            self._lines.put(line)

    def until(self, text: str, deadline: float) -> list[str]:
        """Lines up to the first that contains `text`."""
        got: list[str] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            got.append(line)
            if text in line:
                return got
        pytest.fail(f"no line with {text!r} in: {''.join(got)}")


def test_json_log_format_gives_json_lines_for_app_access_and_banner(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "mailgraph", "serve", "--port", "0", "--data-dir", str(tmp_path / "d"),
           "--tenant", str(TENANT_FILE), "--log-format", "json", "--access-log",
           "--smtp-port", "0", "--submission-port", "0"]  # fmt: skip
    popen = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ}
    )
    try:
        deadline, output = time.monotonic() + 60, _Output(popen)
        startup = output.until("Queue admin", deadline)
        records = [json.loads(line) for line in startup]  # every line is one JSON object
        assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
        banner = [r["message"] for r in records if r["logger"] == "mailgraph.banner"]
        url = next(m.split(": ", 1)[1] for m in banner if m.startswith("mailgraph ready: "))
        assert any("client_id=full-app -d client_secret=full-secret" in m for m in banner)
        assert not any("mailgraph-demo" in m for m in banner)
        assert any(m.startswith("mailgraph SMTP: smtp://") for m in banner)  # the SMTP lines too
        assert any(m.startswith("mailgraph SMTP submission: smtp://") for m in banner)
        assert any(r["logger"].startswith("uvicorn") for r in records)
        assert httpx.get(f"{url}/health?probe=1", timeout=30).status_code == 200
        access = json.loads(output.until("/health?probe=1", deadline)[-1])
        assert access["logger"] == "uvicorn.access"
        assert (access["method"], access["path"], access["status"]) == ("GET", "/health?probe=1", 200)
    finally:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(15)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)


def test_banner_prints_the_loaded_tenants_credentials(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Process(data, "--tenant", str(TENANT_FILE))
    try:
        banner = "".join(server.banner)
        assert "client_id=full-app -d client_secret=full-secret" in banner, banner
        assert "Fabrikam (tests), from " + str(TENANT_FILE) in banner
        assert "alice@fabrikam.test (password alice-Passw0rd)" in banner
        assert "mailgraph-demo" not in banner and "demo-secret" not in banner
        assert f"{server.url}/fabrikam.test/oauth2/v2.0/token" in banner
    finally:
        server.kill(signal.SIGTERM)
    # The same data dir without --tenant: the stored tenant, whose secrets only the file knows.
    again = Process(data)
    try:
        banner = "".join(again.banner)
        assert "from the data directory" in banner and "full-app" in banner, banner
        assert "client_secret=<client secret>" in banner and "demo-secret" not in banner
    finally:
        again.kill(signal.SIGTERM)


def test_demo_banner_and_placeholder_lines() -> None:
    lines = credential_lines(None, "the data directory", [], "http://h/t/oauth2/v2.0/token")
    assert "client_id=<client id> -d client_secret=<client secret>" in "\n".join(lines)


def test_json_lines_formatter_fields() -> None:
    access = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "POST", "/v1.0/me/sendMail", "1.1", 202), None)  # fmt: skip
    line = json.loads(JsonLines().format(access))
    assert line["message"] == '127.0.0.1:5 - "POST /v1.0/me/sendMail HTTP/1.1" 202'
    assert (line["client"], line["method"], line["path"], line["httpVersion"], line["status"]) == (
        "127.0.0.1:5", "POST", "/v1.0/me/sendMail", "1.1", 202)  # fmt: skip
    assert line["time"].endswith("Z") and line["level"] == "INFO"
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("mailgraph.x", logging.ERROR, "", 0, "failed: %s", ("é",), sys.exc_info())
    out = JsonLines().format(failed)
    assert "\n" not in out and json.loads(out)["exception"].endswith("ValueError: boom")
    assert json.loads(out)["message"] == "failed: é"
