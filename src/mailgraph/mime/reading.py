"""Reading a parsed (and already bounded) `email` tree: envelope fields, body, attachments, headers.

The tree is parsed with policy `compat32`, whose header access is plain string splitting: the
structured header parser of policy `default` recurses once per nested comment and parses 5,000
addresses in ~2 s, both unsafe on hostile input. Addresses go through `email.utils.getaddresses`
(~30× faster, bounded), encoded words (RFC 2047) through `email.header.decode_header`. Split from
parse.py, which owns the bounds; everything here runs only on trees that passed them, so the one
recursive walk (`_find_body`) stays within `max_depth`.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from mailgraph.domain.model import (
    SECOND,
    EmailAddress,
    InternetMessageHeader,
    ItemBody,
    MessageChanges,
    Timestamp,
)
from mailgraph.mime.headers import clean, importance_from_priority, importance_header

_MSG_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")
_SPACES = re.compile(r"\s+")
# x- headers that `compose` writes from item properties: not custom headers of the item.
_GENERATED = frozenset({"x-ms-has-attach", "x-priority", "x-ms-tnef-correlator"})


@dataclass(slots=True)
class Envelope:
    """Identification, threading and origination-date fields (RFC 5322 §3.6.1, §3.6.4)."""

    internet_message_id: str | None
    in_reply_to: str
    references: str
    date: Timestamp | None


def _decode_bytes(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", errors="replace")
    except (LookupError, UnicodeError, ValueError):  # unknown or non-text codec (e.g. rot13)
        return data.decode("utf-8", errors="replace")


def decode_words(value: str) -> str:
    """A header value with its RFC 2047 encoded words decoded; undecodable words are kept as sent."""
    if "=?" not in value:
        return clean(value)
    try:
        chunks = decode_header(value)
    except (ValueError, LookupError, UnicodeError):  # HeaderParseError is a ValueError
        return clean(value)
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        elif charset is None:  # decode_header returns unencoded text as raw-unicode-escape bytes
            out.append(chunk.decode("raw-unicode-escape", errors="replace"))
        else:
            out.append(_decode_bytes(chunk, charset))
    return clean("".join(out))


def _raw(root: Message, name: str) -> list[str]:
    return [str(v) for v in root.get_all(name, [])]


def _addresses(root: Message, name: str) -> list[EmailAddress]:
    # Every occurrence counts: hostile input may repeat a field RFC 5322 allows once.
    pairs = getaddresses([clean(v) for v in _raw(root, name)])
    return [EmailAddress(clean(addr), decode_words(who)) for who, addr in pairs if addr]


def _text(root: Message, name: str) -> str | None:
    values = _raw(root, name)
    return decode_words(values[0]) if values else None


def _ids(value: str | None) -> str:
    return _SPACES.sub(" ", value).strip() if value else ""


def envelope(root: Message, changes: MessageChanges) -> Envelope:
    """Fill `changes` from the top-level fields and return the ones that are not writable properties."""
    subject = _text(root, "Subject")
    if subject is not None:
        changes.subject = subject
    for attr, name in (("to", "To"), ("cc", "Cc"), ("bcc", "Bcc"), ("reply_to", "Reply-To")):
        items = _addresses(root, name)
        if items:
            setattr(changes, attr, items)
    for attr, name in (("from_", "From"), ("sender", "Sender")):
        items = _addresses(root, name)
        if items:
            setattr(changes, attr, items[0])
    importance = importance_header(_text(root, "Importance") or "") or importance_from_priority(
        _text(root, "X-Priority") or ""
    )
    if importance is not None:
        changes.importance = importance
    if "Disposition-Notification-To" in root:
        changes.is_read_receipt_requested = True
    if "Return-Receipt-To" in root:
        changes.is_delivery_receipt_requested = True
    message_id = _ids(_text(root, "Message-ID"))
    return Envelope(
        internet_message_id=message_id if _MSG_ID.match(message_id) else None,
        in_reply_to=_ids(_text(root, "In-Reply-To")),
        references=_ids(_text(root, "References")),
        date=_date(_text(root, "Date")),
    )


def _date(value: str | None) -> Timestamp | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
        return int(when.timestamp() * SECOND)  # a zone-less "-0000" date is UTC (RFC 5322 §3.3)
    except (TypeError, ValueError, OverflowError, OSError, IndexError):
        return None


def decode_text(part: Message) -> str:
    """A text part's content: its charset when Python knows it as a text codec, else UTF-8; bad bytes
    become U+FFFD. Plain text gets LF line ends without the one final line end `compose` adds (RFC 2046
    §4.1.1 text is CRLF on the wire); HTML, where line ends are insignificant, stays as sent."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    text = _decode_bytes(data, part.get_content_charset())
    if part.get_content_subtype() == "html":
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text[:-1] if text.endswith("\n") else text


def subparts(part: Message) -> list[Message]:
    """The parsed children of a multipart (or the inner message of a message/rfc822 part)."""
    payload = part.get_payload() if part.is_multipart() else None
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _find_body(part: Message) -> Message | None:
    """RFC 2046 §5.1.4 / RFC 2387: the last HTML-or-text alternative, the root of a related, the
    first body candidate of a mixed; never a part marked as an attachment."""
    if part.get_content_disposition() == "attachment":
        return None
    kind = part.get_content_type()
    if kind in ("text/plain", "text/html"):
        return part
    if part.get_content_maintype() != "multipart":
        return None
    children = subparts(part)
    if kind == "multipart/alternative":
        found = [b for b in (_find_body(c) for c in children) if b is not None]
        html = [b for b in found if b.get_content_type() == "text/html"]
        best = html or found
        return best[-1] if best else None
    if kind == "multipart/related":
        start = part.get_param("start")
        roots = [c for c in children if isinstance(start, str) and c.get("Content-ID") == start]
        return _find_body((roots or children)[0]) if children else None
    return next((b for b in (_find_body(c) for c in children[:1]) if b is not None), None)


def body(root: Message) -> tuple[ItemBody, Message | None]:
    """The body and its part: the HTML alternative when there is one, else the text, else empty text."""
    part = _find_body(root)
    if part is None:
        return ItemBody("text", ""), None
    content = decode_text(part)
    kind = ItemBody("html", content) if part.get_content_subtype() == "html" else ItemBody("text", content)
    return kind, part


def x_headers(root: Message) -> list[InternetMessageHeader]:
    """The custom x- headers of the top level (those `compose` derives from properties excluded)."""
    return [
        InternetMessageHeader(name, decode_words(str(value)))
        for name, value in root.raw_items()
        if name.lower().startswith("x-") and name.lower() not in _GENERATED
    ]


def raw_headers(root: Message) -> list[InternetMessageHeader]:
    """Every top-level field as received: unfolded (RFC 5322 §2.2.3), encoded words left as sent."""
    return [InternetMessageHeader(name, clean(str(value)).strip()) for name, value in root.raw_items()]


def _walk(part: Message) -> list[tuple[Message, Message | None]]:
    """(part, parent) below `part` in document order, without recursion (message/rfc822 not entered)."""
    out: list[tuple[Message, Message | None]] = []
    stack: list[tuple[Message, Message | None]] = [(part, None)]
    while stack:
        item, parent = stack.pop()
        out.append((item, parent))
        if item.get_content_maintype() == "multipart":
            stack.extend((child, item) for child in reversed(subparts(item)))
    return out


# Alternatives that are the body in another text form (RFC 2046 §5.1.4); any other alternative
# (text/calendar of a meeting request, application/*) is content of its own and kept as an attachment.
_RENDERINGS = frozenset({"text/plain", "text/html", "text/enriched", "text/richtext"})


def attachments(root: Message, body_part: Message | None) -> list[tuple[str, str, bytes, bool, str | None]]:
    """(name, content type, data, is inline, content id) of every leaf that is not the body.

    The text renderings of the body (plain, HTML, enriched) are not attachments either; other
    alternatives (text/calendar invitations) are. A part with a Content-ID that is
    not marked `attachment` counts as inline (RFC 2392 `cid:`); an attached message (message/rfc822)
    is one attachment holding its own bytes (CRLF line ends, 8-bit kept as received).
    """
    walked = _walk(root)
    parent_of = {id(p): parent for p, parent in walked}
    ancestors: set[int] = set()
    up = parent_of.get(id(body_part)) if body_part is not None else None
    while up is not None:
        ancestors.add(id(up))
        up = parent_of.get(id(up))
    out: list[tuple[str, str, bytes, bool, str | None]] = []
    for part, parent in walked:
        if part.get_content_maintype() == "multipart" or part is body_part:
            continue
        content_type = part.get_content_type()
        if (
            parent is not None
            and id(parent) in ancestors
            and parent.get_content_type() == "multipart/alternative"
            and content_type in _RENDERINGS
        ):
            continue  # another rendering of the body
        if content_type == "text/calendar" and (method := part.get_param("method")):
            # An iMIP invitation (RFC 6047 §2.4: `method` is required there): kept, with its method, so
            # compose puts it back as the body's calendar alternative and `$value` round-trips it.
            content_type = f"text/calendar; method={str(method).upper()}"
        cid = _text(part, "Content-ID")
        content_id = cid.strip().strip("<>") or None if cid else None
        inline = content_id is not None and part.get_content_disposition() != "attachment"
        inner = subparts(part)
        if inner:  # message/rfc822: the payload is the parsed inner message
            data = inner[0].as_bytes(policy=inner[0].policy.clone(linesep="\r\n"))
            default = _text(inner[0], "Subject") or "message"
            name = decode_words(part.get_filename() or "") or f"{default}.eml"
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            extension = mimetypes.guess_extension(part.get_content_type()) or ""
            name = decode_words(part.get_filename() or "") or f"attachment{len(out) + 1}{extension}"
        out.append((name, content_type, data, inline, content_id))
    return out
