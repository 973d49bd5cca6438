"""Graph's reply and forward actions (spec §2.7, §2.8).

Routes (v1.0 and beta; `/me` or `/users/{id|upn}`; also below `/mailFolders/{id}`):
`POST …/messages/{id}/createReply|createReplyAll|createForward` → 201 with the new draft;
`POST …/messages/{id}/reply|replyAll|forward` → 202 with no body, sent at once.

Bodies are JSON `{comment, message, toRecipients (forward only)}` with parameter names matched
case-insensitively (Kiota sends `Comment`, `ToRecipients`; client-wire fact 3); an empty or absent
body is fine (O365 posts empty JSON; client-wire fact 5). `Prefer: outlook.timezone` sets the zone of
the quote's "Sent:" line. `Content-Type: text/plain` is MIME mode: a base64 RFC 5322 message whose
headers (To, Cc, Subject, …) and body make the reply, attachments included.
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Any
from urllib.parse import quote

from mailgraph.api.context import Ctx, accepted, json_response
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.router import Match
from mailgraph.api.serialize.messages import message_json, parse_message
from mailgraph.api.serialize.values import address_list, read_json, string, unknown_property
from mailgraph.domain.model import Message, NewAttachment, Unset
from mailgraph.domain.replies import Kind, ReplyRequest
from mailgraph.mime.parse import decode_base64, parse
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MESSAGE

_ACTION_NAMES: dict[Kind, tuple[str, str]] = {
    "reply": ("createReply", "reply"),
    "replyAll": ("createReplyAll", "replyAll"),
    "forward": ("createForward", "forward"),
}


def _parse(req: Request, m: Match, kind: Kind, action: str) -> ReplyRequest:
    """The action body → a ReplyRequest, enforcing the parameter rules of spec §2.7/§2.8.

    Raises:
        GraphError: MIME mode, an unknown parameter, a wrong type, or `comment` with `message.body`,
            or (forward) recipients given twice.
    """
    parse_query(req.query, MESSAGE, allow=frozenset())
    if req.content_type == "text/plain":
        return _parse_mime(req, kind)
    data: dict[str, Any] = read_json(req, required=False) or {}
    request = ReplyRequest(kind)
    for key, value in data.items():
        name = key.lower()
        if name == "comment":
            request.comment = None if value is None else string(value, "comment")
        elif name == "message":
            if value is not None:
                if not isinstance(value, dict):
                    raise GraphError(
                        400,
                        "BadRequest",
                        "Property message in payload has a value that does not match schema.",
                    )
                request.changes = parse_message(value, m.version)
        elif name == "torecipients" and kind == "forward":
            request.to = address_list(value, "toRecipients")
        elif not key.startswith("@odata."):
            unknown_property(key, action)
    if request.comment and not isinstance(request.changes.body, Unset):
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            "The 'comment' parameter and the 'message.body' property cannot be used together.",
        )
    if request.to is not None and not request.to:
        request.to = None  # an empty list is the same as none (O365 sends empty collections)
    in_message = not isinstance(request.changes.to, Unset) and bool(request.changes.to)
    if kind == "forward" and request.to is not None and in_message:
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            "The 'toRecipients' parameter and the 'message.toRecipients' property cannot be used together.",
        )
    return request


def _parse_mime(req: Request, kind: Kind) -> ReplyRequest:
    """MIME mode (spec §0.2, §2.7): base64 RFC 5322 whose headers and body make the reply.

    Raises:
        InvalidMimeBase64Error, MimeContentError: bad base64 or unreadable MIME (mapped in api/errors.py).
    """
    parsed = parse(decode_base64(req.body))
    changes = parsed.changes
    if parsed.internet_message_id:
        changes.internet_message_id = parsed.internet_message_id
    if parsed.attachments:
        changes.attachments = [
            NewAttachment(
                "item" if a.content_type.lower() == "message/rfc822" else "file",
                a.name,
                a.content_type,
                a.is_inline,
                a.content_id,
                data=a.data,
            )
            for a in parsed.attachments
        ]
    return ReplyRequest(kind, changes=changes, mime=True)


def _keys(m: Match) -> tuple[str, str | None]:
    """(message key, folder key or None) of `…/messages/{id}/action` or `…/mailFolders/{f}/messages/{id}/action`."""
    return m.keys[-1], (m.keys[0] if len(m.keys) == 2 else None)


def _zone_of(ctx: Ctx, request: ReplyRequest) -> tzinfo:
    """The zone of the quote's "Sent:" line; MIME mode generates no quote, so the preference is unused."""
    if request.mime:
        return UTC
    zone = ctx.prefer.zone()  # 400 ErrorTimeZone for an unknown zone
    if ctx.prefer.timezone is not None:
        ctx.apply(f'outlook.timezone="{ctx.prefer.timezone}"')
    return zone


def created(ctx: Ctx, message: Message) -> Response:
    """201 with the new item and its `Location` (spec §0.3), ids as the request prefers."""
    shown = ctx.present(message)
    segment = ctx.user_segment(message.mailbox_id)
    body: dict[str, object] = {"@odata.context": ctx.context(f"{segment}/messages/$entity")}
    body.update(message_json(shown, ctx.req.base_url, ctx.match.version, None, ctx.hide_body))
    location = f"{ctx.root}/users('{message.mailbox_id}')/messages('{quote(shown.rest_id, safe='')}')"
    return json_response(body, 201, [(b"location", location.encode())])


async def _create(req: Request, ctx: Ctx, m: Match, kind: Kind) -> Response:
    request = _parse(req, m, kind, _ACTION_NAMES[kind][0])
    message_key, folder_key = _keys(m)
    zone = _zone_of(ctx, request)
    await ctx.services.attachments.stage(request.changes)  # blob files first, then the unit
    draft = await ctx.services.replies.create(ctx.actor, m.user_key, message_key, folder_key, request, zone)
    return created(ctx, draft)


async def _send(req: Request, ctx: Ctx, m: Match, kind: Kind) -> Response:
    request = _parse(req, m, kind, _ACTION_NAMES[kind][1])
    if (
        kind == "forward"
        and not request.mime  # MIME mode: the To/Cc headers say who gets it (checked at send)
        and request.to is None
        and (isinstance(request.changes.to, Unset) or not request.changes.to)
    ):
        # spec §2.8: forward needs exactly one of toRecipients / message.toRecipients.
        raise GraphError(
            400,
            "ErrorInvalidRecipients",
            "At least one recipient isn't valid., A message can't be sent because it contains no recipients.",
        )
    message_key, folder_key = _keys(m)
    zone = _zone_of(ctx, request)
    await ctx.services.attachments.stage(request.changes)
    await ctx.services.replies.send(ctx.actor, m.user_key, message_key, folder_key, request, zone)
    return accepted()


async def create_reply(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messages/{id}/createReply: 201 with a reply draft in Drafts."""
    return await _create(req, ctx, m, "reply")


async def create_reply_all(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messages/{id}/createReplyAll: 201 with a reply-all draft in Drafts."""
    return await _create(req, ctx, m, "replyAll")


async def create_forward(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messages/{id}/createForward: 201 with a forward draft in Drafts."""
    return await _create(req, ctx, m, "forward")


async def reply(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messages/{id}/reply: reply and send at once; 202."""
    return await _send(req, ctx, m, "reply")


async def reply_all(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messages/{id}/replyAll: reply to all and send at once; 202."""
    return await _send(req, ctx, m, "replyAll")


async def forward(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messages/{id}/forward: forward and send at once; 202."""
    return await _send(req, ctx, m, "forward")
