"""Fixtures of the SMTP submission tests: the real server with submission ports on 127.0.0.1 (port 0).

The data directory is built once from `tests/submission/tenant.toml` (SMTP permissions, send-as, an
access policy). Tokens come from the real token endpoint through the ASGI app (`api`), exactly as a
client gets them. smtplib and Django are blocking: they run in a worker thread (`in_thread`) while the
listener runs on the test's event loop.
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailgraph.certs import tls_dir
from mailgraph.config import Settings
from mailgraph.smtpd.submission import SubmissionHandler
from mailgraph.smtpd.throttle import AuthThrottle, ThrottlePolicy
from mailgraph.wiring import Runtime, build
from tests.conftest import build_template, session_database
from tests.smtp.conftest import TIMEOUT

TENANT_FILE = Path(__file__).with_name("tenant.toml")
TOKEN_URL = "/fabrikam.test/oauth2/v2.0/token"
SMTP_SEND = "https://outlook.office.com/SMTP.Send"
OUTLOOK_DEFAULT = "https://outlook.office.com/.default"
PASSWORDS = {"alice": "alice-Passw0rd", "bob": "bob-Passw0rd", "eve": "eve-Passw0rd"}
# The tests fail AUTH on purpose many times from 127.0.0.1: the throttle stays out of their way
# except where a test sets its own policy.
LENIENT = ThrottlePolicy(slow_after=1000, refuse_after=1000)


@pytest.fixture(scope="session")
def template_database() -> Iterator[str | None]:
    """On PostgreSQL: a database of this suite's own (its tenant is not the shared one)."""
    yield from session_database("mg_sub")


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory, template_database: str | None) -> Path:
    """A data directory with the submission tenant applied (built once; overrides the shared one)."""
    path = tmp_path_factory.mktemp("submission-template") / "data"
    return build_template(path, TENANT_FILE, template_database)


def submission_handler(runtime: Runtime) -> SubmissionHandler:
    assert runtime.smtp is not None and isinstance(runtime.smtp.submission, SubmissionHandler)
    return runtime.smtp.submission


@pytest.fixture
async def runtime(data_dir: Path, database: str | None) -> AsyncIterator[Runtime]:
    """The server with submission on free ports (STARTTLS and implicit TLS), started, on the run's engine."""
    rt = await build(Settings(data_dir=data_dir, submission_port=0, submission_tls_port=0, database=database))
    assert rt.smtp is not None
    submission_handler(rt).throttle = AuthThrottle(LENIENT)
    await rt.smtp.start()
    yield rt
    await rt.smtp.close()
    await rt.engine.close()


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response, before base64 (smtplib encodes it)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


@dataclass
class Submission:
    """Where the submission listeners are and how to trust their certificate."""

    port: int
    tls_port: int
    tls: ssl.SSLContext
    ca_file: str

    @contextmanager
    def connect(self) -> Iterator[smtplib.SMTP]:
        """A plain session on the STARTTLS port, EHLO sent."""
        client = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test", timeout=TIMEOUT)
        try:
            client.ehlo()
            yield client
        finally:
            client.close()

    @contextmanager
    def secure(self) -> Iterator[smtplib.SMTP]:
        """A session upgraded with STARTTLS (certificate verified), EHLO sent again."""
        with self.connect() as client:
            client.starttls(context=self.tls)
            client.ehlo()
            yield client

    @contextmanager
    def signed_in(self, user: str, token: str) -> Iterator[smtplib.SMTP]:
        """A STARTTLS session authenticated with XOAUTH2 (fails the test if AUTH fails)."""
        with self.secure() as client:
            code, _ = client.auth("XOAUTH2", lambda challenge=None: xoauth2(user, token))
            assert code == 235
            yield client


@pytest.fixture
def submission(runtime: Runtime, data_dir: Path) -> Submission:
    """The submission listeners of `runtime` and a client TLS context trusting the data dir's CA."""
    assert runtime.smtp is not None
    ca = str(tls_dir(data_dir) / "ca.crt.pem")
    context = ssl.create_default_context(cafile=ca)
    return Submission(runtime.smtp.ports["submission"], runtime.smtp.ports["submissions"], context, ca)


async def token(api: httpx.AsyncClient, **form: str) -> dict[str, Any]:
    """A token response of our token endpoint (asserting success)."""
    r = await api.post(TOKEN_URL, data=form)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def user_token(
    api: httpx.AsyncClient, user: str, scope: str = SMTP_SEND, client: str = "smtp-client"
) -> str:
    """A delegated token by the password grant (public client, as a script would ask for it)."""
    body = await token(
        api,
        grant_type="password",
        client_id=client,
        username=f"{user}@fabrikam.test",
        password=PASSWORDS[user],
        scope=f"{scope} offline_access",
    )
    return str(body["access_token"])


async def app_token(api: httpx.AsyncClient, scope: str = OUTLOOK_DEFAULT, client: str = "smtp-client") -> str:
    """An app-only token by client credentials."""
    secret = {"smtp-client": "smtp-secret", "graph-only": "graph-secret"}[client]
    body = await token(
        api, grant_type="client_credentials", client_id=client, client_secret=secret, scope=scope
    )
    return str(body["access_token"])


def claims_of(jwt: str) -> dict[str, Any]:
    """A JWT's payload, unverified (to look at what the endpoint issued)."""
    import orjson

    payload = jwt.split(".")[1]
    parsed: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return parsed


async def graph_headers(api: httpx.AsyncClient) -> dict[str, str]:
    """Graph app-only headers that read every mailbox (the graph-only app has no access policy)."""
    return {
        "Authorization": "Bearer "
        + await app_token(api, "https://graph.microsoft.com/.default", "graph-only")
    }
