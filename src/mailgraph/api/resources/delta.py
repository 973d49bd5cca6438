"""Graph delta routes (spec §2.13): `…/mailFolders/{id}/messages/delta` and `…/mailFolders/delta`.

Routes (v1.0 and beta; `/me` or `/users/{id|upn}`; also spelled `delta()` and `microsoft.graph.delta`).
The first request of a round carries the options (`$select`, `$top`, `$expand`, `changeType`,
`$filter=receivedDateTime ge|gt …`, `$orderby=receivedDateTime desc`); every later page and round is
addressed by the token of the previous answer (`$skiptoken` in `@odata.nextLink`, `$deltatoken` in
`@odata.deltaLink`), which encodes them all (domain/delta_tokens.py). `Prefer: odata.maxpagesize`
sets the page size on any request (echoed in `Preference-Applied`). A token that cannot be continued
answers 410 `SyncStateNotFound`; when the client should resync from scratch, with a `Location` whose
`$deltatoken` is empty (delta-query-overview.md, "Synchronization reset").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

from mailgraph.api.context import Ctx, json_response
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.resources import attachments
from mailgraph.api.router import Match
from mailgraph.api.serialize.folders import folder_json
from mailgraph.api.serialize.messages import message_json
from mailgraph.domain.delta import SyncStateNotFoundError
from mailgraph.domain.delta_pages import Removed
from mailgraph.domain.delta_tokens import ChangeTypeFilter, DeltaOptions
from mailgraph.domain.model import SECOND, Message
from mailgraph.odata.ast import Compare, QueryOptions
from mailgraph.odata.errors import INEFFICIENT, INVALID_FILTER, ODataError
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MAIL_FOLDER, MESSAGE

MESSAGE_OPTIONS = frozenset(
    {"$select", "$top", "$expand", "$filter", "$orderby", "$skiptoken", "$deltatoken"}
)
FOLDER_OPTIONS = frozenset({"$select", "$top", "$skiptoken", "$deltatoken"})
INVALID_QUERY = "ErrorInvalidUrlQuery"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MESSAGE_TYPE = "#microsoft.graph.message"
_FOLDER_TYPE = "#microsoft.graph.mailFolder"


def _invalid(message: str) -> ODataError:
    return ODataError(INVALID_QUERY, message)


def _function_key(m: Match, keys: int) -> None:
    """`delta()` arrives as a key "" after `delta`: anything inside the parentheses is an error."""
    if len(m.keys) > keys and m.keys[keys] != "":
        raise GraphError(400, "BadRequest", "The delta function takes no parameters.")


def _max_page_size(ctx: Ctx) -> int | None:
    size = ctx.prefer.max_page_size  # api/prefer.py: 1–1000, junk ignored
    if size is not None:
        ctx.apply(f"odata.maxpagesize={size}")
    return size


def _tokens(extra: dict[str, str]) -> str | None:
    skip, delta = extra.get("$skiptoken"), extra.get("$deltatoken")
    if skip is not None and delta is not None:
        raise _invalid("A request carries either a $skiptoken or a $deltatoken, not both.")
    return skip if skip is not None else delta


def _change_type(extra: dict[str, str]) -> ChangeTypeFilter | None:
    raw = next((v for k, v in extra.items() if k.lower() == "changetype"), None)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value == "created":
        return "created"
    if value == "updated":
        return "updated"
    if value == "deleted":
        return "deleted"
    raise _invalid(f"'{raw}' is not a valid changeType: use created, updated or deleted.")


def _received_since(options: QueryOptions) -> int | None:
    """`receivedDateTime ge|gt {v}` (the only delta filter) as the lowest stored time that passes.

    Times compare at whole seconds, as on the list route (store/sql/filters.py)."""
    f = options.filter
    if f is None:
        return None
    if not (
        isinstance(f, Compare)
        and f.left.path == ("receivedDateTime",)
        and f.op in ("ge", "gt")
        and isinstance(f.right.value, datetime)
    ):
        raise _invalid("The only $filter delta supports is receivedDateTime ge|gt {value}.")
    micros = (f.right.value - _EPOCH) // timedelta(microseconds=1)
    floor = micros - micros % SECOND
    if f.op == "gt":
        return floor + SECOND
    return floor if floor == micros else floor + SECOND


def _message_options(req: Request, extra_page: int | None) -> tuple[DeltaOptions, str | None]:
    try:
        options, extra = parse_query(req.query, MESSAGE, allow=MESSAGE_OPTIONS)
    except ODataError as exc:
        if exc.code in (INVALID_FILTER, INEFFICIENT):  # delta allows one filter and one order only
            raise _invalid(exc.message) from None
        raise
    if options.order_by and [(o.property.path, o.descending) for o in options.order_by] != [
        (("receivedDateTime",), True)
    ]:
        raise _invalid("The only $orderby delta supports is receivedDateTime desc.")
    if options.expand_select or options.expand_ids:  # a round's options live in its tokens: no nested ones
        raise _invalid("Query options inside $expand are not supported by delta.")
    if set(options.expand) - {"attachments"}:
        raise _invalid("Delta expands attachments only.")
    filter_text = next((v for k, v in _raw_pairs(req.query) if k.lower() in ("$filter", "filter")), None)
    delta = DeltaOptions(
        select=options.select,
        expand=options.expand,
        change_type=_change_type(extra),
        received_since=_received_since(options),
        filter_text=filter_text,
        order_desc=bool(options.order_by),
        page_size=extra_page or options.top,
    )
    return delta, _tokens(extra)


def _raw_pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def _link(req: Request, name: str, token: str) -> str:
    return f"{req.base_url}{req.raw_path.decode('latin-1')}?{name}={token}"


def _reset_location(req: Request, options: DeltaOptions) -> bytes:
    """The initial request of a new round with the same options, and an empty `$deltatoken`."""
    query: list[str] = []
    if options.select is not None:
        query.append("$select=" + quote(",".join(options.select), safe=","))
    if options.expand:
        query.append("$expand=" + quote(",".join(options.expand), safe=","))
    if options.filter_text:
        query.append("$filter=" + quote(options.filter_text, safe=""))
    if options.order_desc:
        query.append("$orderby=receivedDateTime%20desc")
    if options.change_type:
        query.append(f"changeType={options.change_type}")
    if options.page_size:
        query.append(f"$top={options.page_size}")
    query.append("$deltatoken=")
    return f"{req.base_url}{req.raw_path.decode('latin-1')}?{'&'.join(query)}".encode()


def _gone(req: Request, exc: SyncStateNotFoundError) -> GraphError:
    headers = [] if exc.reset is None else [(b"location", _reset_location(req, exc.reset))]
    return GraphError(410, "SyncStateNotFound", exc.message, headers)


def _removed(type_name: str, item_id: str) -> dict[str, Any]:
    return {"@odata.type": type_name, "id": item_id, "@removed": {"reason": "deleted"}}


async def message_delta(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/mailFolders/{id}/messages/delta: one page of the round."""
    _function_key(m, 1)
    page_size = _max_page_size(ctx)
    options, token = _message_options(req, page_size)
    immutable = ctx.prefer.immutable_ids
    try:
        page = await ctx.services.delta.messages(
            ctx.actor, m.user_key, m.keys[0], options, token, page_size, immutable
        )
    except SyncStateNotFoundError as exc:
        raise _gone(req, exc) from None
    if immutable:
        ctx.apply('IdType="ImmutableId"')
    select = page.options.select  # later pages: the round's first request's options, from the token
    value: list[dict[str, Any]] = []
    shown: list[Message] = []
    shown_json: list[dict[str, Any]] = []
    for entry in page.entries:
        if isinstance(entry, Removed):
            value.append(_removed(_MESSAGE_TYPE, entry.id))
            continue
        item = {"@odata.type": _MESSAGE_TYPE}
        item.update(message_json(ctx.present(entry), req.base_url, m.version, select, ctx.hide_body))
        value.append(item)
        shown.append(entry)
        shown_json.append(item)
    if "attachments" in page.options.expand and shown:
        await attachments.expand(ctx, shown, shown_json)
    payload: dict[str, object] = {"@odata.context": ctx.context("Collection(message)")}
    if page.done:
        payload["@odata.deltaLink"] = _link(req, "$deltatoken", page.token)
    else:
        payload["@odata.nextLink"] = _link(req, "$skiptoken", page.token)
    payload["value"] = value
    return json_response(payload)


async def folder_delta(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/mailFolders/delta: one page of the hierarchy round."""
    _function_key(m, 0)
    page_size = _max_page_size(ctx)
    options, extra = parse_query(req.query, MAIL_FOLDER, allow=FOLDER_OPTIONS)
    token = _tokens(extra)
    first = DeltaOptions(select=options.select, page_size=page_size or options.top)
    try:
        page = await ctx.services.delta.folders(ctx.actor, m.user_key, first, token, page_size)
    except SyncStateNotFoundError as exc:
        raise _gone(req, exc) from None
    value: list[dict[str, Any]] = []
    for entry in page.entries:
        if isinstance(entry, Removed):
            value.append(_removed(_FOLDER_TYPE, entry.id))
        else:
            value.append({"@odata.type": _FOLDER_TYPE, **folder_json(entry, m.version, page.options.select)})
    payload: dict[str, object] = {"@odata.context": ctx.context("Collection(mailFolder)")}
    if page.done:
        payload["@odata.deltaLink"] = _link(req, "$deltatoken", page.token)
    else:
        payload["@odata.nextLink"] = _link(req, "$skiptoken", page.token)
    payload["value"] = value
    return json_response(payload)
