"""End to end with the official msgraph-sdk: replies, forwards, moves and immutable ids (issue 4).

Bob replies to a message Alice sent him (createReply with the SDK's `Comment` casing, then send);
Alice finds the answer in her Inbox in the same conversation, threaded by In-Reply-To/References in
its `$value` (the MIME every mail program would see).
"""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.messages.item.copy.copy_post_request_body import CopyPostRequestBody
from msgraph.generated.users.item.messages.item.create_forward.create_forward_post_request_body import (
    CreateForwardPostRequestBody,
)
from msgraph.generated.users.item.messages.item.create_reply.create_reply_post_request_body import (
    CreateReplyPostRequestBody,
)
from msgraph.generated.users.item.messages.item.move.move_post_request_body import MovePostRequestBody
from msgraph.generated.users.item.messages.item.reply_all.reply_all_post_request_body import (
    ReplyAllPostRequestBody,
)
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

from tests.e2e.conftest import Server
from tests.e2e.test_msgraph_sdk import _client, _user_form

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _to(*addresses: str) -> list[Recipient]:
    return [Recipient(email_address=EmailAddress(address=a)) for a in addresses]


async def _threading(client: GraphServiceClient, message_id: str) -> tuple[str, str, str]:
    """(Message-ID, In-Reply-To, References) from the message's `$value` (Graph has no property for them)."""
    raw = await client.me.messages.by_message_id(message_id).content.get()
    assert raw
    parsed = message_from_bytes(raw, policy=default)
    return str(parsed["Message-ID"]), str(parsed["In-Reply-To"]), " ".join(str(parsed["References"]).split())


async def test_reply_forward_move_with_the_sdk(server: Server) -> None:
    async with (
        _client(server, _user_form("alice@fabrikam.test", "alice-Passw0rd")) as alice,
        _client(server, _user_form("bob@fabrikam.test", "bob-Passw0rd")) as bob,
    ):
        await _reply_flow(alice, bob)
        await _forward_move_copy(bob)


async def _reply_flow(alice: GraphServiceClient, bob: GraphServiceClient) -> None:
    question = Message(subject="Lunch?", to_recipients=_to("bob@fabrikam.test"))
    await alice.me.send_mail.post(SendMailPostRequestBody(message=question, save_to_sent_items=True))
    inbox = await bob.me.mail_folders.by_mail_folder_id("inbox").messages.get()
    assert inbox is not None and inbox.value is not None and len(inbox.value) == 1
    original = inbox.value[0]
    assert original.id and original.internet_message_id

    draft = await bob.me.messages.by_message_id(original.id).create_reply.post(
        CreateReplyPostRequestBody(comment="Yes, at noon.")
    )
    assert draft is not None and draft.id and draft.is_draft
    assert draft.subject == "RE: Lunch?"
    assert draft.to_recipients and draft.to_recipients[0].email_address
    assert draft.to_recipients[0].email_address.address == "alice@fabrikam.test"
    assert draft.conversation_id == original.conversation_id
    await bob.me.messages.by_message_id(draft.id).send.post()

    answers = await alice.me.mail_folders.by_mail_folder_id("inbox").messages.get()
    assert answers is not None and answers.value is not None
    assert [m.subject for m in answers.value] == ["RE: Lunch?"]
    answer = answers.value[0]
    assert answer.conversation_id == original.conversation_id
    assert answer.body and answer.body.content and "Yes, at noon." in answer.body.content
    assert answer.internet_message_id == draft.internet_message_id
    # Alice's Inbox copy carries the thread headers in its MIME.
    assert answer.id
    assert await _threading(alice, answer.id) == (
        answer.internet_message_id,
        original.internet_message_id,
        original.internet_message_id,
    )

    # Alice answers everyone at once (direct send, 202): the thread grows.
    await alice.me.messages.by_message_id(answer.id).reply_all.post(ReplyAllPostRequestBody(comment="Great"))
    again = await bob.me.mail_folders.by_mail_folder_id("inbox").messages.get()
    assert again is not None and again.value is not None
    third = next(m for m in again.value if m.subject == "RE: Lunch?")
    assert third.conversation_id == original.conversation_id and third.id
    expected_refs = f"{original.internet_message_id} {answer.internet_message_id}"
    assert await _threading(bob, third.id) == (
        third.internet_message_id,
        answer.internet_message_id,
        expected_refs,
    )


async def _forward_move_copy(bob: GraphServiceClient) -> None:
    inbox = await bob.me.mail_folders.by_mail_folder_id("inbox").messages.get()
    assert inbox is not None and inbox.value
    original = next(m for m in inbox.value if m.subject == "Lunch?")
    assert original.id
    forward = await bob.me.messages.by_message_id(original.id).create_forward.post(
        CreateForwardPostRequestBody(comment="See below", to_recipients=_to("carol@fabrikam-mail.test"))
    )
    assert forward is not None and forward.subject == "FW: Lunch?" and forward.to_recipients
    assert forward.to_recipients[0].email_address
    assert forward.to_recipients[0].email_address.address == "carol@fabrikam-mail.test"

    # Immutable ids through the SDK's request configuration: the id survives the move.
    prefer: RequestConfiguration[object] = RequestConfiguration()
    prefer.headers.add("Prefer", 'IdType="ImmutableId"')
    pinned = await bob.me.messages.by_message_id(original.id).get(request_configuration=prefer)  # type: ignore[arg-type]
    assert pinned is not None and pinned.id and pinned.id != original.id
    moved = await bob.me.messages.by_message_id(original.id).move.post(
        MovePostRequestBody(destination_id="archive")
    )
    assert moved is not None and moved.id and moved.id != original.id
    with pytest.raises(ODataError) as caught:
        await bob.me.messages.by_message_id(original.id).get()
    assert caught.value.response_status_code == 404
    found = await bob.me.messages.by_message_id(pinned.id).get(request_configuration=prefer)  # type: ignore[arg-type]
    assert found is not None and found.id == pinned.id and found.parent_folder_id == moved.parent_folder_id

    copied = await bob.me.messages.by_message_id(moved.id).copy.post(
        CopyPostRequestBody(destination_id="inbox")
    )
    assert copied is not None and copied.id not in (moved.id, original.id)
    assert copied.internet_message_id == original.internet_message_id
