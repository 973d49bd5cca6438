"""TLS and AUTH to the relay: STARTTLS and implicit TLS, certificates checked unless told otherwise."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from mailgraph.certs import TlsFiles, ensure_server_cert
from mailgraph.wiring import Runtime
from tests.conftest import TokenFor
from tests.delivery.conftest import MakeWorker
from tests.delivery.helpers import entries, mail, send
from tests.delivery.sink import Sink


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A local CA and a certificate for 127.0.0.1."""
    return ensure_server_cert(tmp_path_factory.mktemp("relay-tls"))


def _server_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    return context


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"relay-user", b"p@ss:word")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends the 535 itself


@pytest.fixture
def starttls_sink(tls_files: TlsFiles) -> Iterator[Sink]:
    """A submission relay: STARTTLS required, AUTH required (only after TLS)."""
    s = Sink(
        tls_context=_server_context(tls_files),
        require_starttls=True,
        auth_required=True,
        authenticator=_authenticator,
    )
    yield s
    with contextlib.suppress(AssertionError, RuntimeError):
        s.stop()


@pytest.fixture
def smtps_sink(tls_files: TlsFiles) -> Iterator[Sink]:
    """Implicit TLS (port-465 style)."""
    s = Sink(ssl_context=_server_context(tls_files))
    yield s
    with contextlib.suppress(AssertionError, RuntimeError):
        s.stop()


def _url(scheme: str, sink: Sink, query: str, user: str = "relay-user:p%40ss%3Aword@") -> str:
    return f"{scheme}://{user}127.0.0.1:{sink.port}{query}"


async def test_starttls_and_auth_with_the_ca_delivers(
    api: httpx.AsyncClient,
    token_for: TokenFor,
    runtime: Runtime,
    starttls_sink: Sink,
    tls_files: TlsFiles,
    make_worker: MakeWorker,
) -> None:
    await send(api, token_for(), mail(["far@example.net"]))
    worker = make_worker(relay=_url("smtp+starttls", starttls_sink, f"?ca={tls_files.ca_cert}"))
    assert await worker.run_once() == 1
    assert [e.status for e in await entries(runtime)] == ["delivered"]
    assert len(starttls_sink.received) == 1


async def test_an_untrusted_certificate_defers_by_default(
    api: httpx.AsyncClient,
    token_for: TokenFor,
    runtime: Runtime,
    starttls_sink: Sink,
    make_worker: MakeWorker,
) -> None:
    await send(api, token_for(), mail(["far@example.net"]))
    worker = make_worker(relay=_url("smtp+starttls", starttls_sink, ""))
    assert await worker.run_once() == 1
    (entry,) = await entries(runtime)
    assert entry.status == "deferred" and "CERTIFICATE_VERIFY_FAILED" in (entry.last_reply_text or "")
    assert starttls_sink.received == []
    relaxed = make_worker(relay=_url("smtp+starttls", starttls_sink, "?verify=false"))
    await runtime.engine.write(lambda tx: tx.outbox.retry(0, 2**62, ["deferred"], []))
    assert await relaxed.run_once() == 1
    assert [e.status for e in await entries(runtime)] == ["delivered"]


async def test_wrong_credentials_defer_with_the_reply_visible(
    api: httpx.AsyncClient,
    token_for: TokenFor,
    runtime: Runtime,
    starttls_sink: Sink,
    tls_files: TlsFiles,
    make_worker: MakeWorker,
) -> None:
    await send(api, token_for(), mail(["far@example.net"]))
    url = _url("smtp+starttls", starttls_sink, f"?ca={tls_files.ca_cert}", user="relay-user:wrong@")
    assert await make_worker(relay=url).run_once() == 1
    (entry,) = await entries(runtime)
    # A configuration problem must not bounce mail: deferred until the credentials are fixed.
    assert entry.status == "deferred" and "535" in (entry.last_reply_text or "")


async def test_implicit_tls(
    api: httpx.AsyncClient,
    token_for: TokenFor,
    runtime: Runtime,
    smtps_sink: Sink,
    tls_files: TlsFiles,
    make_worker: MakeWorker,
) -> None:
    await send(api, token_for(), mail(["far@example.net"]))
    worker = make_worker(relay=_url("smtps", smtps_sink, f"?ca={tls_files.ca_cert}", user=""))
    assert await worker.run_once() == 1
    assert [e.status for e in await entries(runtime)] == ["delivered"]
    assert len(smtps_sink.received) == 1
