"""Issue 17, defect 1, as a property: every draft the domain accepts composes to MIME whose lines are all
at most 998 octets (RFC 5322 §2.1.1), in `$value` (`compose`, `compose_streamed`) and on the wire to the
relay (`wire_message`), whatever the names, subjects, custom headers and attachment names."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mailgraph.delivery.worker import wire_message
from mailgraph.domain.drafts import apply_changes
from mailgraph.domain.errors import DomainError
from mailgraph.domain.model import EmailAddress, InternetMessageHeader, ItemBody, Message, MessageChanges
from mailgraph.mime.compose import MimeAttachment, compose
from mailgraph.mime.stream import StreamedFile, compose_streamed

PRINTABLE = st.characters(exclude_categories=("Cs", "Cc"))
# Long runs without spaces (what the stdlib cannot fold), RFC 5322 specials, non-ASCII, and ordinary text.
RUN = st.builds(
    lambda c, n: c * n,
    st.sampled_from(["N", "é", '"', "(", ",", "日", "=?", "\\", "a b"]),
    st.integers(1, 1100),
)
TEXT = st.one_of(
    RUN,
    st.text(PRINTABLE, max_size=300),
    st.lists(st.one_of(RUN, st.text(PRINTABLE, max_size=50)), max_size=4).map("".join),
)
ADDRESS = st.one_of(
    st.sampled_from(["far@example.net", "jörg@exämple.test", '"quoted local"@x.test', "no-at-sign", ""]),
    st.builds(lambda n: "b" * n + "@example.net", st.integers(1, 312)),
)
PEOPLE = st.lists(st.builds(EmailAddress, ADDRESS, TEXT), max_size=3)
HEADER_NAME = st.builds(lambda n: "x-" + "h" * n, st.integers(1, 256))
HEADERS = st.lists(st.builds(InternetMessageHeader, HEADER_NAME, TEXT), max_size=5)
ATTACHMENT_NAME = st.one_of(TEXT.map(lambda s: s[:255]), st.just("a" * 251 + ".txt"))
CONTENT_TYPE = st.sampled_from(["text/plain", "image/png", "application/" + "x" * 243, "text/" + "p" * 1200])


def _draft(changes: MessageChanges) -> Message | None:
    message = Message(
        id="i", rest_id="r", mailbox_id="m", folder_id="f", change_key="c", created_at=0, modified_at=0,
        received_at=0, sent_at=1_700_000_000_000_000, is_draft=True, is_read=True,
        internet_message_id="<a@b.test>", conversation_id="c", conversation_index="AQ==",
    )  # fmt: skip
    try:
        apply_changes(message, changes, 0, creating=True)
    except DomainError:
        return None  # refused at create (Graph's 400): never composed
    return message


def _lines_fit(raw: bytes) -> None:
    longest = max(raw.split(b"\r\n"), key=len)
    assert len(longest) <= 998, longest[:200]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    subject=TEXT,
    from_name=TEXT,
    to=PEOPLE,
    cc=PEOPLE,
    bcc=PEOPLE,
    reply_to=PEOPLE,
    headers=HEADERS,
    message_id=st.one_of(
        st.just("<a@b.test>"), st.builds(lambda n: "<" + "i" * n + "@b.test>", st.integers(1, 892))
    ),
    attachments=st.lists(st.tuples(ATTACHMENT_NAME, CONTENT_TYPE, st.booleans()), max_size=3),
    html=st.booleans(),
)
def test_every_accepted_draft_composes_to_short_lines(
    tmp_path: Path,
    subject: str,
    from_name: str,
    to: list[EmailAddress],
    cc: list[EmailAddress],
    bcc: list[EmailAddress],
    reply_to: list[EmailAddress],
    headers: list[InternetMessageHeader],
    message_id: str,
    attachments: list[tuple[str, str, bool]],
    html: bool,
) -> None:
    changes = MessageChanges(
        subject=subject[:4096],
        body=ItemBody("html" if html else "text", subject),
        from_=EmailAddress("alice@fabrikam.test", from_name),
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=reply_to,
        headers=headers,
        internet_message_id=message_id,
    )
    message = _draft(changes)
    assume(message is not None)
    assert message is not None
    files = [
        MimeAttachment(name, ctype, b"data", is_inline=inline, content_id=name[:60] if inline else None)
        for name, ctype, inline in attachments
    ]
    for include_bcc in (False, True):
        _lines_fit(compose(message, files, include_bcc=include_bcc))
    _lines_fit(wire_message(message, [], "outbound-1", "relay.example.test", 1_700_000_000_000_000))
    if files:
        blob = b"data" * 100

        async def source(piece: int) -> AsyncIterator[bytes]:  # what BlobStorage.stream yields
            for start in range(0, len(blob), piece):
                yield blob[start : start + piece]

        streamed = compose_streamed(
            message, [StreamedFile(files[0], source, len(blob)), *files[1:]], include_bcc=True
        )

        async def collect() -> bytes:
            return b"".join([piece async for piece in streamed.pieces()])

        _lines_fit(asyncio.run(collect()))
