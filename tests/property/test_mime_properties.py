"""Properties of the MIME layer (issue 4): header injection is impossible, and a message survives
JSON → store → `$value` → MIME input with the same fields.

The round trip runs through the real app: one event loop and one runtime per test, one example per
hypothesis draw (sync test driving the loop, so hypothesis and the async app share nothing else).
"""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailgraph.config import Settings
from mailgraph.domain.model import EmailAddress, InternetMessageHeader, ItemBody, Message
from mailgraph.mime.compose import MimeAttachment, compose
from mailgraph.mime.parse import parse
from mailgraph.wiring import Runtime, build

# -- strategies -------------------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)  # CR, LF, NUL included
HOSTILE = st.one_of(ANY_TEXT, st.sampled_from(["a\r\nBcc: x@evil.test", "\nX-A: 1", "x\r\n\r\nbody", "\r"]))
CLEAN_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=40)
LOCAL = st.text("abcxyz0189._-+", min_size=1, max_size=12).filter(
    lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s
)
ADDRESS = st.one_of(
    st.builds(
        lambda local, dom: f"{local}@{dom}",
        LOCAL,
        st.sampled_from(["x.test", "fabrikam.test", "ex-ample.org"]),
    ),
    st.sampled_from(["jörg@exämple.test", "用户@例子.test", '"quoted local"@x.test']),
)
NAME = st.one_of(
    st.just(""),
    st.sampled_from(
        ["Doe, Jane", 'O"Brien', "Grüße", "a\\b", "(comment)", "<angle>", "日本語の名前", "x; y: z"]
    ),
    CLEAN_TEXT.map(str.strip).filter(lambda s: "=?" not in s),
)


def recipients(name: st.SearchStrategy[str], max_size: int = 3) -> st.SearchStrategy[list[EmailAddress]]:
    return st.lists(st.builds(EmailAddress, ADDRESS, name), max_size=max_size)


# -- (a) header injection: compose never yields a header the message did not ask for -----------------


def expected_names(m: Message, attachments: list[MimeAttachment], include_bcc: bool) -> Counter[str]:
    names = ["subject", "thread-topic", "date", "x-ms-has-attach", "mime-version", "content-type"]
    names += ["from"] if m.from_ else []
    names += ["sender"] if m.sender and m.from_ and m.sender.key != m.from_.key else []
    names += [n for n, v in (("to", m.to), ("cc", m.cc), ("reply-to", m.reply_to)) if v]
    names += ["bcc"] if include_bcc and m.bcc else []
    names += [
        n for n, v in (("thread-index", m.conversation_index), ("message-id", m.internet_message_id)) if v
    ]
    names += [n for n, v in (("in-reply-to", m.in_reply_to), ("references", m.references)) if v]
    names += ["importance", "x-priority"] if m.importance != "normal" else []
    names += [h.name.lower() for h in m.headers]
    if not attachments:
        names.append("content-transfer-encoding")  # a single text part carries its own encoding
    return Counter(names)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=HOSTILE,
    from_name=HOSTILE,
    to=recipients(HOSTILE),
    cc=recipients(HOSTILE),
    bcc=recipients(HOSTILE),
    header_values=st.lists(HOSTILE, max_size=5),
    in_reply_to=HOSTILE,
    importance=st.sampled_from(["low", "normal", "high"]),
    attachment_names=st.lists(HOSTILE, max_size=2),
    include_bcc=st.booleans(),
)
def test_no_input_yields_more_headers_than_given(
    subject: str,
    from_name: str,
    to: list[EmailAddress],
    cc: list[EmailAddress],
    bcc: list[EmailAddress],
    header_values: list[str],
    in_reply_to: str,
    importance: Any,
    attachment_names: list[str],
    include_bcc: bool,
) -> None:
    message = Message(
        id="i", rest_id="r", mailbox_id="m", folder_id="f", change_key="c", created_at=0, modified_at=0,
        received_at=0, sent_at=0, is_draft=True, is_read=True, internet_message_id="<a@b.test>",
        conversation_id="c", conversation_index="AQ==", subject=subject, body=ItemBody("text", subject),
        from_=EmailAddress("alice@fabrikam.test", from_name), to=to, cc=cc, bcc=bcc,
        headers=[InternetMessageHeader(f"x-h{i}", v) for i, v in enumerate(header_values)],
        in_reply_to=in_reply_to, importance=importance,
    )  # fmt: skip
    files = [MimeAttachment(n, "text/plain\r\nX-Evil: 1", n.encode(), content_id=n) for n in attachment_names]
    raw = compose(message, files, include_bcc=include_bcc)
    parsed = parse(raw)
    assert Counter(h.name.lower() for h in parsed.headers) == expected_names(message, files, include_bcc)
    assert len(parsed.attachments) == len(files)


# -- (b) JSON → store → $value → MIME input keeps the fields ----------------------------------------


@pytest.fixture
def app_loop(
    data_dir: Path, database: str | None
) -> Iterator[tuple[asyncio.AbstractEventLoop, httpx.AsyncClient, dict[str, str]]]:
    loop = asyncio.new_event_loop()
    runtime: Runtime = loop.run_until_complete(build(Settings(data_dir=data_dir, database=database)))

    async def login() -> dict[str, str]:
        users = {
            u.user_principal_name: u for u in await runtime.engine.read(lambda tx: tx.directory.list_users())
        }
        apps = await runtime.engine.read(lambda tx: tx.directory.list_apps())
        app = next(a for a in apps if a.client_id == "full-app")
        scopes = ["Mail.ReadWrite", "Mail.Send"]
        token = runtime.app.services.tokens.issue_user_token(
            runtime.tenant, app, users["alice@fabrikam.test"], scopes
        )
        return {"Authorization": f"Bearer {token}"}

    headers = loop.run_until_complete(login())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.app), base_url="https://graph.test")
    yield loop, client, headers
    loop.run_until_complete(client.aclose())
    loop.run_until_complete(runtime.engine.close())
    loop.close()


def as_json(items: list[EmailAddress]) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": a.address, "name": a.name}} for a in items]


def text_body(content: str) -> str:
    # MIME text has CRLF line ends and compose ends the text with one (RFC 2046 §4.1.1); parse gives LF.
    return content.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


CONTENT_TYPES = st.sampled_from(["application/pdf", "image/png", "text/csv", "application/octet-stream"])
FILE = st.fixed_dictionaries(
    {"name": CLEAN_TEXT.filter(lambda s: s.strip() == s and s and "=?" not in s), "contentType": CONTENT_TYPES,
     "bytes": st.binary(max_size=200), "isInline": st.booleans()}
)  # fmt: skip


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    subject=CLEAN_TEXT,
    body=st.one_of(
        st.builds(lambda t: {"contentType": "text", "content": t}, st.text(st.characters(exclude_categories=("Cs",)), max_size=200)),
        st.builds(lambda t: {"contentType": "html", "content": f"<p>{t}</p>"}, CLEAN_TEXT.filter(lambda s: "<" not in s and "&" not in s)),
    ),
    to=recipients(NAME).filter(bool),
    cc=recipients(NAME),
    bcc=recipients(NAME),
    reply_to=recipients(NAME, 2),
    importance=st.sampled_from(["low", "normal", "high"]),
    headers=st.lists(CLEAN_TEXT.map(str.strip), max_size=3),
    files=st.lists(FILE, max_size=2),
)  # fmt: skip
def test_json_store_value_mime_round_trip(
    app_loop: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient, dict[str, str]],
    subject: str,
    body: dict[str, str],
    to: list[EmailAddress],
    cc: list[EmailAddress],
    bcc: list[EmailAddress],
    reply_to: list[EmailAddress],
    importance: str,
    headers: list[str],
    files: list[dict[str, Any]],
) -> None:
    loop, api, auth = app_loop
    sent = {
        "subject": subject,
        "body": body,
        "toRecipients": as_json(to),
        "ccRecipients": as_json(cc),
        "bccRecipients": as_json(bcc),
        "replyTo": as_json(reply_to),
        "importance": importance,
        "internetMessageHeaders": [{"name": f"x-p{i}", "value": v} for i, v in enumerate(headers)],
        "attachments": [
            {"@odata.type": "#microsoft.graph.fileAttachment", "name": f["name"], "contentType": f["contentType"],
             "contentBytes": base64.b64encode(f["bytes"]).decode(), "isInline": f["isInline"],
             **({"contentId": f"cid{i}@x.test"} if f["isInline"] else {})}
            for i, f in enumerate(files)
        ],
    }  # fmt: skip

    async def run() -> tuple[dict[str, Any], dict[str, Any], list[Any], list[Any], list[Any]]:
        r = await api.post("/v1.0/me/messages", json=sent, headers=auth)
        assert r.status_code == 201, r.text
        first = r.json()
        r = await api.get(f"/v1.0/me/messages/{quote(first['id'], safe='')}/$value", headers=auth)
        assert r.status_code == 200
        r = await api.post(
            "/v1.0/me/messages",
            content=base64.b64encode(r.content),
            headers=auth | {"Content-Type": "text/plain"},
        )
        assert r.status_code == 201, r.text
        second = r.json()
        lists = []
        for item in (first, second):
            r = await api.get(f"/v1.0/me/messages/{quote(item['id'], safe='')}/attachments", headers=auth)
            lists.append(r.json()["value"])
        r = await api.get(
            f"/v1.0/me/messages/{quote(second['id'], safe='')}?$select=internetMessageHeaders", headers=auth
        )
        return first, second, lists[0], lists[1], r.json()["internetMessageHeaders"]

    first, second, first_files, second_files, second_headers = loop.run_until_complete(run())
    # A subject's leading whitespace does not survive MIME: "Subject:  a" is read back as "a" (every
    # RFC 5322 reader drops the white space after the colon; the stdlib's does, and so must any
    # reader of our $value), so it is compared without it (hypothesis found " ").
    assert second["subject"] == first["subject"].lstrip(" \t"), "subject"
    for key in ("toRecipients", "ccRecipients", "bccRecipients", "replyTo", "importance"):
        assert second[key] == first[key], key
    assert second["internetMessageId"] == first["internetMessageId"]
    assert second["hasAttachments"] == first["hasAttachments"]
    # HTML's line ends are insignificant, and MIME text has CRLF ends (see text_body): compared without.
    assert second["body"]["contentType"] == first["body"]["contentType"]
    assert text_body(second["body"]["content"]) == text_body(first["body"]["content"])
    assert second_headers == sent["internetMessageHeaders"]

    def shape(items: list[Any]) -> list[tuple[Any, ...]]:
        return [
            (a["name"], a["contentType"], a["contentBytes"], a["isInline"], a.get("contentId")) for a in items
        ]

    assert sorted(shape(second_files)) == sorted(shape(first_files))


# -- hostile structures (issue 17) ------------------------------------------------------------------

_CTE = st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "bogus"])
_CHARSET = st.sampled_from(["utf-8", "iso-8859-1", "us-ascii", "nonexistent", "utf-7", ""])
_LEAF_TYPE = st.sampled_from(
    ["text/plain", "text/html", "application/octet-stream", "message/rfc822", "image/png"]
)
_BODY = st.one_of(
    st.binary(max_size=200).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"\r\n")),
    st.sampled_from([b"aGVsbG8=", b"!!!not base64===", b"=E2=82=AC=\r\n", b"=ZZ", b"--b0--"]),
)


@st.composite
def _entity(draw: st.DrawFn, depth: int = 0) -> tuple[bytes, int]:
    """A MIME entity (headers + body) and how deep its deepest descendant lies below it."""
    if depth < 3 and draw(st.booleans()):
        boundary = f"p{depth}x{draw(st.integers(0, 999))}"
        kids = [draw(_entity(depth + 1)) for _ in range(draw(st.integers(0, 3)))]
        sub = draw(st.sampled_from(["mixed", "alternative", "related", "digest"]))
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + k + b"\r\n" for k, _ in kids)
        body += b"--" + boundary.encode() + b"--\r\n"
        head = f'Content-Type: multipart/{sub}; boundary="{boundary}"\r\n\r\n'.encode()
        # The depth of its deepest entity below it (an empty multipart has none).
        return head + body, 1 + max(n for _, n in kids) if kids else 0
    kind = draw(_LEAF_TYPE)
    head = (
        f"Content-Type: {kind}; charset={draw(_CHARSET)}\r\nContent-Transfer-Encoding: {draw(_CTE)}\r\n"
    ).encode()
    if draw(st.booleans()):
        head += f'Content-Disposition: attachment; filename="{draw(CLEAN_TEXT)}"\r\n'.encode()
    # An attached message (message/rfc822) is parsed too: its own entity lies one level deeper.
    return head + b"\r\n" + draw(_BODY), 1 if kind == "message/rfc822" else 0


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(layers=st.integers(0, 30), inner=_entity())
def test_hostile_structures_parse_or_are_refused_by_the_limits(layers: int, inner: tuple[bytes, int]) -> None:
    """Any tree — wrapped in up to 30 extra multipart layers, with broken encodings and charsets — is
    parsed, or refused with MimeError exactly when it is nested deeper than the limit (20 layers)."""
    from mailgraph.mime.errors import MimeError

    entity, depth = inner
    raw = b"From: a@example.org\r\nTo: bob@fabrikam.test\r\nSubject: tree\r\nMIME-Version: 1.0\r\n"
    for i in range(layers):
        raw += f'Content-Type: multipart/mixed; boundary="w{i}"\r\n\r\n--w{i}\r\n'.encode()
    raw += entity + b"\r\n"
    for i in reversed(range(layers)):
        raw += f"--w{i}--\r\n".encode()
    try:
        parse(raw)
    except MimeError as exc:
        assert layers + depth > 20, (layers, depth, exc)
    else:
        assert layers + depth <= 20, (layers, depth)
