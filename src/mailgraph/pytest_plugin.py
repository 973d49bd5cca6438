"""The pytest plugin (entry point `pytest11`): a mailgraph server per test session, a tenant per test.

    def test_signup_mail(mailgraph_tenant):
        my_app.send_welcome(graph_url=mailgraph_tenant.graph_url, **mailgraph_tenant.app_credentials)
        message = mailgraph_tenant.wait_for_message(mailbox="bob", subject="Welcome")
        assert "Hello" in message["body"]["content"]

Fixtures:
- `mailgraph_server` (session): starts `python -m mailgraph serve` on a free loopback port with a
  temporary data dir, a random admin token and `--durability normal` (no fsync per commit: the data
  dir is gone when the session ends), or uses a running server given by `--mailgraph-url`
  / `MAILGRAPH_URL` (with `--mailgraph-admin-token` / `MAILGRAPH_ADMIN_TOKEN`). Under pytest-xdist
  each worker has its own session, so its own server: workers share nothing.
- `mailgraph_tenant` (function): a fresh ephemeral tenant (`POST /_mailgraph/tenants`), deleted
  after the test, with helpers: tokens, `graph_client()` (msgraph-sdk, when installed),
  `wait_for_message`, `sent`, `seed`, `reset`.

Everything goes through the public control API with the standard library's HTTP client, so the
plugin works against any mailgraph, local or remote, and adds no dependency to a test suite.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

_READY = re.compile(r"mailgraph ready: (http://[^\s\"]+)")  # text banner, or a JSON log line
_GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class MailgraphError(AssertionError):
    """A control API call failed (an AssertionError, so pytest shows it as a test failure)."""


class MailgraphServer:
    """A mailgraph server and its control API (`/_mailgraph`)."""

    def __init__(self, url: str, admin_token: str) -> None:
        self.url = url.rstrip("/")
        self.admin_token = admin_token

    def request(
        self, method: str, path: str, body: Any = None, *, timeout: float = 30, raw: bool = False
    ) -> Any:
        """One control API call; the decoded JSON (or bytes with `raw`). Raises MailgraphError."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 - our URL
        req.add_header("Authorization", f"Bearer {self.admin_token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as answer:  # noqa: S310
                payload = answer.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise MailgraphError(f"{method} {path} → {exc.code}: {detail}") from None
        if raw:
            return payload
        return json.loads(payload) if payload else None

    def create_tenant(self, **spec: Any) -> Tenant:
        """A new ephemeral tenant (`template="default"`, users alice and bob, one app)."""
        return Tenant(self, self.request("POST", "/_mailgraph/tenants", spec))

    def token(self, form: dict[str, str], tenant_id: str) -> str:
        """An access token from the tenant's token endpoint (any OAuth grant form)."""
        data = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(f"{self.url}/{tenant_id}/oauth2/v2.0/token", data=data, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=30) as answer:  # noqa: S310
                return str(json.loads(answer.read())["access_token"])
        except urllib.error.HTTPError as exc:
            raise MailgraphError(f"token request failed: {exc.read().decode('utf-8', 'replace')}") from None


@dataclass
class Tenant:
    """An ephemeral tenant as `POST /_mailgraph/tenants` described it, with test helpers."""

    server: MailgraphServer
    info: dict[str, Any]
    users: dict[str, dict[str, Any]] = field(init=False)
    """By local part (`alice`): id, userPrincipalName, mail, password."""

    def __post_init__(self) -> None:
        self.users = {u["userPrincipalName"].split("@")[0]: u for u in self.info["users"]}

    @property
    def id(self) -> str:
        """The tenant id (the `tid` of its tokens)."""
        return str(self.info["id"])

    @property
    def domain(self) -> str:
        """The tenant's default domain."""
        return str(self.info["domains"][0])

    @property
    def graph_url(self) -> str:
        """Graph's base URL (`…/v1.0`)."""
        return str(self.info["graphUrl"])

    @property
    def token_url(self) -> str:
        """The tenant's OAuth 2.0 token endpoint."""
        return str(self.info["tokenUrl"])

    @property
    def app_credentials(self) -> dict[str, str]:
        """`tenant_id`, `client_id`, `client_secret` of the tenant's app."""
        app = self.info["apps"][0]
        return {"tenant_id": self.id, "client_id": app["clientId"], "client_secret": app["clientSecret"]}

    def address(self, user: str) -> str:
        """`alice` → alice's address."""
        return str(self.users[user]["mail"]) if user in self.users else user

    def app_token(self) -> str:
        """An app-only access token (client credentials)."""
        c = self.app_credentials
        form = {
            "grant_type": "client_credentials",
            "client_id": c["client_id"],
            "client_secret": c["client_secret"],
            "scope": _GRAPH_SCOPE,
        }
        return self.server.token(form, self.id)

    def user_token(self, user: str, scopes: str = "Mail.ReadWrite Mail.Send") -> str:
        """A delegated access token of `user` (password grant)."""
        c = self.app_credentials
        form = {
            "grant_type": "password", "client_id": c["client_id"], "client_secret": c["client_secret"],
            "username": self.users[user]["userPrincipalName"], "password": self.users[user]["password"],
            "scope": " ".join(f"https://graph.microsoft.com/{s}" for s in scopes.split()),
        }  # fmt: skip
        return self.server.token(form, self.id)

    def graph_client(self, user: str | None = None) -> Any:
        """A msgraph-sdk `GraphServiceClient` pointed at this server: app-only, or delegated as `user`.

        Needs msgraph-sdk and azure-core installed (the plugin itself does not depend on them).
        """
        from azure.core.credentials import AccessToken
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from msgraph.graph_request_adapter import GraphRequestAdapter
        from msgraph.graph_service_client import GraphServiceClient

        tenant = self

        class _Credential:
            async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
                token = tenant.app_token() if user is None else tenant.user_token(user)
                return AccessToken(token, int(time.time()) + 3000)

            async def close(self) -> None:
                return None

        host = urllib.parse.urlsplit(self.server.url).hostname or "127.0.0.1"
        auth = AzureIdentityAuthenticationProvider(_Credential(), scopes=[_GRAPH_SCOPE], allowed_hosts=[host])  # type: ignore[arg-type]
        adapter = GraphRequestAdapter(auth)
        adapter.base_url = self.graph_url
        return GraphServiceClient(request_adapter=adapter)

    def _query(self, **filters: Any) -> str:
        names = {"internet_message_id": "internetMessageId", "from_": "from", "sender": "from", "to": "to"}
        params = {names.get(k, k): (self.address(v) if k in ("mailbox", "from_", "sender", "to") else v)
                  for k, v in filters.items() if v is not None}  # fmt: skip
        return urllib.parse.urlencode(params)

    def messages(self, **filters: Any) -> list[dict[str, Any]]:
        """Messages matching `mailbox`, `folder`, `subject`, `from_`, `to`, `internet_message_id` now."""
        return list(
            self.server.request("GET", f"/_mailgraph/tenants/{self.id}/messages?{self._query(**filters)}")[
                "value"
            ]
        )

    def wait_for_message(self, timeout: float = 10.0, **filters: Any) -> dict[str, Any]:
        """The newest message matching the filters, as soon as it exists (woken by the server's commit).

        Raises MailgraphError when none arrived within `timeout` seconds."""
        path = f"/_mailgraph/tenants/{self.id}/messages/wait?{self._query(timeout=timeout, **filters)}"
        return dict(self.server.request("GET", path, timeout=timeout + 30)["value"][0])

    def sent(self, timeout: float = 10.0, **filters: Any) -> dict[str, Any]:
        """The newest outbound (relayed or captured) message matching the filters, waiting up to `timeout`."""
        path = f"/_mailgraph/tenants/{self.id}/outbound/wait?{self._query(timeout=timeout, **filters)}"
        return dict(self.server.request("GET", path, timeout=timeout + 30)["value"][0])

    def send_report(self, key: str) -> dict[str, Any]:
        """What became of a send (by draft id, Sent Items id or internetMessageId)."""
        return dict(
            self.server.request(
                "GET", f"/_mailgraph/tenants/{self.id}/sends/{urllib.parse.quote(key, safe='')}"
            )
        )

    def seed(self, *messages: dict[str, Any]) -> list[dict[str, Any]]:
        """Write messages straight into folders (`{"mailbox": "alice", "message": {...}}`)."""
        return list(
            self.server.request(
                "POST", f"/_mailgraph/tenants/{self.id}/messages", {"messages": list(messages)}
            )["value"]
        )

    def reset(self, to: str = "empty") -> None:
        """Empty every mailbox (`to="seed"`: and write the tenant's seed again)."""
        self.server.request("POST", f"/_mailgraph/tenants/{self.id}/reset", {"to": to})

    def delete(self) -> None:
        """Remove the tenant and all its data."""
        self.server.request("DELETE", f"/_mailgraph/tenants/{self.id}")


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--mailgraph-url` and `--mailgraph-admin-token`."""
    group = parser.getgroup("mailgraph")
    group.addoption(
        "--mailgraph-url",
        default=None,
        help="use a running mailgraph (default: start one; env MAILGRAPH_URL)",
    )
    group.addoption(
        "--mailgraph-admin-token", default=None, help="its admin token (env MAILGRAPH_ADMIN_TOKEN)"
    )


@pytest.fixture(scope="session")
def mailgraph_server(request: pytest.FixtureRequest) -> Iterator[MailgraphServer]:
    """A mailgraph server for the session: the one named by --mailgraph-url, or a fresh process."""
    url = request.config.getoption("--mailgraph-url") or os.environ.get("MAILGRAPH_URL")
    if url:
        token = request.config.getoption("--mailgraph-admin-token") or os.environ.get("MAILGRAPH_ADMIN_TOKEN")
        if not token:
            pytest.fail("--mailgraph-url needs --mailgraph-admin-token (or MAILGRAPH_ADMIN_TOKEN)")
        yield MailgraphServer(url, token)
        return
    with tempfile.TemporaryDirectory(prefix="mailgraph-") as data:
        token = secrets.token_urlsafe(24)
        process, url = _start(data, token)
        try:
            yield MailgraphServer(url, token)
        finally:
            _stop(process)


@pytest.fixture
def mailgraph_tenant(mailgraph_server: MailgraphServer) -> Iterator[Tenant]:
    """A fresh ephemeral tenant for one test, deleted afterwards."""
    tenant = mailgraph_server.create_tenant()
    try:
        yield tenant
    finally:
        tenant.delete()


def _start(data: str, token: str) -> tuple[subprocess.Popen[str], str]:
    """`python -m mailgraph serve` on a free loopback port; returns once it printed its ready line."""
    cmd = [sys.executable, "-m", "mailgraph", "serve", "--host", "127.0.0.1", "--port", "0",
           "--data-dir", data, f"--admin-token={token}", "--log-level", "warning",
           "--durability", "normal"]  # fmt: skip
    # (`=`: a random token may start with "-", which argparse would take for an option.)
    # `normal`: commits survive the server process crashing, not a power cut — and the data dir is a
    # temporary directory removed when the session ends, so syncing every commit to disk (`full`,
    # serve's default) would buy nothing and cost every test's tenant create, seed and send an fsync.
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = _READY.search(line)
        if found:
            # Keep draining its output, or a chatty server would block on a full pipe.
            import threading

            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, found.group(1)
    _stop(process)
    pytest.fail("mailgraph did not start:\n" + "".join(seen))


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM the server this plugin started (by its PID), then SIGKILL if it does not stop."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
