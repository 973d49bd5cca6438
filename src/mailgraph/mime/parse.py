"""Parse: RFC 5322 / MIME bytes → the fields of a message item, bounded on hostile input.

The inverse of `compose`, used by MIME-mode requests (create, sendMail) and for received mail. The
`email` package parses (policy `default`); this module bounds it and reads the result:

- parts: the parser's message factory counts every part it creates and stops the parse past
  `max_parts`, so a body of 100,000 tiny parts never becomes 100,000 objects;
- depth: the factory also refuses a part nested deeper than `max_depth` while the parser builds it,
  and address fields with comments nested deeper than `MAX_COMMENT_DEPTH` are refused before
  `getaddresses` reads them. Both parsers recurse once per level, so these limits are what makes the
  outcome independent of how deep the caller's stack already is: a RecursionError (still caught, as a
  last resort) would otherwise refuse a valid message called from a deep stack and let a hostile one
  through from a shallow one;
- headers: at most `MAX_FIELDS` fields per part, each at most `MAX_FIELD_CHARS`, checked on the raw
  values before any structured (address, date) parsing;
- charsets: unknown or non-text charsets decode as UTF-8 with replacement characters (best effort,
  RFC 2045 §4 allows no better), never an exception.

Anything refused raises `MimeError` (400 ErrorMimeContentConversionFailed at the API).
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from email.errors import MessageError
from email.feedparser import BytesFeedParser
from email.message import Message
from email.policy import Compat32, Policy

from mailgraph.domain.model import UNSET, InternetMessageHeader, MessageChanges, Timestamp
from mailgraph.mime.errors import InvalidMimeBase64Error, MimeError
from mailgraph.mime.reading import attachments, body, envelope, raw_headers, subparts, x_headers

MAX_FIELDS = 1000  # header fields in one part; real mail has tens (Received chains included)
MAX_FIELD_CHARS = 64 * 1024  # one field, folded; 500 recipients of ~100 characters fit in half
MAX_COMMENT_DEPTH = 32  # nested comments (RFC 5322 §3.2.2) in an address field; real mail nests one or two
_ADDRESS_FIELDS = ("From", "Sender", "To", "Cc", "Bcc", "Reply-To")  # the ones `reading` parses
_WHITESPACE = re.compile(rb"\s+")


@dataclass(slots=True)
class ParsedAttachment:
    """One attachment part: for an attached message (`message/rfc822`), `data` is its RFC 5322 bytes."""

    name: str
    content_type: str
    data: bytes
    is_inline: bool
    content_id: str | None


@dataclass(slots=True)
class ParsedMail:
    """What a MIME message says. `changes` holds the writable properties (headers: the x- ones)."""

    changes: MessageChanges
    internet_message_id: str | None
    in_reply_to: str
    references: str
    date: Timestamp | None
    headers: list[InternetMessageHeader]
    attachments: list[ParsedAttachment]


def decode_base64(text: bytes) -> bytes:
    """A MIME-mode request body: base64, possibly wrapped at 76 columns (spec §2.1).

    Raises:
        InvalidMimeBase64Error: not base64 (wrong alphabet, wrong padding) or empty.
    """
    compact = _WHITESPACE.sub(b"", text)
    try:
        # strict_mode (3.11+): only the alphabet, padding exactly where RFC 4648 §4 puts it.
        raw = binascii.a2b_base64(compact, strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidMimeBase64Error() from None
    if not raw:
        raise InvalidMimeBase64Error()
    return raw


class _RawHeaders(Compat32):
    """compat32, except that header values come back as parsed (8-bit bytes as surrogate escapes)
    instead of as `Header` objects that replace them: `headers.clean` reads them as UTF-8 (RFC 6532)."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_POLICY = _RawHeaders()


class _Limit(Exception):
    """Raised inside the parser's factory when a message has too many parts or is nested too deep."""


def _parse_tree(raw: bytes, max_parts: int, max_depth: int) -> Message:
    created = 0
    open_parts: list[Message] = []  # the parser's stack of parts being built: its length is the depth

    def factory(policy: Policy = _POLICY) -> Message:
        nonlocal created
        created += 1
        if created > max_parts + 1:  # +1: the parser builds one probe instance up front
            raise _Limit(f"The MIME content has more than {max_parts} parts.")
        if len(open_parts) > max_depth:  # the new part's depth (the root's is 0), as `_check_tree` counts
            raise _Limit(f"The MIME content is nested deeper than {max_depth} levels.")
        return Message(policy=policy)

    # compat32: header access is string splitting, not the recursive structured parser (reading.py).
    parser = BytesFeedParser(_factory=factory, policy=_POLICY)
    # FeedParser keeps the open parts in `_msgstack` (every CPython since 3.3; not public API). Should
    # that ever change, `_check_tree` still enforces the depth, after the parse.
    stack = getattr(parser, "_msgstack", None)
    if isinstance(stack, list):
        open_parts = stack
    try:
        parser.feed(raw)
        root = parser.close()
    except _Limit as exc:
        raise MimeError(str(exc)) from None
    except RecursionError:
        raise MimeError("The MIME content is nested too deeply (parts or header comments).") from None
    return root


def _check_tree(root: Message, max_depth: int) -> None:
    stack: list[tuple[Message, int]] = [(root, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > max_depth:
            raise MimeError(f"The MIME content is nested deeper than {max_depth} levels.")
        fields = list(part.raw_items())
        if len(fields) > MAX_FIELDS:
            raise MimeError(f"A MIME part has more than {MAX_FIELDS} header fields.")
        for name, value in fields:
            if len(value) > MAX_FIELD_CHARS:
                raise MimeError(
                    f"The header field '{name[:64]}' is longer than {MAX_FIELD_CHARS} characters."
                )
        stack.extend((child, depth + 1) for child in subparts(part))
    for name in _ADDRESS_FIELDS:
        for value in root.get_all(name, []):
            if comment_depth(str(value)) > MAX_COMMENT_DEPTH:
                raise MimeError(
                    f"The header field '{name}' has comments nested deeper than {MAX_COMMENT_DEPTH} levels."
                )


def comment_depth(value: str) -> int:
    """An upper bound of how deep comments nest in an address field, i.e. of how deep
    `email.utils.getaddresses` recurses on it (RFC 5322 §3.2.2: comments nest; `\\` quotes a character).

    Quoted strings are not tracked (a `(` in a display name counts: it can only overestimate), and a
    backslash escapes only inside a comment, as the address parser reads it.
    """
    if value.count("(") <= MAX_COMMENT_DEPTH:  # the common case, at C speed
        return value.count("(")
    depth = deepest = 0
    escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and depth:
            escaped = True
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")" and depth:
            depth -= 1
    return deepest


def parse(raw: bytes, *, max_parts: int = 1000, max_depth: int = 20) -> ParsedMail:
    """The message `raw` describes.

    Raises:
        MimeError: no header fields at all, too many parts, too deep, oversized headers, or a header
            the parser cannot read.
    """
    root = _parse_tree(raw, max_parts, max_depth)
    if not root.keys():
        raise MimeError("The MIME content is not an RFC 5322 message: it has no header fields.")
    _check_tree(root, max_depth)
    try:
        changes = MessageChanges()
        fields = envelope(root, changes)
        changes.body, body_part = body(root)
        extra = x_headers(root)
        changes.headers = extra if extra else UNSET
        found = [ParsedAttachment(*a) for a in attachments(root, body_part)]
    except RecursionError:
        raise MimeError("The MIME content is nested too deeply (parts or header comments).") from None
    except (MessageError, ValueError, LookupError, IndexError, AttributeError, TypeError) as exc:
        # The `email` package records defects instead of raising, but a few malformed structures
        # still raise from inside it; they are the sender's fault, not ours.
        raise MimeError(f"The MIME content cannot be read: {type(exc).__name__}.") from None
    return ParsedMail(
        changes=changes,
        internet_message_id=fields.internet_message_id,
        in_reply_to=fields.in_reply_to,
        references=fields.references,
        date=fields.date,
        headers=raw_headers(root),
        attachments=found,
    )
