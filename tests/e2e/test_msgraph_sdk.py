"""End to end with the official msgraph-sdk (Python), unchanged but for the base URL (issue: core)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from azure.core.credentials import AccessToken
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

from tests.e2e.conftest import Server

# The SDK's httpx transport leaves pooled sockets for the garbage collector even after aclose();
# those warnings come from the SDK, not from the server under test, so they are not errors here.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


class PasswordCredential:
    """An async azure-core credential that gets tokens from our token endpoint (password grant)."""

    def __init__(self, url: str, form: dict[str, str]) -> None:
        self._url = url
        self._form = form

    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        async with httpx.AsyncClient() as client:
            r = await client.post(f"{self._url}/fabrikam.test/oauth2/v2.0/token", data=self._form)
            r.raise_for_status()
            data = r.json()
            return AccessToken(data["access_token"], 9999999999)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> PasswordCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


@asynccontextmanager
async def _client(server: Server, form: dict[str, str]) -> AsyncIterator[GraphServiceClient]:
    """The SDK as an application would build it, pointed only at another base URL."""
    credential = PasswordCredential(server.url, form)
    auth = AzureIdentityAuthenticationProvider(
        credential,  # type: ignore[arg-type]
        scopes=["https://graph.microsoft.com/.default"],
        allowed_hosts=["127.0.0.1"],
    )
    adapter = GraphRequestAdapter(auth)  # the SDK's own client and middleware (e.g. the /me rewrite)
    adapter.base_url = f"{server.url}/v1.0"
    try:
        yield GraphServiceClient(request_adapter=adapter)
    finally:
        await adapter._http_client.aclose()  # the SDK offers no public close


def _user_form(user: str, password: str) -> dict[str, str]:
    return {
        "grant_type": "password",
        "client_id": "full-app",
        "client_secret": "full-secret",
        "username": user,
        "password": password,
        "scope": "https://graph.microsoft.com/Mail.ReadWrite https://graph.microsoft.com/Mail.Send openid profile offline_access",
    }


async def test_create_send_and_read_back(server: Server) -> None:
    async with (
        _client(server, _user_form("alice@fabrikam.test", "alice-Passw0rd")) as alice,
        _client(server, _user_form("bob@fabrikam.test", "bob-Passw0rd")) as bob,
    ):
        await _create_send_read(alice, bob)


async def _create_send_read(alice: GraphServiceClient, bob: GraphServiceClient) -> None:
    draft = await alice.me.messages.post(
        Message(
            subject="From the SDK",
            body=ItemBody(content_type=BodyType.Html, content="<p>Hello <b>Bob</b></p>"),
            to_recipients=[Recipient(email_address=EmailAddress(address="bob@fabrikam.test", name="Bob"))],
        )
    )
    assert draft is not None and draft.id and draft.is_draft
    assert "=" in draft.id  # exercises the SDK's percent-encoding of ids
    await alice.me.messages.by_message_id(draft.id).send.post()

    sent = await alice.me.mail_folders.by_mail_folder_id("sentitems").messages.get()
    assert sent is not None and sent.value is not None
    assert [m.subject for m in sent.value] == ["From the SDK"]
    assert sent.value[0].id != draft.id
    assert sent.value[0].is_draft is False
    assert sent.value[0].internet_message_id == draft.internet_message_id

    inbox = await bob.me.mail_folders.by_mail_folder_id("inbox").messages.get()
    assert inbox is not None and inbox.value is not None
    assert [m.subject for m in inbox.value] == ["From the SDK"]
    assert inbox.value[0].is_read is False
    assert inbox.value[0].conversation_id == draft.conversation_id

    with pytest.raises(ODataError) as caught:
        await alice.me.messages.by_message_id(draft.id).get()
    assert caught.value.response_status_code == 404
    assert caught.value.error is not None and caught.value.error.code == "ErrorItemNotFound"


async def test_send_mail_app_token_and_paging(server: Server) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": "full-app",
        "client_secret": "full-secret",
        "scope": "https://graph.microsoft.com/.default",
    }
    async with _client(server, form) as app:
        await _send_mail_and_page(app, server.url)


async def _send_mail_and_page(app: GraphServiceClient, url: str) -> None:
    for i in range(12):
        body = SendMailPostRequestBody(
            message=Message(
                subject=f"batch {i}",
                to_recipients=[Recipient(email_address=EmailAddress(address="carol@fabrikam-mail.test"))],
            ),
            save_to_sent_items=True,
        )
        await app.users.by_user_id("alice@fabrikam.test").send_mail.post(body)
    first = (
        await app.users.by_user_id("carol@fabrikam.test")
        .mail_folders.by_mail_folder_id("Inbox")
        .messages.get()
    )
    assert first is not None and first.value is not None and len(first.value) == 10
    assert first.odata_next_link and first.odata_next_link.startswith(url)
    rest = (
        await app.users.by_user_id("carol@fabrikam.test")
        .mail_folders.by_mail_folder_id("Inbox")
        .messages.with_url(first.odata_next_link)
        .get()
    )
    assert rest is not None and rest.value is not None and len(rest.value) == 2
    # msgraph-sdk sends "SaveToSentItems": false unless set (client-wire fact 3); we set it: saved.
    sent = (
        await app.users.by_user_id("alice@fabrikam.test")
        .mail_folders.by_mail_folder_id("SentItems")
        .messages.get()
    )
    assert sent is not None and sent.value is not None and len(sent.value) == 10
