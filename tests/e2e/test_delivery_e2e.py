"""End to end, outbound: `python -m mailgraph serve --relay smtp://127.0.0.1:<sink>` as a real process.

- SIGKILL while the queue holds rows (the relay is down): after a restart every row is still there
  and is relayed exactly once.
- The official msgraph-sdk sends to one local and one external recipient: the local copy is in the
  Inbox and the sink receives exactly one message with the right headers.
"""

from __future__ import annotations

import asyncio
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
from typing import Any

import httpx
import pytest
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

from tests.delivery.sink import Sink, eventually, wait_until
from tests.e2e.conftest import Server
from tests.e2e.test_msgraph_sdk import _client, _user_form

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
READY = re.compile(r"mailgraph ready: (http://\S+)")
ADMIN = re.compile(r"Authorization: Bearer (\S+)\)")


class Process:
    """One `mailgraph serve` process and what its banner said."""

    def __init__(self, data: Path, *args: str) -> None:
        cmd = [sys.executable, "-m", "mailgraph", "serve", "--port", "0", "--data-dir", str(data)]
        cmd += ["--log-level", "warning", *args]
        self.popen = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ}
        )
        self.banner: list[str] = []
        assert self.popen.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("Queue admin" in line for line in self.banner):
            line = self.popen.stdout.readline()
            if not line:
                break
            self.banner.append(line)
        text = "".join(self.banner)
        url, token = READY.search(text), ADMIN.search(text)
        if url is None or token is None:
            self.kill()
            pytest.fail(f"server did not start: {text}")
        self.url, self.admin_token = url.group(1), token.group(1)

    def queue(self) -> list[dict[str, Any]]:
        r = httpx.get(
            f"{self.url}/admin/queue?limit=1000", headers={"Authorization": f"Bearer {self.admin_token}"}
        )
        assert r.status_code == 200, r.text
        value: list[dict[str, Any]] = r.json()["value"]
        return value

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


@pytest.fixture
def data(template_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(template_dir, target)
    return target


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    with contextlib.suppress(AssertionError, RuntimeError):  # already stopped by the test
        s.stop()


def _app_token(url: str) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": "full-app", "client_secret": "full-secret",
            "scope": "https://graph.microsoft.com/.default"}  # fmt: skip
    r = httpx.post(f"{url}/fabrikam.test/oauth2/v2.0/token", data=form)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_sigkill_with_a_full_queue_loses_nothing(data: Path, sink: Sink) -> None:
    sink.stop()  # the relay is down: everything stays queued
    fast = ["--retry-schedule", "0.2", "--queue-poll", "0.1", "--queue-lease", "1"]
    first = Process(data, "--relay", f"{sink.url}?timeout=5", *fast)
    try:
        assert any(f"relay to smtp://127.0.0.1:{sink.port}" in line for line in first.banner)
        auth = _app_token(first.url)
        for i in range(5):
            body = {"message": {"subject": f"survivor {i}", "body": {"contentType": "Text", "content": "x"},
                    "toRecipients": [{"emailAddress": {"address": f"r{i}@example.net"}},
                                     {"emailAddress": {"address": f"s{i}@example.org"}}]}}  # fmt: skip
            r = httpx.post(f"{first.url}/v1.0/users/alice@fabrikam.test/sendMail", json=body, headers=auth)
            assert r.status_code == 202, r.text
        wait_until(lambda: all(e["attempts"] >= 1 for e in first.queue()) and len(first.queue()) == 10)
    finally:
        first.kill(signal.SIGKILL)
    listing = subprocess.run(
        [sys.executable, "-m", "mailgraph", "queue", "list", "--data-dir", str(data)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "10 entries" in listing and "delivered" not in listing
    sink.start()
    second = Process(data, "--relay", sink.url, *fast)
    try:
        wait_until(lambda: {e["status"] for e in second.queue()} == {"delivered"}, timeout=30)
    finally:
        second.kill(signal.SIGTERM)
    got = sink.received
    assert len(got) == 10  # one transaction per message and domain, none twice
    subjects = sorted(str(r.message["Subject"]) for r in got)
    assert subjects == sorted([f"survivor {i}" for i in range(5)] * 2)
    assert len({(r.message["Message-ID"], tuple(r.rcpt_tos)) for r in got}) == 10


async def test_msgraph_sdk_local_and_external(data: Path, sink: Sink) -> None:
    process = Process(data, "--relay", sink.url)
    try:
        server = Server(process.url, process.popen, data)
        async with (
            _client(server, _user_form("alice@fabrikam.test", "alice-Passw0rd")) as alice,
            _client(server, _user_form("bob@fabrikam.test", "bob-Passw0rd")) as bob,
        ):
            body = SendMailPostRequestBody(
                message=Message(
                    subject="Both ways",
                    body=ItemBody(content_type=BodyType.Html, content="<p>Hi <b>all</b></p>"),
                    to_recipients=[
                        Recipient(email_address=EmailAddress(address="bob@fabrikam.test", name="Bob")),
                        Recipient(email_address=EmailAddress(address="dora@example.net", name="Dora")),
                    ],
                ),
                save_to_sent_items=True,
            )
            await alice.me.send_mail.post(body)
            inbox = await bob.me.mail_folders.by_mail_folder_id("inbox").messages.get()
            assert inbox is not None and inbox.value is not None
            assert [m.subject for m in inbox.value] == ["Both ways"]
            mid = inbox.value[0].internet_message_id
        (got,) = await eventually(lambda: sink.received)
        await asyncio.sleep(0.3)  # nothing else should arrive
        assert len(sink.received) == 1
        assert got.rcpt_tos == ["dora@example.net"] and got.mail_from == "alice@fabrikam.test"
        msg = got.message
        assert msg["Subject"] == "Both ways" and msg["Message-ID"] == mid
        assert "dora@example.net" in msg["To"] and "bob@fabrikam.test" in msg["To"]
        assert msg["From"].addresses[0].addr_spec == "alice@fabrikam.test"
        assert msg["Received"].startswith("from graph-api by ")
        assert msg.get_body(("html",)) is not None
    finally:
        process.kill(signal.SIGTERM)


def test_serve_without_worker_and_a_worker_process(data: Path, sink: Sink) -> None:
    server = Process(data, "--no-worker", "--relay", sink.url)
    worker: subprocess.Popen[str] | None = None
    try:
        assert any("no worker in this process" in line for line in server.banner)
        auth = _app_token(server.url)
        body = {
            "message": {
                "subject": "by worker",
                "toRecipients": [{"emailAddress": {"address": "w@example.net"}}],
            }
        }
        r = httpx.post(f"{server.url}/v1.0/users/alice@fabrikam.test/sendMail", json=body, headers=auth)
        assert r.status_code == 202, r.text
        assert [e["status"] for e in server.queue()] == ["queued"]  # nobody relays in `serve --no-worker`
        cmd = [sys.executable, "-m", "mailgraph", "worker", "--data-dir", str(data), "--relay", sink.url]
        worker = subprocess.Popen([*cmd, "--queue-poll", "0.1"], stdout=subprocess.PIPE, text=True)
        assert worker.stdout is not None
        assert "mailgraph worker ready: relay to smtp://127.0.0.1" in worker.stdout.readline()
        wait_until(lambda: [e["status"] for e in server.queue()] == ["delivered"])
        assert [str(m.message["Subject"]) for m in sink.received] == ["by worker"]
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(15) == 0
            if worker.stdout is not None:
                worker.stdout.close()
        server.kill(signal.SIGTERM)
