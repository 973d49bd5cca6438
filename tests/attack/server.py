"""A real `mailgraph serve` process for the attack suite (issue 17): test tenant, admin token, real tokens.

Shared by the fuzzing slice (tests/attack/test_fuzz_openapi.py), the resource-exhaustion tests and
`bench/fuzz.py`. The process is ours: stopped by its PID (tests/e2e/conftest.py `stop_server`).
"""

from __future__ import annotations

import collections
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.e2e.conftest import Server, start_server, stop_server

TENANT = Path(__file__).resolve().parents[1] / "tenant.toml"
ADMIN_TOKEN = "attack-admin-token-0123456789"
DOMAIN = "fabrikam.test"


@dataclass
class Target:
    """A running server and the credentials an attacker's control group holds."""

    server: Server
    admin: dict[str, str]
    app: dict[str, str]
    """An application token with every Mail permission of the test app."""
    user: dict[str, str]
    """alice's delegated token (Mail.ReadWrite, Mail.Send)."""
    log: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=2000))
    """The server's last output lines (drained all along, so a chatty log never blocks the server)."""

    @property
    def url(self) -> str:
        return self.server.url


def token(url: str, **form: str) -> str:
    """An access token from the server's own token endpoint."""
    r = httpx.post(f"{url}/{DOMAIN}/oauth2/v2.0/token", data=form, timeout=30)
    assert r.status_code == 200, r.text
    value: str = r.json()["access_token"]
    return value


@contextmanager
def running(*extra: str) -> Iterator[Target]:
    """Start `mailgraph serve` on a fresh data dir with the test tenant; yield it; stop it by PID."""
    data = Path(tempfile.mkdtemp(prefix="mailgraph-attack-"))
    server = start_server(data, "--tenant", str(TENANT), "--admin-token", ADMIN_TOKEN, *extra)
    log: collections.deque[str] = collections.deque(maxlen=2000)

    def drain() -> None:
        assert server.process.stdout is not None
        try:
            for line in server.process.stdout:
                log.append(line)
        except (ValueError, OSError):  # closed by stop_server
            return

    threading.Thread(target=drain, daemon=True).start()
    try:
        app = token(
            server.url,
            grant_type="client_credentials",
            client_id="full-app",
            client_secret="full-secret",
            scope="https://graph.microsoft.com/.default",
        )
        user = token(
            server.url,
            grant_type="password",
            client_id="full-app",
            client_secret="full-secret",
            username="alice@fabrikam.test",
            password="alice-Passw0rd",
            scope="https://graph.microsoft.com/Mail.ReadWrite https://graph.microsoft.com/Mail.Send",
        )
        yield Target(
            server,
            {"Authorization": f"Bearer {ADMIN_TOKEN}"},
            {"Authorization": f"Bearer {app}"},
            {"Authorization": f"Bearer {user}"},
            log,
        )
    finally:
        stop_server(server)
        shutil.rmtree(data, ignore_errors=True)
