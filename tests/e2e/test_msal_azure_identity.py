"""The real identity libraries against `mailgraph serve --tls` (issue 3), changed only in authority and CA.

MSAL Python (client credentials and password grant), azure-identity (ClientSecretCredential sync and aio,
UsernamePasswordCredential), then the msgraph-sdk driven by those credentials: an app creates and
sends a draft through `/users/{upn}`, a signed-in user through `/me`.
"""

from __future__ import annotations

import asyncio
import html
import re
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msal
import pytest
from azure.identity import CertificateCredential, ClientSecretCredential, UsernamePasswordCredential
from azure.identity.aio import ClientSecretCredential as AioClientSecretCredential
from cryptography.hazmat.primitives import hashes, serialization
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph.graph_request_adapter import options as SDK_OPTIONS
from msgraph_core import GraphClientFactory

from mailgraph.config import Settings
from mailgraph.config.identity import certificate
from mailgraph.wiring import build
from tests.certificates import self_signed
from tests.e2e.tls_server import TlsServer, start_tls_server, stop, tls_server

__all__ = ["tls_server"]  # the module-scoped fixture, re-exported for pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

TENANT = "fabrikam.test"
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"
USER_SCOPES = ["https://graph.microsoft.com/Mail.ReadWrite", "https://graph.microsoft.com/Mail.Send"]


@pytest.fixture(autouse=True)
def _no_ca_override(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's `verify` (client-wire §3):
    # a machine-wide bundle in the environment would hide the `verify=` the user passes.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    yield


def _graph(server: TlsServer, token: str, method: str, path: str, **kw: Any) -> httpx.Response:
    with httpx.Client(
        verify=ssl.create_default_context(cafile=server.ca), base_url=f"{server.url}/v1.0"
    ) as client:
        return client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kw)


def test_msal_client_credentials(tls_server: TlsServer) -> None:
    app = msal.ConfidentialClientApplication(
        "full-app",
        client_credential="full-secret",
        authority=f"{tls_server.url}/{TENANT}",
        instance_discovery=False,
        verify=str(tls_server.ca),
    )
    result = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    assert "access_token" in result, result
    r = _graph(tls_server, result["access_token"], "GET", "/users/alice@fabrikam.test/mailFolders/inbox")
    assert r.status_code == 200, r.text
    # A wrong secret: MSAL surfaces Entra's error body unchanged.
    bad = msal.ConfidentialClientApplication(
        "full-app",
        client_credential="wrong",
        authority=f"{tls_server.url}/{TENANT}",
        instance_discovery=False,
        verify=str(tls_server.ca),
    )
    refused = bad.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    assert refused["error"] == "invalid_client" and 7000215 in refused["error_codes"]


def test_msal_password_grant_caches_an_account(tls_server: TlsServer) -> None:
    if not tls_server.port443:
        pytest.skip("MSAL Python's password flow needs the authority on port 443 (client-wire fact 9)")
    app = msal.PublicClientApplication(
        "public-app",
        authority=f"{tls_server.url}/{TENANT}",
        instance_discovery=False,
        verify=str(tls_server.ca),
    )
    result = app.acquire_token_by_username_password("alice@fabrikam.test", "alice-Passw0rd", USER_SCOPES)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == "alice@fabrikam.test"
    accounts = app.get_accounts()  # needs id_token + client_info (client-wire fact 10)
    assert [a["username"] for a in accounts] == ["alice@fabrikam.test"]
    silent = app.acquire_token_silent(USER_SCOPES, account=accounts[0])
    assert silent is not None and silent["access_token"] == result["access_token"]
    r = _graph(tls_server, result["access_token"], "GET", "/me/mailFolders/inbox")
    assert r.status_code == 200, r.text
    wrong = app.acquire_token_by_username_password("alice@fabrikam.test", "nope", USER_SCOPES)
    assert wrong["error"] == "invalid_grant" and 50126 in wrong["error_codes"]


def test_azure_identity_client_secret_sync(tls_server: TlsServer) -> None:
    credential = ClientSecretCredential(
        TENANT,
        "full-app",
        "full-secret",
        authority=tls_server.url,
        disable_instance_discovery=True,
        connection_verify=str(tls_server.ca),
    )
    token = credential.get_token(GRAPH_DEFAULT)
    assert token.expires_on > 0
    assert _graph(tls_server, token.token, "GET", "/users/bob@fabrikam.test/messages").status_code == 200


async def test_azure_identity_client_secret_aio(tls_server: TlsServer) -> None:
    async with AioClientSecretCredential(
        TENANT,
        "full-app",
        "full-secret",
        authority=tls_server.url,
        disable_instance_discovery=True,
        connection_verify=str(tls_server.ca),
    ) as credential:
        token = await credential.get_token(GRAPH_DEFAULT)
    assert _graph(tls_server, token.token, "GET", "/users/bob@fabrikam.test/messages").status_code == 200


@asynccontextmanager
async def _sdk(
    server: TlsServer, credential: Any, scopes: list[str] | None, *, own_client: bool
) -> AsyncIterator[GraphServiceClient]:
    """The msgraph-sdk as an application builds it; only the base URL and the CA differ.

    With `own_client` the CA goes into an httpx client built with the SDK's own middleware options
    (the /me rewrite among them); without, the SDK's default client trusts `SSL_CERT_FILE`.
    """
    http = None
    if own_client:
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=server.ca)),
            options=SDK_OPTIONS,
        )
    # Without scopes Kiota asks for `https://{base URL host}/.default`: this server takes it as Graph.
    auth = AzureIdentityAuthenticationProvider(credential, scopes=scopes or [], allowed_hosts=[server.host])
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{server.url}/v1.0"
    try:
        yield GraphServiceClient(request_adapter=adapter)
    finally:
        await adapter._http_client.aclose()  # the SDK offers no public close


def _draft(subject: str, to: str) -> Message:
    return Message(subject=subject, to_recipients=[Recipient(email_address=EmailAddress(address=to))])


async def test_msgraph_sdk_as_application(tls_server: TlsServer) -> None:
    async with (
        AioClientSecretCredential(
            TENANT,
            "full-app",
            "full-secret",
            authority=tls_server.url,
            disable_instance_discovery=True,
            connection_verify=str(tls_server.ca),
        ) as credential,
        _sdk(tls_server, credential, None, own_client=True) as client,
    ):
        alice = client.users.by_user_id("alice@fabrikam.test")
        draft = await alice.messages.post(_draft("app over TLS", "bob@fabrikam.test"))
        assert draft is not None and draft.id
        await alice.messages.by_message_id(draft.id).send.post()
        inbox = (
            await client.users.by_user_id("bob@fabrikam.test")
            .mail_folders.by_mail_folder_id("inbox")
            .messages.get()
        )
        assert inbox is not None and inbox.value is not None
        assert "app over TLS" in [m.subject for m in inbox.value]


@pytest.mark.filterwarnings("ignore:UsernamePasswordCredential is deprecated:DeprecationWarning")
async def test_msgraph_sdk_as_signed_in_user(tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    if not tls_server.port443:
        pytest.skip("MSAL Python's password flow needs the authority on port 443 (client-wire fact 9)")
    credential = UsernamePasswordCredential(
        "public-app",
        "bob@fabrikam.test",
        "bob-Passw0rd",
        tenant_id=TENANT,
        authority=tls_server.url,
        disable_instance_discovery=True,
        connection_verify=str(tls_server.ca),
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.ca))  # what httpx's default client trusts
    async with _sdk(tls_server, credential, USER_SCOPES, own_client=False) as client:
        draft = await client.me.messages.post(_draft("me over TLS", "carol@fabrikam.test"))
        assert draft is not None and draft.id
        await client.me.messages.by_message_id(draft.id).send.post()
        sent = await client.me.mail_folders.by_mail_folder_id("sentitems").messages.get()
        assert sent is not None and sent.value is not None
        assert [m.subject for m in sent.value] == ["me over TLS"]


def _hidden_fields(page: str) -> dict[str, str]:
    fields = re.findall(r"<input type='hidden' name='([^']+)' value='([^']*)'>", page)
    return {name: html.unescape(value) for name, value in fields}


def test_msal_authorization_code_flow_with_the_sign_in_page(tls_server: TlsServer) -> None:
    app = msal.PublicClientApplication(
        "public-app",
        authority=f"{tls_server.url}/{TENANT}",
        instance_discovery=False,
        verify=str(tls_server.ca),
    )
    flow = app.initiate_auth_code_flow(
        USER_SCOPES, redirect_uri="http://localhost:8400/callback", response_mode="form_post"
    )
    assert flow["auth_uri"].startswith(f"{tls_server.url}/")
    with httpx.Client(verify=ssl.create_default_context(cafile=tls_server.ca)) as browser:
        page = browser.get(flow["auth_uri"])
        assert page.status_code == 200 and "Mail.ReadWrite" in page.text
        form = _hidden_fields(page.text) | {
            "username": "carol@fabrikam.test",
            "password": "carol-Passw0rd",
            "consent": "accept",
        }
        posted = browser.post(flow["auth_uri"].split("?")[0], data=form)
    # form_post: a page that posts code and state to the redirect URI (what the browser would do).
    assert posted.status_code == 200 and "action='http://localhost:8400/callback'" in posted.text
    auth_response = _hidden_fields(posted.text)
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)  # checks state, nonce, PKCE
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == "carol@fabrikam.test"
    assert [a["username"] for a in app.get_accounts()] == ["carol@fabrikam.test"]
    assert "refresh_token" in result  # offline_access: MSAL refreshes silently later


def _register_certificate(data_dir: Path, database: str | None) -> None:
    async def register() -> None:
        runtime = await build(Settings(data_dir=data_dir, database=database))
        try:
            await runtime.engine.write(
                lambda tx: tx.delegation.replace_certificates("full-app", [certificate(CERT_PEM)])
            )
        finally:
            await runtime.engine.close()

    asyncio.run(register())


def _self_signed() -> tuple[str, str, str]:
    key, cert = self_signed("full-app")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    thumb = cert.fingerprint(hashes.SHA1()).hex()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode(), thumb


KEY_PEM, CERT_PEM, THUMBPRINT = _self_signed()


@pytest.fixture(scope="module")
def cert_server(template_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    server = start_tls_server(template_dir, tmp_path_factory.mktemp("tls-cert"), _register_certificate)
    try:
        yield server
    finally:
        stop(server)


def test_msal_and_azure_identity_with_a_certificate(cert_server: TlsServer, tmp_path: Path) -> None:
    app = msal.ConfidentialClientApplication(
        "full-app",
        client_credential={"private_key": KEY_PEM, "thumbprint": THUMBPRINT},
        authority=f"{cert_server.url}/{TENANT}",
        instance_discovery=False,
        verify=str(cert_server.ca),
    )
    result = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    assert "access_token" in result, result
    assert (
        _graph(cert_server, result["access_token"], "GET", "/users/alice@fabrikam.test/messages").status_code
        == 200
    )
    pem_file = tmp_path / "full-app.pem"
    pem_file.write_text(KEY_PEM + CERT_PEM)
    credential = CertificateCredential(
        TENANT,
        "full-app",
        str(pem_file),
        authority=cert_server.url,
        disable_instance_discovery=True,
        connection_verify=str(cert_server.ca),
    )
    token = credential.get_token(GRAPH_DEFAULT)
    assert _graph(cert_server, token.token, "GET", "/users/bob@fabrikam.test/messages").status_code == 200
