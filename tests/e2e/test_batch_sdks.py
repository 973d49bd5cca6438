"""`$batch` and throttling end to end with the official SDKs against a real `mailgraph serve` process.

- graph-client JS (`BatchRequestContent`): tests/e2e/js/batch_e2e.mjs, run here with node; skipped only
  when node is absent outside CI (in CI, .ci/run's `./dev test` needs node and npm on the machine).
- msgraph-sdk Python (`BatchRequestContent`): what it sends today (absolute urls, `depends_on` in snake
  case) gets Graph's answers: each item 400 "Resource not found for the segment 'http:'." (docs/batching.md).
- The msgraph-sdk's retry handler completes work that meets 429 MailboxConcurrency (`--throttle`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_item import BatchRequestItem

from tests.e2e.conftest import Server, start_server, stop_server
from tests.e2e.test_msgraph_sdk import _client, _user_form

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
JS = Path(__file__).with_name("js")


def _token(server: Server) -> str:
    form = {**_user_form("alice@fabrikam.test", "alice-Passw0rd")}
    r = httpx.post(f"{server.url}/fabrikam.test/oauth2/v2.0/token", data=form)
    r.raise_for_status()
    return str(r.json()["access_token"])


def test_graph_client_js_batch_request_content(server: Server) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI", "false") == "true":
            pytest.fail("node and npm are required in CI")
        pytest.skip("node is not installed")
    if not (JS / "node_modules" / "@microsoft" / "microsoft-graph-client").exists():
        subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=JS, check=True, timeout=300)
    env = {**os.environ, "MAILGRAPH_URL": server.url, "MAILGRAPH_TOKEN": _token(server)}
    done = subprocess.run(
        [node, "batch_e2e.mjs"], cwd=JS, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "batch e2e ok" in done.stdout


async def test_msgraph_sdk_python_batch_gets_graphs_answers(server: Server) -> None:
    async with _client(server, _user_form("alice@fabrikam.test", "alice-Passw0rd")) as alice:
        content = BatchRequestContent()
        first = BatchRequestItem(alice.me.mail_folders.to_get_request_information(), id="1")
        second = BatchRequestItem(alice.me.messages.to_get_request_information(), id="2", depends_on=["1"])
        content.add_request("1", first)
        content.add_request("2", second)
        # msgraph-core 1.5.2 sends relative urls; its `depends_on` is snake case, which Graph ignores:
        # the two items run as a parallel batch (both 200).
        answer = await alice.batch.post(content)
        assert {k: v.status for k, v in answer.responses.items()} == {"1": 200, "2": 200}
        # Older msgraph-core releases (≤ 1.5.1, issue #1116) send the absolute url: Graph's per-item 400.
        for item in (first, second):
            item.url = f"{server.url}/v1.0{item.url}"
        old = BatchRequestContent()
        old.add_request("1", first)
        old.add_request("2", second)
        answer = await alice.batch.post(old)
        assert {k: v.status for k, v in answer.responses.items()} == {"1": 400, "2": 400}


async def test_sdk_retry_handler_recovers_from_mailbox_concurrency(
    template_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(template_dir, data)
    server = start_server(data, "--throttle", "exchange-online")
    try:
        token = (data / "admin-token").read_text().strip()
        slow = {"method": "GET", "route": "*/mailfolders/inbox", "latencyMs": 300}
        async with httpx.AsyncClient() as control:
            r = await control.post(
                f"{server.url}/_mailgraph/faults", json=slow, headers={"Authorization": f"Bearer {token}"}
            )
        assert r.status_code == 201
        async with _client(server, _user_form("alice@fabrikam.test", "alice-Passw0rd")) as alice:
            folders = await asyncio.gather(
                *(alice.me.mail_folders.by_mail_folder_id("inbox").get() for _ in range(8))
            )
        assert all(f is not None and f.display_name == "Inbox" for f in folders)
    finally:
        stop_server(server)
