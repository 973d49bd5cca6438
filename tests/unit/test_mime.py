"""mime.compose and mime.parse: structure, headers, round trips, and hostile input (issue 4 MIME)."""

from __future__ import annotations

import base64
import time
from email import message_from_bytes, policy

import pytest

from mailgraph.domain.model import EmailAddress, InternetMessageHeader, ItemBody, Message
from mailgraph.mime.compose import MimeAttachment, compose, transport_headers
from mailgraph.mime.errors import InvalidMimeBase64Error, MimeError
from mailgraph.mime.parse import MAX_COMMENT_DEPTH, comment_depth, decode_base64, parse

ALICE = EmailAddress("alice@contoso.com", "Alice")
BOB = EmailAddress("bob@fabrikam.test", "Bob")


def item(**fields: object) -> Message:
    base: dict[str, object] = {
        "id": "i",
        "rest_id": "r",
        "mailbox_id": "m",
        "folder_id": "f",
        "change_key": "c",
        "created_at": 0,
        "modified_at": 0,
        "received_at": 0,
        "sent_at": 1_700_000_000_000_000,
        "is_draft": False,
        "is_read": True,
        "internet_message_id": "<ID1@contoso.com>",
        "conversation_id": "conv",
        "conversation_index": "AQHaBcdE",
        "subject": "Hello",
        "body": ItemBody("text", "Hi there"),
        "from_": ALICE,
        "sender": ALICE,
        "to": [BOB],
    }
    base.update(fields)
    return Message(**base)  # type: ignore[arg-type]


def header_names(raw: bytes) -> list[str]:
    return [k.lower() for k in message_from_bytes(raw, policy=policy.compat32)]


def test_plain_message_headers_and_body() -> None:
    raw = compose(item(cc=[EmailAddress("carol@contoso.com")], bcc=[BOB]))
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Message-ID"] == "<ID1@contoso.com>"
    assert parsed["Date"] == "Tue, 14 Nov 2023 22:13:20 +0000"
    assert parsed["From"] == "Alice <alice@contoso.com>"
    assert "Sender" not in parsed  # equal to From (RFC 5322 §3.6.2)
    assert parsed["To"] == "Bob <bob@fabrikam.test>"
    assert parsed["Cc"] == "carol@contoso.com"
    assert "Bcc" not in parsed
    assert parsed["Thread-Topic"] == "Hello"
    assert parsed["Thread-Index"] == "AQHaBcdE"
    assert parsed["X-MS-Has-Attach"] == ""
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content().rstrip("\r\n") == "Hi there"


def test_bcc_only_when_asked_and_sender_when_different() -> None:
    raw = compose(item(bcc=[EmailAddress("dan@x.test")], sender=BOB), include_bcc=True)
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] == "dan@x.test"
    assert parsed["Sender"] == "Bob <bob@fabrikam.test>"


def test_non_ascii_subject_is_rfc2047_and_utf8_addresses_use_rfc6532() -> None:
    raw = compose(item(subject="Grüße aus Köln", to=[EmailAddress("bob@fabrikam.test", "Bøb")]))
    assert raw.isascii()
    assert b"=?utf-8?" in raw
    assert parse(raw).changes.subject == "Grüße aus Köln"
    raw = compose(item(to=[EmailAddress("jörg@exämple.test", "Jörg")]))
    assert "jörg@exämple.test".encode() in raw
    assert parse(raw).changes.to == [EmailAddress("jörg@exämple.test", "Jörg")]


def test_threading_importance_receipts_and_custom_headers() -> None:
    message = item(
        subject="RE: FW: Plan",
        in_reply_to="<a@x>",
        references="<z@x> <a@x>",
        importance="high",
        is_read_receipt_requested=True,
        is_delivery_receipt_requested=True,
        headers=[InternetMessageHeader("x-ticket", "T-42")],
    )
    parsed = message_from_bytes(compose(message), policy=policy.default)
    assert parsed["In-Reply-To"] == "<a@x>"
    assert parsed["References"] == "<z@x> <a@x>"
    assert parsed["Thread-Topic"] == "Plan"
    assert parsed["Importance"] == "high" and parsed["X-Priority"] == "1"
    assert parsed["Disposition-Notification-To"] == "Alice <alice@contoso.com>"
    assert parsed["Return-Receipt-To"] == "Alice <alice@contoso.com>"
    assert parsed["x-ticket"] == "T-42"
    back = parse(compose(message))
    assert back.in_reply_to == "<a@x>" and back.references == "<z@x> <a@x>"
    assert back.changes.importance == "high"
    assert back.changes.is_read_receipt_requested is True
    assert back.changes.is_delivery_receipt_requested is True
    assert back.changes.headers == [InternetMessageHeader("x-ticket", "T-42")]
    assert back.internet_message_id == "<ID1@contoso.com>"
    assert back.date == 1_700_000_000_000_000


def test_html_inline_and_attachments_structure() -> None:
    html = '<html><body><p>Look: <img src="cid:logo"></p></body></html>'
    attachments = [
        MimeAttachment("logo.png", "image/png", b"\x89PNG\r\n\x1a\nxx", is_inline=True, content_id="logo"),
        MimeAttachment("Résumé.pdf", "application/pdf", b"%PDF-1.4 \x00\xff"),
        MimeAttachment(
            "Fwd.eml", "message/rfc822", b"", message=b"Subject: inner\r\nFrom: a@b.test\r\n\r\nx\r\n"
        ),
    ]
    raw = compose(item(body=ItemBody("html", html)), attachments)
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    assert parsed["X-MS-Has-Attach"] == "yes"
    alternative = parsed.get_payload()[0]
    assert alternative.get_content_type() == "multipart/alternative"
    plain, related = alternative.get_payload()
    assert plain.get_content().strip() == "Look:"
    assert related.get_content_type() == "multipart/related"
    assert related.get_payload()[1]["Content-ID"] == "<logo>"
    back = parse(raw)
    assert isinstance(back.changes.body, ItemBody) and back.changes.body.content_type == "html"
    assert back.changes.body.content.rstrip("\r\n") == html  # compose ends text parts with CRLF
    assert [(a.name, a.content_type, a.is_inline, a.content_id) for a in back.attachments] == [
        ("logo.png", "image/png", True, "logo"),
        ("Résumé.pdf", "application/pdf", False, None),
        ("Fwd.eml", "message/rfc822", False, None),
    ]
    assert back.attachments[0].data == b"\x89PNG\r\n\x1a\nxx"
    assert back.attachments[1].data == b"%PDF-1.4 \x00\xff"
    assert back.attachments[2].data.startswith(b"Subject: inner\r\n")


def test_header_injection_never_adds_a_header() -> None:
    evil = "x\r\nBcc: victim@evil.test\r\nX-Injected: 1"
    message = item(
        subject=evil,
        to=[EmailAddress("bob@fabrikam.test\r\nBcc: v@e.test", evil)],
        headers=[InternetMessageHeader("x-custom", evil)],
        in_reply_to=evil,
    )
    raw = compose(message, [MimeAttachment(evil, "text/plain\r\nX-A: 1", b"data", content_id=evil)])
    names = header_names(raw)
    assert "bcc" not in names and "x-injected" not in names and "x-a" not in raw.decode().lower()
    assert names.count("subject") == 1


def test_transport_headers_match_compose() -> None:
    message = item(headers=[InternetMessageHeader("x-a", "1")], has_attachments=True)
    headers = transport_headers(message)
    names = [h.name for h in headers]
    assert names[:3] == ["From", "To", "Subject"]
    assert ("X-MS-Has-Attach", "yes") in [(h.name, h.value) for h in headers]
    assert ("x-a", "1") in [(h.name, h.value) for h in headers]


def test_received_headers_are_kept_once_and_trace_first() -> None:
    stored = [
        InternetMessageHeader("Received", "from a by b; Tue, 14 Nov 2023 22:13:20 +0000"),
        InternetMessageHeader("From", "Someone <s@x.test>"),
        InternetMessageHeader("Content-Type", "text/plain"),
        InternetMessageHeader("X-Spam", "no"),
    ]
    names = header_names(compose(item(headers=stored)))
    assert names[0] == "received"
    assert names.count("from") == 1 and names.count("content-type") == 1 and "x-spam" in names


def test_hostile_stored_headers_still_compose() -> None:
    # Fields kept from received mail are written back as unstructured text, never re-parsed as addresses.
    stored = [InternetMessageHeader(n, "(" * 50_000) for n in ("Resent-To", "Resent-From", "Received")]
    raw = compose(item(headers=stored))
    assert header_names(raw)[:3] == ["resent-to", "resent-from", "received"]


def test_base64_input() -> None:
    raw = b"Subject: hi\r\n\r\nbody\r\n"
    wrapped = base64.encodebytes(raw)  # 76-column lines (spec §2.1)
    assert decode_base64(wrapped) == raw
    for bad in (b"not base64!", b"QUJ", b"QQ==QQ==", b"", b"   \r\n", "é".encode()):
        with pytest.raises(InvalidMimeBase64Error):
            decode_base64(bad)


def test_parse_best_effort_charsets() -> None:
    raw = (
        b"Subject: =?x-unknown?q?abc?= =?utf-8?b?!!!?= \xc3\xa9\r\n"
        b"Content-Type: text/plain; charset=rot13\r\n\r\ncaf\xc3\xa9\r\n"
    )
    parsed = parse(raw)
    assert parsed.changes.body == ItemBody("text", "café")
    assert "é" in str(parsed.changes.subject)
    latin = parse(b"Subject: x\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n")
    assert latin.changes.body == ItemBody("text", "café")


def nested(depth: int) -> bytes:
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth)
    )
    return b"Subject: s\r\n" + head + b"Content-Type: text/plain\r\n\r\nx\r\n"


def many(parts: int) -> bytes:
    body = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(parts))
    return b"Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + body + b"--b--\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(many(5000), id="5000 parts"),
        pytest.param(
            b"Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\n" * 300_000,
            id="300k empty parts",
        ),
        pytest.param(nested(100), id="100 deep"),
        pytest.param(nested(20_000), id="20000 deep"),
        pytest.param(
            b"Subject: s\r\n" + b"Content-Type: message/rfc822\r\n\r\n" * 3000 + b"\r\nx",
            id="3000 nested messages",
        ),
        pytest.param(b"To: " + b"(" * 60_000 + b"\r\n\r\nx", id="nested comments"),
        pytest.param(b"X-Big: " + b"a" * 200_000 + b"\r\n\r\nx", id="huge header"),
        pytest.param(b"X-A: a\r\n" * 5000 + b"\r\nx", id="5000 headers"),
        pytest.param(b"no header here at all\r\n", id="not a message"),
        pytest.param(bytes(range(256)) * 50, id="binary"),
    ],
)
def test_hostile_input_is_refused_quickly(raw: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(MimeError):
        parse(raw)
    assert time.monotonic() - started < 20  # generous: a bound on hangs, not a benchmark


def test_limits_are_parameters() -> None:
    assert len(parse(many(50)).attachments) == 49
    with pytest.raises(MimeError):
        parse(many(50), max_parts=10)
    with pytest.raises(MimeError):
        parse(nested(5), max_depth=3)
    assert parse(nested(5)).changes.body == ItemBody("text", "x")


def _at_stack_depth(frames: int, raw: bytes) -> str:
    """parse(raw) called `frames` frames deeper than here: 'ok' or the MimeError's message."""
    if frames:
        return _at_stack_depth(frames - 1, raw)
    try:
        parse(raw)
    except MimeError as exc:
        return str(exc)
    return "ok"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(nested(21), id="21 deep"),
        pytest.param(nested(20_000), id="20000 deep"),
        pytest.param(
            b"Subject: s\r\n" + b"Content-Type: message/rfc822\r\n\r\n" * 3000 + b"\r\nx", id="messages"
        ),
        pytest.param(b"To: " + b"(" * 60_000 + b"\r\n\r\nx", id="comments"),
        pytest.param(b"To: " + b"(\\)" * 5_000 + b"\r\n\r\nx", id="escaped comments"),
        pytest.param(nested(19), id="19 deep (valid)"),
    ],
)
def test_the_outcome_does_not_depend_on_the_callers_stack(raw: bytes) -> None:
    """The depth limits are counted, not left to RecursionError, whose point depends on the stack."""
    outcomes = {_at_stack_depth(frames, raw) for frames in (0, 300, 600, 850)}
    assert len(outcomes) == 1, outcomes
    assert "too deeply" not in outcomes.pop()  # the counted limit spoke, not the RecursionError fallback


def test_comment_depth_is_an_upper_bound_of_real_nesting() -> None:
    assert comment_depth("Ann (work (desk)) <a@x.test>") == 2
    assert comment_depth('"((((" <a@x.test>') == 4  # quoted: overestimated, never under
    deep = "(" * (MAX_COMMENT_DEPTH + 1) + ")" * (MAX_COMMENT_DEPTH + 1)
    assert comment_depth(deep + " <a@x.test>") == MAX_COMMENT_DEPTH + 1
    assert comment_depth("((\\)" * 40) >= 40  # an escaped ")" inside a comment closes nothing
    assert comment_depth("()" * 100) == 1
    nested_ok = b"To: Ann (a (b (c))) <a@x.test>\r\nSubject: s\r\n\r\nx"
    to = parse(nested_ok).changes.to
    assert isinstance(to, list) and [a.address for a in to] == ["a@x.test"]


def test_many_addresses_parse_fast() -> None:
    to = b",".join(b"User %d <u%d@x.test>" % (i, i) for i in range(500))
    parsed = parse(b"To: " + to + b"\r\nSubject: s\r\n\r\nx")
    assert isinstance(parsed.changes.to, list) and len(parsed.changes.to) == 500
    assert parsed.changes.to[7] == EmailAddress("u7@x.test", "User 7")
