"""Graph `message` routes: list, create, get, update, delete (spec §2.2–§2.5, §2.9).

Routes (v1.0 and beta; `/me` or `/users/{id|upn}`; optionally below `/mailFolders/{id}`):
`GET|POST …/messages`, `GET|PATCH|DELETE …/messages/{id}`.
"""

from __future__ import annotations

from mailgraph.api.context import Ctx, json_response, no_content
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.paging import DEFAULT_PAGE, next_link
from mailgraph.api.resources import attachments, extensions, mime_content
from mailgraph.api.router import Match, quote_key
from mailgraph.api.serialize.messages import fields_for, message_json, message_list_json, parse_message
from mailgraph.api.serialize.values import read_json
from mailgraph.domain.model import DEFAULT_ORDER, Message, Page, Unset
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MESSAGE

LIST_OPTIONS = frozenset({"$select", "$top", "$skip", "$orderby", "$filter", "$count", "$search", "$expand"})
ITEM_OPTIONS = frozenset({"$select", "$expand"})


def _folder_key(m: Match, with_item: bool) -> str | None:
    """The folder key when the route is below `/mailFolders/{id}` (keys: folder[, message])."""
    return m.keys[0] if len(m.keys) == (2 if with_item else 1) else None


def _message_key(m: Match) -> str:
    return m.keys[-1]


def _entity(
    ctx: Ctx, message: Message, select: tuple[str, ...] | None, owner_segment: str
) -> dict[str, object]:
    shape = f"messages({','.join(select)})" if select else "messages"
    body: dict[str, object] = {"@odata.context": ctx.context(f"{owner_segment}/{shape}/$entity")}
    shown = ctx.present(message)  # Prefer: IdType / outlook.body-content-type (spec §0.2)
    body.update(message_json(shown, ctx.req.base_url, ctx.match.version, select, ctx.hide_body))
    return body


async def list_messages(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/messages and …/mailFolders/{id}/messages: one page, with an absolute nextLink."""
    options, _ = parse_query(req.query, MESSAGE, allow=LIST_OPTIONS)
    top = ctx.page_size(options.top, DEFAULT_PAGE)
    # Only the columns the `$select` shows are read (Page.fields); the ids and change key always are.
    fields = fields_for(options.select)
    page = Page(top, options.skip, options.order_by or DEFAULT_ORDER, options.filter, options.search, fields)
    listing = await ctx.services.messages.list(
        ctx.actor, m.user_key, page, _folder_key(m, with_item=False), count=options.count
    )
    segment = ctx.user_segment(listing.owner.id)
    shape = f"messages({','.join(options.select)})" if options.select else "messages"
    payload: dict[str, object] = {"@odata.context": ctx.context(f"{segment}/{shape}")}
    if listing.count is not None:
        payload["@odata.count"] = listing.count
    base, version = req.base_url, m.version
    shown = ctx.present_all(listing.items)
    value = message_list_json(shown, base, version, options.select, ctx.hide_body)
    if "attachments" in options.expand:
        await attachments.expand(ctx, listing.items, value, options.selected_in("attachments"))
    if set(options.expand) - {"attachments"}:
        await extensions.expand(ctx, listing.items, value, options)
    payload["value"] = value
    if listing.more:
        payload["@odata.nextLink"] = next_link(req, options.skip + top)
    return json_response(payload)


async def create_message(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messages and …/mailFolders/{id}/messages: 201 with the new draft (spec §2.2)."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    if mime_content.is_mime_mode(req):  # spec §2.2: base64 MIME (api/resources/mime_content.py)
        raw = mime_content.mime_body(req)
        message = await ctx.services.mime.create(ctx.actor, m.user_key, raw, _folder_key(m, with_item=False))
    else:
        data = read_json(req, required=False) or {}
        changes = parse_message(data, m.version, extended_ok=True)
        await ctx.services.attachments.stage(changes)  # blob files first, then the unit (spec §2.2)
        message = await ctx.services.messages.create(
            ctx.actor, m.user_key, changes, _folder_key(m, with_item=False)
        )
    shown_id = ctx.present(message).rest_id  # the immutable id under Prefer: IdType="ImmutableId"
    location = f"{ctx.root}/users('{message.mailbox_id}')/messages('{quote_key(shown_id)}')"
    body = _entity(ctx, message, None, ctx.user_segment(message.mailbox_id))
    return json_response(body, 201, [(b"location", location.encode())])


async def get_message(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/messages/{id}."""
    options, _ = parse_query(req.query, MESSAGE, allow=ITEM_OPTIONS)
    message = await ctx.services.messages.get(
        ctx.actor, m.user_key, _message_key(m), _folder_key(m, with_item=True)
    )
    body = _entity(ctx, message, options.select, ctx.user_segment(message.mailbox_id))
    if "attachments" in options.expand:
        await attachments.expand(ctx, [message], [body], options.selected_in("attachments"))
    if set(options.expand) - {"attachments"}:
        await extensions.expand(ctx, [message], [body], options)
    return json_response(body)


async def update_message(req: Request, ctx: Ctx, m: Match) -> Response:
    """PATCH …/messages/{id}: 200 with the whole message and an ETag (spec §2.3)."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    data = read_json(req, required=True) or {}
    changes = parse_message(data, m.version, extended_ok=True)
    if not isinstance(changes.attachments, Unset):
        raise GraphError(
            400, "ErrorInvalidRequest", "Attachments are added with POST …/attachments, not by PATCH."
        )
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
