"""Graph `message` routes: list, create, get, update, delete (spec §2.2–§2.5, §2.9).

Routes (v1.0 and beta; `/me` or `/users/{id|upn}`; optionally below `/mailFolders/{id}`):
`GET|POST …/messages`, `GET|PATCH|DELETE …/messages/{id}`.
"""

from __future__ import annotations

from urllib.parse import quote

from mailgraph.api.context import Ctx, json_response, no_content
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.paging import DEFAULT_PAGE, next_link
from mailgraph.api.router import Match
from mailgraph.api.serialize.messages import message_json, parse_message
from mailgraph.api.serialize.values import read_json
from mailgraph.domain.model import DEFAULT_ORDER, Message, Page
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MESSAGE

LIST_OPTIONS = frozenset({"$select", "$top", "$skip", "$orderby", "$filter", "$count", "$search"})
ITEM_OPTIONS = frozenset({"$select"})


def _folder_key(m: Match, with_item: bool) -> str | None:
    """The folder key when the route is below `/mailFolders/{id}` (keys: folder[, message])."""
    return m.keys[0] if len(m.keys) == (2 if with_item else 1) else None


def _message_key(m: Match) -> str:
    return m.keys[-1]


def _json_only(req: Request) -> None:
    # spec §0.2: text/plain switches create to MIME mode, which arrives with the MIME issue.
    if req.content_type == "text/plain":
        raise GraphError(400, "ErrorInvalidRequest", "MIME content is not supported by this server yet.")


def _entity(
    ctx: Ctx, message: Message, select: tuple[str, ...] | None, owner_segment: str
) -> dict[str, object]:
    shape = f"messages({','.join(select)})" if select else "messages"
    body: dict[str, object] = {"@odata.context": ctx.context(f"{owner_segment}/{shape}/$entity")}
    body.update(message_json(message, ctx.req.base_url, ctx.match.version, select, ctx.hide_body))
    return body


async def list_messages(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/messages and …/mailFolders/{id}/messages: one page, with an absolute nextLink."""
    options, _ = parse_query(req.query, MESSAGE, allow=LIST_OPTIONS)
    top = options.top or DEFAULT_PAGE
    page = Page(top, options.skip, options.order_by or DEFAULT_ORDER, options.filter, options.search)
    listing = await ctx.services.messages.list(
        ctx.actor, m.user_key, page, _folder_key(m, with_item=False), count=options.count
    )
    segment = ctx.user_segment(listing.owner.id)
    shape = f"messages({','.join(options.select)})" if options.select else "messages"
    payload: dict[str, object] = {"@odata.context": ctx.context(f"{segment}/{shape}")}
    if listing.count is not None:
        payload["@odata.count"] = listing.count
    base, version = req.base_url, m.version
    payload["value"] = [message_json(x, base, version, options.select, ctx.hide_body) for x in listing.items]
    if listing.more:
        payload["@odata.nextLink"] = next_link(req, options.skip + top)
    return json_response(payload)


async def create_message(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messages and …/mailFolders/{id}/messages: 201 with the new draft (spec §2.2)."""
    _json_only(req)
    parse_query(req.query, MESSAGE, allow=frozenset())
    data = read_json(req, required=False) or {}
    changes = parse_message(data, m.version)
    message = await ctx.services.messages.create(
        ctx.actor, m.user_key, changes, _folder_key(m, with_item=False)
    )
    location = f"{ctx.root}/users('{message.mailbox_id}')/messages('{quote(message.rest_id, safe='')}')"
    body = _entity(ctx, message, None, ctx.user_segment(message.mailbox_id))
    return json_response(body, 201, [(b"location", location.encode())])


async def get_message(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/messages/{id}."""
    options, _ = parse_query(req.query, MESSAGE, allow=ITEM_OPTIONS)
    message = await ctx.services.messages.get(
        ctx.actor, m.user_key, _message_key(m), _folder_key(m, with_item=True)
    )
    return json_response(_entity(ctx, message, options.select, ctx.user_segment(message.mailbox_id)))


async def update_message(req: Request, ctx: Ctx, m: Match) -> Response:
    """PATCH …/messages/{id}: 200 with the whole message and an ETag (spec §2.3)."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    data = read_json(req, required=True) or {}
    changes = parse_message(data, m.version)
    message = await ctx.services.messages.update(
        ctx.actor, m.user_key, _message_key(m), changes, _folder_key(m, with_item=True)
    )
    body = _entity(ctx, message, None, ctx.user_segment(message.mailbox_id))
    return json_response(body, 200, [(b"etag", f'W/"{message.change_key}"'.encode())])


async def delete_message(req: Request, ctx: Ctx, m: Match) -> Response:
    """DELETE …/messages/{id}: 204 (spec §2.5)."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    await ctx.services.messages.delete(ctx.actor, m.user_key, _message_key(m), _folder_key(m, with_item=True))
    return no_content()
