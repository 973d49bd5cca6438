"""The command line as a user runs it: bad tenant files, the queue listing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.conftest import Server


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailgraph", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_invalid_tenant_file_exits_2_with_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text('[tenant]\ndomains = []\n[[users]]\ndisplayName = "x"\n')
    result = run("serve", "--data-dir", str(tmp_path / "d"), "--tenant", str(bad), "--port", "0")
    assert result.returncode == 2
    assert "tenant.domains" in result.stderr and "users[0].userPrincipalName" in result.stderr


def test_queue_list_shows_external_recipients(server: Server) -> None:
    token = httpx.post(
        f"{server.url}/fabrikam.test/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "full-app",
            "client_secret": "full-secret",
            "scope": "https://graph.microsoft.com/.default",
        },
    ).json()["access_token"]
    message = {"subject": "Out there", "toRecipients": [{"emailAddress": {"address": "ana@example.org"}}]}
    r = httpx.post(
        f"{server.url}/v1.0/users/alice@fabrikam.test/sendMail",
        json={"message": message},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 202
    result = run("queue", "list", "--data-dir", str(server.data_dir))
    assert result.returncode == 0, result.stderr
    assert "ana@example.org" in result.stdout and "Out there" in result.stdout
