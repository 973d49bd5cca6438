"""Open extensions of messages and `$expand` of extensions and extended properties (issue 15).

Routes (v1.0 and beta; `/me` or `/users/{id|upn}`; optionally below `/mailFolders/{id}`):
`GET|POST …/messages/{id}/extensions`, `GET|PATCH|DELETE …/messages/{id}/extensions/{name}` (the name,
or Graph's id `Microsoft.OutlookServices.OpenTypeExtension.{name}`). `$expand=extensions`,
`$expand=singleValueExtendedProperties($filter=id eq '…')` and the multi-value twin on message GET and
lists. Rules: domain/extended.py, domain/extensions.py.
"""

from __future__ import annotations

from typing import Any

from mailgraph.api.context import Ctx, json_response, no_content
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.router import Match, quote_key
from mailgraph.api.serialize.values import bad_value, read_json
from mailgraph.domain.extended import StoredProperty
from mailgraph.domain.extensions import EXTENSION_ID_PREFIX, ExtensionService
from mailgraph.domain.model import Message
from mailgraph.odata.ast import QueryOptions
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MESSAGE

_TYPE = "#microsoft.graph.openTypeExtension"
_RESERVED = frozenset({"@odata.type", "@odata.context", "id", "extensionName"})
_KINDS = {"singleValueExtendedProperties": "single", "multiValueExtendedProperties": "multi"}


def extension_json(e: StoredProperty) -> dict[str, Any]:
    """An openTypeExtension as Graph returns it: type, id, name, then the custom properties."""
    data = e.value if isinstance(e.value, dict) else {}
    return {"@odata.type": _TYPE, "id": EXTENSION_ID_PREFIX + e.prop_id, "extensionName": e.prop_id, **data}


def _service(ctx: Ctx) -> ExtensionService:
    service = ctx.services.extensions
    if service is None:  # pragma: no cover - wiring always sets it
        raise GraphError(501, "NotImplemented", "Open extensions are not enabled on this server.")
    return service


def _keys(m: Match, named: bool) -> tuple[str | None, str, str]:
    keys = m.keys
    name = keys[-1] if named else ""
    rest = keys[:-1] if named else keys
    return (rest[0] if len(rest) == 2 else None), rest[-1], name


def _body(req: Request, *, creating: bool) -> tuple[str | None, dict[str, object]]:
    body = read_json(req, required=True)
    assert body is not None
    kind = body.get("@odata.type")
    if creating and (
        not isinstance(kind, str) or kind.lstrip("#").lower() != "microsoft.graph.opentypeextension"
    ):
        raise GraphError(
            400, "BadRequest", "An extension needs '@odata.type': 'microsoft.graph.openTypeExtension'."
        )
    name = body.get("extensionName")
    if name is not None and not isinstance(name, str):
        bad_value("extensionName")
    return name, {k: v for k, v in body.items() if k not in _RESERVED and not k.startswith("@odata.")}


def _context(ctx: Ctx, owner_id: str, message: Message, entity: bool) -> str:
    shown = ctx.present(message).rest_id
    fragment = f"{ctx.user_segment(owner_id)}/messages('{quote_key(shown)}')/extensions"
    return ctx.context(fragment + ("/$entity" if entity else ""))


async def list_extensions(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/messages/{id}/extensions."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    folder, message_id, _ = _keys(m, named=False)
    owner, message, found = await _service(ctx).list(ctx.actor, m.user_key, message_id, folder)
    return json_response(
        {
            "@odata.context": _context(ctx, owner.id, message, False),
            "value": [extension_json(e) for e in found],
        }
    )


async def get_extension(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/messages/{id}/extensions/{name}."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    folder, message_id, name = _keys(m, named=True)
    owner, message, found = await _service(ctx).get(ctx.actor, m.user_key, message_id, folder, name)
    return json_response({"@odata.context": _context(ctx, owner.id, message, True), **extension_json(found)})


async def create_extension(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messages/{id}/extensions → 201."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    folder, message_id, _ = _keys(m, named=False)
    name, data = _body(req, creating=True)
    if name is None:
        raise GraphError(400, "BadRequest", "The extensionName of an open extension is required.")
    owner, message, made = await _service(ctx).create(ctx.actor, m.user_key, message_id, folder, name, data)
    body = {"@odata.context": _context(ctx, owner.id, message, True), **extension_json(made)}
    return json_response(body, 201)


async def update_extension(req: Request, ctx: Ctx, m: Match) -> Response:
    """PATCH …/messages/{id}/extensions/{name}: the custom properties are replaced → 200."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    folder, message_id, name = _keys(m, named=True)
    given, data = _body(req, creating=False)
    if given is not None and given.casefold() != name.casefold().removeprefix(EXTENSION_ID_PREFIX.casefold()):
        raise GraphError(
            400, "ErrorInvalidPropertySet", "The extensionName of an extension cannot be changed."
        )
    owner, message, made = await _service(ctx).update(ctx.actor, m.user_key, message_id, folder, name, data)
    return json_response({"@odata.context": _context(ctx, owner.id, message, True), **extension_json(made)})


async def delete_extension(req: Request, ctx: Ctx, m: Match) -> Response:
    """DELETE …/messages/{id}/extensions/{name} → 204."""
    folder, message_id, name = _keys(m, named=True)
    await _service(ctx).delete(ctx.actor, m.user_key, message_id, folder, name)
    return no_content()


async def expand(
    ctx: Ctx, messages: list[Message], shown: list[dict[str, Any]], options: QueryOptions
) -> None:
    """`$expand=extensions` / `singleValueExtendedProperties(…)` / `multiValueExtendedProperties(…)`."""
    ids = [m.id for m in messages]
    if "extensions" in options.expand:
        found = await _service(ctx).expand(ids, "extension")
        for message, out in zip(messages, shown, strict=True):
            out["extensions"] = [extension_json(e) for e in found.get(message.id, [])]
    for navigation, kind in _KINDS.items():
        if navigation not in options.expand:
            continue
        wanted = options.ids_in(navigation)
        keys = None if wanted is None else {w.strip().casefold() for w in wanted}
        rows = await _service(ctx).expand(ids, "single" if kind == "single" else "multi")
        for message, out in zip(messages, shown, strict=True):
            values = [
                {"id": p.prop_id, "value": p.value}
                for p in rows.get(message.id, [])
                if keys is None or p.key in keys
            ]
            if values:  # Graph leaves the navigation out when no property matched
                out[navigation] = values
