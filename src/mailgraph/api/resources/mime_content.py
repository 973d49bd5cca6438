"""MIME over Graph: `GET …/messages/{id}/$value`, and the MIME mode of create and sendMail (spec §2.1–§2.4).

MIME mode is chosen by `Content-Type: text/plain` (spec §0.2); the body is the base64 of a complete
RFC 5322 message, possibly wrapped at 76 columns. Bad base64 is 400
`ErrorMimeContentInvalidBase64String`; MIME that cannot be read or exceeds the parser's bounds is 400
`ErrorMimeContentConversionFailed` (api/errors.py).
"""

from __future__ import annotations

from mailgraph.api.context import Ctx
from mailgraph.api.http import Request, Response
from mailgraph.api.router import Match
from mailgraph.mime.parse import decode_base64
from mailgraph.mime.stream import StreamedMime
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MESSAGE

# client-wire: real Graph labels `$value` text/plain (graph-client parses it as a string by that type;
# Kiota returns the raw bytes whatever the type).
MIME_TYPE = b"text/plain"


def is_mime_mode(req: Request) -> bool:
    """True when the request body is base64 MIME (spec §0.2: `Content-Type: text/plain`)."""
    return req.content_type == "text/plain"


def mime_body(req: Request) -> bytes:
    """The RFC 5322 bytes a MIME-mode request carries.

    Raises:
        InvalidMimeBase64Error: the body is not base64, or is empty.
    """
    return decode_base64(req.body)


async def message_value(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/messages/{id}/$value (also below /mailFolders/{id}): 200 with the item's MIME."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    folder_key = m.keys[0] if len(m.keys) == 2 else None
    raw = await ctx.services.mime.export(ctx.actor, m.user_key, m.keys[-1], folder_key)
    if isinstance(raw, StreamedMime):  # large files: sent in pieces, with a Content-Length up front
        return Response(200, b"", MIME_TYPE, [], raw.pieces(), raw.length)
    return Response(200, raw, MIME_TYPE)
