"""Graph's send actions: `message: send` and `user: sendMail` (spec §1, §2.1).

Routes (v1.0 and beta; `/me` or `/users/{id|upn}`): `POST …/messages/{id}/send` (also below
`/mailFolders/{id}`) and `POST …/sendMail`. Both answer 202 with an empty body and no Content-Type.
"""

from __future__ import annotations

from typing import Any

from mailgraph.api.context import Ctx, accepted
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.resources import mime_content
from mailgraph.api.router import Match
from mailgraph.api.serialize.messages import parse_message
from mailgraph.api.serialize.values import bad_value, read_json, unknown_property
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MESSAGE


async def send(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messages/{id}/send: submit a draft; 202.

    The body is never required or read (client-wire fact 5: clients send none, an empty one, or `{}`).
    """
    parse_query(req.query, MESSAGE, allow=frozenset())
    folder_key = m.keys[0] if len(m.keys) == 2 else None  # checked in the send's own unit of work
    await ctx.services.sending.send_draft(ctx.actor, m.user_key, m.keys[-1], folder_key)
    return accepted()


def _save_to_sent_items(value: object) -> bool:
    # user-sendmail.md's example passes the *string* "false": accept both forms (spec §2.1).
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    bad_value("saveToSentItems")


async def send_mail(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/sendMail (JSON mode): create and send in one step; 202.

    Parameter names are matched case-insensitively: the Kiota SDKs send `Message`/`SaveToSentItems`,
    others camelCase (client-wire fact 3). An omitted saveToSentItems means true (Graph's default).
    """
    parse_query(req.query, MESSAGE, allow=frozenset())
    if mime_content.is_mime_mode(req):  # spec §2.1 MIME mode: no saveToSentItems, so Graph's default
        await ctx.services.mime.send(ctx.actor, m.user_key, mime_content.mime_body(req), True)
        return accepted()
    data = read_json(req, required=True) or {}
    message: dict[str, Any] | None = None
    save = True
    for key, value in data.items():
        name = key.lower()
        if name == "message":
            if not isinstance(value, dict):
                bad_value("message")
            message = value
        elif name == "savetosentitems":
            save = _save_to_sent_items(value)
        elif not key.startswith("@odata."):
            unknown_property(key, "sendMail")
    if message is None:
        raise GraphError(400, "ErrorInvalidRequest", "The 'message' parameter is required.")
    changes = parse_message(message, m.version, extended_ok=True)
    await ctx.services.attachments.stage(changes)  # blob files first, then the send unit
    await ctx.services.sending.send_mail(ctx.actor, m.user_key, changes, save)
    return accepted()
