"""A test suite of an app that sends mail through msgraph-sdk, using mailgraph's pytest plugin.

Copied into a temporary directory and run by test_pytest_plugin.py with `pytest -n 2`. It is also
the example in docs/workbench.md.
"""

import asyncio
import json
import urllib.request

from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody


async def send_welcome(graph, sender: str, to: str) -> None:
    """The application code under test: a welcome mail through the Graph SDK."""
    message = Message(
        subject="Welcome aboard",
        body=ItemBody(content_type=BodyType.Text, content="Hello and welcome!"),
        to_recipients=[Recipient(email_address=EmailAddress(address=to))],
    )
    await graph.users.by_user_id(sender).send_mail.post(SendMailPostRequestBody(message=message))


def test_welcome_mail_is_delivered(mailgraph_tenant):
    graph = mailgraph_tenant.graph_client()  # app-only, pointed at the test server
    asyncio.run(send_welcome(graph, mailgraph_tenant.address("alice"), mailgraph_tenant.address("bob")))
    received = mailgraph_tenant.wait_for_message(mailbox="bob", subject="Welcome", timeout=10)
    assert received["from"]["emailAddress"]["address"] == mailgraph_tenant.address("alice")
    assert received["body"]["content"] == "Hello and welcome!"


def test_external_mail_is_captured(mailgraph_tenant):
    token = mailgraph_tenant.app_token()
    body = {
        "message": {
            "subject": "Invoice",
            "toRecipients": [{"emailAddress": {"address": "billing@example.net"}}],
        }
    }
    req = urllib.request.Request(
        f"{mailgraph_tenant.graph_url}/users/{mailgraph_tenant.address('alice')}/sendMail",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req) as answer:
        assert answer.status == 202
    sent = mailgraph_tenant.sent(to="billing@example.net", timeout=10)
    assert sent["subject"] == "Invoice" and sent["recipients"][0]["recipient"] == "billing@example.net"


def test_each_test_starts_empty_and_can_seed(mailgraph_tenant):
    assert mailgraph_tenant.messages() == []
    mailgraph_tenant.seed({"mailbox": "alice", "folder": "archive", "message": {"subject": "Old"}})
    assert [m["subject"] for m in mailgraph_tenant.messages(mailbox="alice", folder="archive")] == ["Old"]
    mailgraph_tenant.reset()
    assert mailgraph_tenant.messages() == []


def test_delegated_client_reads_its_inbox(mailgraph_tenant):
    mailgraph_tenant.seed({"mailbox": "bob", "message": {"subject": "For Bob"}})
    graph = mailgraph_tenant.graph_client("bob")
    page = asyncio.run(graph.me.mail_folders.by_mail_folder_id("inbox").messages.get())
    assert [m.subject for m in page.value] == ["For Bob"]
