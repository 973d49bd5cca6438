"""End to end with the official msgraph-sdk: forwarding a received message carries its attachment (issue 4).

Written as a user of mailgraph writes tests (issue 14): with the project's own pytest plugin
(src/mailgraph/pytest_plugin.py, entry point `pytest11`) — a server for the session, a fresh
ephemeral tenant for the test, SDK clients from `graph_client(user)` and `wait_for_message` instead
of polling.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from msgraph import GraphServiceClient
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.messages.item.forward.forward_post_request_body import (
    ForwardPostRequestBody,
)
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

from mailgraph.pytest_plugin import MailgraphServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

PAYLOAD = bytes(range(256)) * 64  # 16 KiB of every byte value


def _to(address: str) -> list[Recipient]:
    return [Recipient(email_address=EmailAddress(address=address))]


async def _only_message(client: GraphServiceClient) -> Message:
    inbox = await client.me.mail_folders.by_mail_folder_id("inbox").messages.get()
    assert inbox is not None and inbox.value is not None and len(inbox.value) == 1
    return inbox.value[0]


async def _attachment_bytes(client: GraphServiceClient, message_id: str) -> tuple[str, bytes]:
    listed = await client.me.messages.by_message_id(message_id).attachments.get()
    assert listed is not None and listed.value is not None and len(listed.value) == 1
    attachment = listed.value[0]
    assert attachment.id and attachment.name
    # The SDK has no builder for attachments/{id}/$value; the typed FileAttachment carries the bytes.
    item = client.me.messages.by_message_id(message_id).attachments.by_attachment_id(attachment.id)
    full = await item.get()
    assert isinstance(full, FileAttachment) and full.content_bytes is not None
    return attachment.name, full.content_bytes


async def test_forward_keeps_the_attachment(mailgraph_server: MailgraphServer) -> None:
    team = mailgraph_server.create_tenant(template="team")  # alice, bob, carol, dave
    try:
        alice, bob, carol = (team.graph_client(u) for u in ("alice", "bob", "carol"))
        report = FileAttachment(
            name="report.bin", content_type="application/octet-stream", content_bytes=PAYLOAD
        )
        report.odata_type = "#microsoft.graph.fileAttachment"
        await alice.me.send_mail.post(
            SendMailPostRequestBody(
                message=Message(
                    subject="Numbers", to_recipients=_to(team.address("bob")), attachments=[report]
                ),
                save_to_sent_items=True,
            )
        )
        team.wait_for_message(mailbox="bob", subject="Numbers")  # woken by the delivery's commit
        received = await _only_message(bob)
        assert received.id and received.has_attachments is True
        assert await _attachment_bytes(bob, received.id) == ("report.bin", PAYLOAD)

        await bob.me.messages.by_message_id(received.id).forward.post(
            ForwardPostRequestBody(comment="FYI", to_recipients=_to(team.address("carol")))
        )
        team.wait_for_message(mailbox="carol", subject="FW: Numbers")
        forwarded = await _only_message(carol)
        assert forwarded.id and forwarded.subject == "FW: Numbers" and forwarded.has_attachments is True
        name, data = await _attachment_bytes(carol, forwarded.id)
        assert name == "report.bin"
        assert hashlib.sha256(data).hexdigest() == hashlib.sha256(PAYLOAD).hexdigest()
        assert base64.b64encode(data) == base64.b64encode(PAYLOAD)
        # Nothing of this left over SMTP (all three mailboxes are the tenant's own).
        assert mailgraph_server.request("GET", f"/_mailgraph/tenants/{team.id}/outbound")["value"] == []
    finally:
        team.delete()
