"""Graph attachment routes (spec §2.11): list, add, get, `$value`, delete; `$expand=attachments`.

Routes (v1.0 and beta; `/me` or `/users/{id|upn}`; optionally below `/mailFolders/{id}`):
`GET|POST …/messages/{id}/attachments`, `GET|DELETE …/attachments/{aid}`, `GET …/attachments/{aid}/$value`.

Large attachments never sit whole in memory on the way out: `$value` and a GET whose contentBytes
would exceed `INLINE_LIMIT` stream the blob in pieces (base64-encoded on the fly for JSON).
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson

from mailgraph.api.context import Ctx, json_response, no_content
from mailgraph.api.errors import GraphError
from mailgraph.api.http import JSON_TYPE, Request, Response
from mailgraph.api.paging import next_link
from mailgraph.api.router import Match
from mailgraph.api.serialize.attachments import attachment_json, parse_attachment
from mailgraph.api.serialize.values import read_json
from mailgraph.domain.attachments import MAX_POST_BYTES
from mailgraph.domain.model import Attachment, Message
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import ATTACHMENT, MESSAGE

LIST_OPTIONS = frozenset({"$select", "$top", "$skip", "$count"})
INLINE_LIMIT = 4 * 1024 * 1024  # above this, GET streams contentBytes instead of building it in memory
_PIECE = 3 * 256 * 1024  # a multiple of 3: base64 pieces concatenate into one valid encoding
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*$")


def _keys(m: Match, with_attachment: bool) -> tuple[str | None, str, str]:
    """(folder key or None, message id, attachment id or "") from the route's keys."""
    keys = m.keys
    aid = keys[-1] if with_attachment else ""
    rest = keys[:-1] if with_attachment else keys
    return (rest[0] if len(rest) == 2 else None), rest[-1], aid


async def _pieces(ctx: Ctx, a: Attachment, encode: bool) -> AsyncIterator[bytes]:
    # Pieces are exactly _PIECE bytes (a multiple of 3) but the last: their encodings concatenate.
    async for piece in ctx.services.attachments.stream(a, _PIECE):
        yield base64.b64encode(piece) if encode else piece


def _context(ctx: Ctx, owner_id: str, message_id: str, entity: bool) -> str:
    segment = ctx.user_segment(owner_id)
    fragment = f"{segment}/messages('{quote(message_id, safe='')}')/attachments"
    return ctx.context(fragment + ("/$entity" if entity else ""))


async def list_attachments(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/messages/{id}/attachments: every attachment, contentBytes included for small files."""
    options, _ = parse_query(req.query, ATTACHMENT, allow=LIST_OPTIONS)
    folder_key, message_id, _ = _keys(m, with_attachment=False)
    listed = await ctx.services.attachments.listing(ctx.actor, m.user_key, message_id, folder_key)
    # Every attachment of one item is one small list: paged in memory ($skip, $top or odata.maxpagesize).
    size = ctx.page_size(options.top, len(listed.items) or 1)
    window = listed.items[options.skip : options.skip + size]
    value = [select_attachment(await _json(ctx, a, small_only=True), options.select) for a in window]
    payload: dict[str, Any] = {"@odata.context": _context(ctx, listed.owner.id, message_id, entity=False)}
    if options.count:
        payload["@odata.count"] = len(listed.items)
    payload["value"] = value
    if options.skip + size < len(listed.items):
        payload["@odata.nextLink"] = next_link(req, options.skip + size)
    return json_response(payload)


def select_attachment(out: dict[str, Any], select: tuple[str, ...] | None) -> dict[str, Any]:
    """`$select` on an attachment: the chosen properties, plus `id` and the `@odata.type` of its kind
    (Graph keeps the type annotation of a derived type so clients can tell the kinds apart)."""
    if select is None:
        return out
    return {k: v for k, v in out.items() if k in ("@odata.type", "id") or k in select}


async def _json(ctx: Ctx, a: Attachment, *, small_only: bool) -> dict[str, Any]:
    content = None
    stored = ctx.services.attachments.has_content(a)
    if a.kind == "file" and stored and (not small_only or a.size < MAX_POST_BYTES):
        content = await ctx.services.attachments.content(a)
    return attachment_json(a, ctx.match.version, content)


async def add_attachment(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messages/{id}/attachments: 201 with the attachment and its Location (spec §2.11)."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    folder_key, message_id, _ = _keys(m, with_attachment=False)
    data = read_json(req, required=True)
    new = parse_attachment(data, m.version)
    owner, attachment = await ctx.services.attachments.add(ctx.actor, m.user_key, message_id, folder_key, new)
    body: dict[str, Any] = {"@odata.context": _context(ctx, owner.id, message_id, entity=True)}
    body.update(attachment_json(attachment, m.version))
    location = (
        f"{ctx.root}/users('{owner.id}')/messages('{quote(message_id, safe='')}')"
        f"/attachments('{quote(attachment.id, safe='')}')"
    )
    return json_response(body, 201, [(b"location", location.encode())])


async def get_attachment(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/attachments/{aid}: the attachment with contentBytes (streamed when large)."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    folder_key, message_id, aid = _keys(m, with_attachment=True)
    owner, a = await ctx.services.attachments.get(ctx.actor, m.user_key, message_id, folder_key, aid)
    head: dict[str, Any] = {"@odata.context": _context(ctx, owner.id, message_id, entity=True)}
    if a.kind != "file" or not ctx.services.attachments.has_content(a) or a.size <= INLINE_LIMIT:
        head.update(await _json(ctx, a, small_only=False))
        return json_response(head)
    head.update(attachment_json(a, m.version))
    prefix = orjson.dumps(head)[:-1] + b',"contentBytes":"'
    encoded = 4 * ((a.size + 2) // 3)

    async def body() -> AsyncIterator[bytes]:
        yield prefix
        async for piece in _pieces(ctx, a, encode=True):
            yield piece
        yield b'"}'

    return Response(200, b"", JSON_TYPE, [], body(), len(prefix) + encoded + 2)


async def attachment_value(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/attachments/{aid}/$value: the raw bytes (files), or the attached message's MIME (items)."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    folder_key, message_id, aid = _keys(m, with_attachment=True)
    _, a = await ctx.services.attachments.get(ctx.actor, m.user_key, message_id, folder_key, aid)
    if not ctx.services.attachments.has_content(a):
        raise GraphError(
            400, "ErrorInvalidRequest", "A referenceAttachment has no content of its own; it is a link."
        )
    if a.kind == "item":
        kind = b"text/plain"  # like a message's $value (client-wire: Graph answers text/plain)
    else:
        kind = a.content_type.encode() if _MEDIA_TYPE.match(a.content_type) else b"application/octet-stream"
    return Response(200, b"", kind, [], _pieces(ctx, a, encode=False), a.size)


async def delete_attachment(req: Request, ctx: Ctx, m: Match) -> Response:
    """DELETE …/attachments/{aid}: 204."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    folder_key, message_id, aid = _keys(m, with_attachment=True)
    await ctx.services.attachments.delete(ctx.actor, m.user_key, message_id, folder_key, aid)
    return no_content()


async def expand(
    ctx: Ctx, messages: list[Message], shown: list[dict[str, Any]], select: tuple[str, ...] | None = None
) -> None:
    """`$expand=attachments` on message GET/list: add each message's attachments to its JSON.

    contentBytes is included for files under 3 MB (the POST limit); larger ones are read through
    GET …/attachments/{aid} or `$value`, which stream (docs/graph-coverage.md).
    """
    if ctx.hide_body:
        # Mail.ReadBasic reads no attachments (spec §2.4), like the read_content routes.
        raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    found = await ctx.services.attachments.expand(messages)
    for message, out in zip(messages, shown, strict=True):
        out["attachments"] = [
            select_attachment(await _json(ctx, a, small_only=True), select) for a in found.get(message.id, [])
        ]
