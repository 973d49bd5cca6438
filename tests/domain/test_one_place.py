"""Tidy-ups of issue 10: the NDR text and the HTML → text conversion each have one implementation."""

from __future__ import annotations

from mailgraph.delivery import dsn
from mailgraph.delivery.policy import Reply
from mailgraph.domain import ingest, quoting
from mailgraph.domain.model import SECOND, EmailAddress, ItemBody, Message, User
from mailgraph.mime import compose, text


def _sent() -> Message:
    now = 1_800_000_000 * SECOND
    m = Message(
        "imm", "rest", "box", "sent", "ck", now, now, now, now, False, True, "", "<m1@fabrikam.test>", "c"
    )
    m.subject = "Plans"
    m.internet_message_id = "<m1@fabrikam.test>"
    m.body_preview = "See you"
    m.from_ = EmailAddress("alice@fabrikam.test", "Alice")
    m.to = [EmailAddress("nobody@fabrikam.test")]
    return m


def test_local_and_relay_reports_share_one_text() -> None:
    owner = User("box", "t", "alice@fabrikam.test", "alice@fabrikam.test", "Alice", None)
    postmaster = EmailAddress("postmaster@fabrikam.test")
    sent = _sent()
    local = ingest.Undelivered("nobody@fabrikam.test", "550 5.1.1 RESOLVER.ADR.RecipNotFound")
    relay = dsn.Failure("far@example.org", Reply(550, "5.1.1 unknown user"), "rejected by the remote server")
    reports = [
        ingest.non_delivery_report(sent, owner, postmaster, [local], sent.sent_at),
        ingest.non_delivery_report(sent, owner, postmaster, [relay.undelivered()], sent.sent_at),
    ]
    for report, failed in zip(reports, ("nobody@fabrikam.test", "far@example.org"), strict=True):
        body = report.body.content
        assert report.subject == "Undeliverable: Plans"
        assert body.startswith("Your message couldn't be delivered to these recipients:\n\n  " + failed)
        assert "Original message details:" in body and "Message-ID: <m1@fabrikam.test>" in body
    assert "Remote server: 550 5.1.1 unknown user" in reports[1].body.content
    assert "Remote server" not in reports[0].body.content


def test_one_html_to_text_for_replies_reads_and_mime() -> None:
    html = (
        "<html><body><p>Hi&nbsp;there,</p><hr><div>line  one<br>two</div><script>x()</script></body></html>"
    )
    expected = "Hi there,\n\nline one\ntwo"
    assert quoting.html_to_text is text.html_to_text
    assert compose.html_to_text is text.html_to_text
    assert text.html_to_text(html) == expected
    assert quoting.convert(ItemBody("html", html), "text").content == expected
