"""Automatic replies to external senders: mail in over SMTP, the reply out through the outbox and the
relay to an SMTP sink. Exactly once per sender; never to automatic mail (RFC 3834) or a null sender;
rule forwards to external recipients leave the same way."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from httpx import AsyncClient

from mailgraph.config import Settings
from mailgraph.wiring import Runtime, delivery_worker
from tests.conftest import TokenFor
from tests.delivery.helpers import entries
from tests.delivery.sink import Sink
from tests.smtp.conftest import SmtpTarget, in_thread
from tests.smtp.test_delivery import mime

SCOPES = ("Mail.ReadWrite", "MailboxSettings.ReadWrite")
FAST = Settings(retry_schedule=(0.01,), queue_poll_s=0.05, queue_lease_s=30.0)


def deliver(smtp: SmtpTarget, data: bytes, sender: str = "sam@example.org") -> Any:
    with smtp.connect() as client:
        return client.sendmail(sender, ["bob@fabrikam.test"], data)


async def relay_all(runtime: Runtime, sink: Sink) -> None:
    """Run the relay over what is queued (one pass: the entries are due now)."""
    worker = delivery_worker(replace(FAST, data_dir=runtime.data_dir, relay=sink.url), runtime.engine)
    try:
        while await worker.run_once():
            pass
    finally:
        await worker.stop()


@pytest.fixture
def out_sink() -> Any:
    s = Sink()
    yield s
    s.stop()


async def test_external_sender_gets_one_reply_over_smtp(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor, runtime: Runtime, out_sink: Sink
) -> None:
    bob = token_for("bob", *SCOPES)
    setting = {"status": "alwaysEnabled", "externalAudience": "all", "internalReplyMessage": "inside",
               "externalReplyMessage": "<p>Out until Monday</p>"}  # fmt: skip
    r = await api.patch("/v1.0/me/mailboxSettings", json={"automaticRepliesSetting": setting}, headers=bob)
    assert r.status_code == 200, r.text
    assert await in_thread(lambda: deliver(smtp, mime(subject="One"))) == {}
    assert await in_thread(lambda: deliver(smtp, mime(subject="Two"))) == {}
    # Automatic mail and bounces are never answered (RFC 3834 §2, §3.1.8; RFC 5321 §4.5.5).
    for extra in (
        "Auto-Submitted: auto-generated\r\n",
        "Precedence: bulk\r\n",
        "List-Id: <l.example.org>\r\n",
    ):
        data = mime(subject="Auto", extra=extra)
        assert await in_thread(lambda d=data: deliver(smtp, d, sender="other@example.org")) == {}  # type: ignore[misc]
    assert await in_thread(lambda: deliver(smtp, mime(subject="Bounce"), sender="")) == {}
    queued = await entries(runtime)
    assert [e.recipient for e in queued] == ["sam@example.org"]
    await relay_all(runtime, out_sink)
    (received,) = out_sink.received
    assert received.rcpt_tos == ["sam@example.org"]
    reply = received.message
    assert reply["Subject"] == "Automatic reply: One"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["From"].addresses[0].addr_spec == "bob@fabrikam.test"
    assert reply["In-Reply-To"] == f"<m-{abs(hash('One'))}@example.org>"
    assert "Out until Monday" in reply.get_body(("html", "plain")).get_content()  # type: ignore[union-attr]


async def test_external_audience_none_answers_only_internal_senders(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    bob = token_for("bob", *SCOPES)
    setting = {"status": "alwaysEnabled", "externalAudience": "none", "internalReplyMessage": "inside"}
    assert (await api.patch("/v1.0/me/mailboxSettings", json={"automaticRepliesSetting": setting},
                            headers=bob)).status_code == 200  # fmt: skip
    assert await in_thread(lambda: deliver(smtp, mime(subject="Hi"))) == {}
    assert await entries(runtime) == []


async def test_a_rule_forward_to_an_external_address_is_relayed(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor, runtime: Runtime, out_sink: Sink
) -> None:
    bob = token_for("bob", *SCOPES)
    rule = {"displayName": "fwd", "sequence": 1, "conditions": {"subjectContains": ["invoice"]},
            "actions": {"forwardTo": [{"emailAddress": {"address": "books@example.com"}}]}}  # fmt: skip
    r = await api.post("/v1.0/me/mailFolders/inbox/messageRules", json=rule, headers=bob)
    assert r.status_code == 201, r.text
    assert await in_thread(lambda: deliver(smtp, mime(subject="Invoice 7"))) == {}
    await relay_all(runtime, out_sink)
    (received,) = out_sink.received
    assert received.rcpt_tos == ["books@example.com"]
    assert received.message["Subject"] == "FW: Invoice 7"
    assert received.message["X-MS-Exchange-Inbox-Rules-Loop"] == "bob@fabrikam.test"
