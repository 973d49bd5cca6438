"""The body of a generated reply or forward, and conversions between HTML and text bodies.

Spec §2.7: the new draft's body is the caller's comment, then a separator block with the original's
From / Sent / To / Cc / Subject, then the original body. The layout follows what Outlook and the
Graph doc examples produce (the exact strings are [unconfirmed], see docs/graph-coverage.md):
an HTML original gives an HTML draft (`<hr>` and a `divRplyFwdMsg` header block, the original's
`<body>` content below); a text original gives a text draft (Outlook's 32-underscore separator line,
the original text below, unindented as Outlook does). The Cc line appears only when the original had Cc.

The same text conversions serve `Prefer: outlook.body-content-type` on reads (spec §0.2).
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, tzinfo

from mailgraph.domain import bodies
from mailgraph.domain.model import SECOND, EmailAddress, ItemBody, Message
from mailgraph.mime.text import html_to_text

TEXT_SEPARATOR = "_" * 32  # Outlook's plain-text reply separator
_BODY_CONTENT = re.compile(r"<body[^>]*>(.*)</body\s*>", re.IGNORECASE | re.DOTALL)


def text_to_html(content: str) -> str:
    """Text as an HTML fragment: escaped, line breaks as `<br>` (no `<pre>`, so it wraps like mail)."""
    return "<div>" + html.escape(content).replace("\r\n", "\n").replace("\n", "<br>\n") + "</div>"


def convert(body: ItemBody, target: str) -> ItemBody:
    """The body in the `target` format ("text" or "html"); unchanged when it already is."""
    if body.content_type == target:
        return body
    if target == "text":
        return ItemBody("text", html_to_text(body.content))
    return bodies.normalize(
        ItemBody("html", text_to_html(body.content))
    )  # a full document, as Graph stores HTML


def _inner_html(content: str) -> str:
    found = _BODY_CONTENT.search(content)
    return found.group(1).strip("\r\n") if found else content


def _who(address: EmailAddress | None) -> str:
    if address is None:
        return ""
    return f"{address.name} <{address.address}>" if address.name else address.address


def _sent_line(message: Message, zone: tzinfo) -> str:
    # Outlook's long date form, e.g. "Monday, November 23, 2026 11:09 PM" (in the Prefer zone).
    when = datetime.fromtimestamp(message.sent_at / SECOND, UTC).astimezone(zone)
    hour = when.hour % 12 or 12
    return f"{when:%A}, {when:%B} {when.day}, {when.year} {hour}:{when:%M} {'AM' if when.hour < 12 else 'PM'}"


def header_block(original: Message, zone: tzinfo) -> list[tuple[str, str]]:
    """The From / Sent / To / Cc / Subject lines of the quoted original (Cc only when present)."""
    lines = [
        ("From", _who(original.from_ or original.sender)),
        ("Sent", _sent_line(original, zone)),
        ("To", "; ".join(_who(a) for a in original.to)),
    ]
    if original.cc:
        lines.append(("Cc", "; ".join(_who(a) for a in original.cc)))
    lines.append(("Subject", original.subject))
    return lines


def quoted_body(original: Message, comment: ItemBody | None, zone: tzinfo) -> ItemBody:
    """The draft body: comment, separator block, original body; HTML unless the original is text."""
    block = header_block(original, zone)
    if original.body.content_type == "text":
        above = convert(comment, "text").content if comment else ""
        head = "\r\n".join(f"{name}: {value}" for name, value in block)
        text = f"{above}\r\n\r\n{TEXT_SEPARATOR}\r\n{head}\r\n\r\n{original.body.content}"
        return ItemBody("text", text)
    if comment is None or not comment.content:
        above = ""
    elif comment.content_type == "html":
        above = _inner_html(comment.content)
    else:
        above = text_to_html(comment.content)
    head = "<br>\r\n".join(f"<b>{name}:</b> {html.escape(value)}" for name, value in block)
    content = (
        f"{above}\r\n"
        '<hr style="display:inline-block;width:98%" tabindex="-1">\r\n'
        '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt"'
        f' color="#000000">{head}</font>\r\n<div>&nbsp;</div>\r\n</div>\r\n'
        f"{_inner_html(original.body.content)}"
    )
    return ItemBody("html", content)
