"""The official msgraph-sdk (Python) drives delta unchanged (issue 12): nextLink pages, then deltaLink rounds."""

from __future__ import annotations

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.models.message import Message
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import (
    DeltaRequestBuilder,
)

from tests.e2e.conftest import Server
from tests.e2e.test_msgraph_sdk import _client, _user_form

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
MAX_PAGES = 50


async def _round(
    builder: DeltaRequestBuilder, config: RequestConfiguration[object] | None = None
) -> tuple[list[Message], str]:
    """Follow `@odata.nextLink` with `with_url` until a page carries `@odata.deltaLink`."""
    items: list[Message] = []
    page = await builder.get(config)  # type: ignore[arg-type]
    for _ in range(MAX_PAGES):
        assert page is not None
        items.extend(page.value or [])
        if page.odata_delta_link:
            return items, page.odata_delta_link
        assert page.odata_next_link
        page = await builder.with_url(page.odata_next_link).get(config)  # type: ignore[arg-type]
    raise AssertionError("the round did not end")


async def test_sdk_delta_rounds(server: Server) -> None:
    async with _client(server, _user_form("alice@fabrikam.test", "alice-Passw0rd")) as alice:
        await _rounds(alice)


async def _rounds(alice: GraphServiceClient) -> None:
    inbox = alice.users.by_user_id("alice@fabrikam.test").mail_folders.by_mail_folder_id("inbox")
    made = []
    for i in range(5):
        made.append(await inbox.messages.post(Message(subject=f"sdk {i}")))
    config = RequestConfiguration(
        query_parameters=DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            select=["subject", "isRead"]
        )
    )
    config.headers.add("Prefer", "odata.maxpagesize=2")
    items, delta_link = await _round(inbox.messages.delta, config)
    assert sorted(m.subject or "" for m in items) == [f"sdk {i}" for i in range(5)]
    assert {m.id for m in items} == {m.id for m in made if m is not None}

    first = made[0]
    assert first is not None and first.id
    await alice.me.messages.by_message_id(first.id).patch(Message(is_read=True))
    gone = made[1]
    assert gone is not None and gone.id
    await alice.me.messages.by_message_id(gone.id).delete()
    await inbox.messages.post(Message(subject="sdk new"))

    changes, delta_link = await _round(inbox.messages.delta.with_url(delta_link))
    by_id = {m.id: m for m in changes}
    assert by_id[first.id].is_read is True
    assert "@removed" in (by_id[gone.id].additional_data or {})
    assert sorted(m.subject for m in changes if m.subject) == ["sdk 0", "sdk new"]
    again, _ = await _round(inbox.messages.delta.with_url(delta_link))
    assert again == []
