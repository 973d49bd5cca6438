"""`…/outlook/masterCategories` (v1.0 and beta, `/me` and `/users/{id|upn}`): the master category list.

Routes: `GET|POST …/outlook/masterCategories`, `GET|PATCH|DELETE …/outlook/masterCategories/{id}`
(outlookuser-list-mastercategories.md, outlookuser-post-mastercategories.md, outlookcategory-get.md,
outlookcategory-update.md, outlookcategory-delete.md). Rules live in domain/categories.py.
"""

from __future__ import annotations

from typing import Any

from mailgraph.api.context import Ctx, json_response, no_content
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.router import Match
from mailgraph.api.serialize.values import bad_value, read_json, unknown_property
from mailgraph.domain.categories import COLORS, CategoryService
from mailgraph.domain.outlook import OutlookCategory
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import OUTLOOK_CATEGORY

_WRITABLE = frozenset({"@odata.type", "id", "displayName", "color"})
_COLOR_KEYS = frozenset(c.lower() for c in COLORS)


def category_json(c: OutlookCategory, select: tuple[str, ...] | None = None) -> dict[str, Any]:
    """An outlookCategory as Graph returns it (`id` always, like every Graph entity)."""
    full = {"id": c.id, "displayName": c.display_name, "color": c.color}
    if select is None:
        return full
    return {k: v for k, v in full.items() if k == "id" or k in select}


def _service(ctx: Ctx) -> CategoryService:
    service = ctx.services.categories
    if service is None:  # pragma: no cover - wiring always sets it
        raise GraphError(501, "NotImplemented", "Categories are not enabled on this server.")
    return service


def _fields(body: dict[str, Any]) -> tuple[str | None, str | None]:
    for key in body:
        if key not in _WRITABLE:
            unknown_property(key, "outlookCategory")
    name, color = body.get("displayName"), body.get("color")
    if name is not None and not isinstance(name, str):
        bad_value("displayName")
    if color is not None:
        if not isinstance(color, str):
            bad_value("color")
        if color.lower() not in _COLOR_KEYS:
            # An enum member OData cannot read: the body fails to deserialize (RequestBodyRead).
            raise GraphError(
                400,
                "RequestBodyRead",
                f"Cannot convert the literal '{color}' to the expected type 'microsoft.graph.categoryColor'.",
            )
    return name, color


def _context(ctx: Ctx, owner_id: str, entity: bool) -> str:
    suffix = "/$entity" if entity else ""
    return ctx.context(f"{ctx.user_segment(owner_id)}/outlook/masterCategories{suffix}")


async def list_categories(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/outlook/masterCategories (`$select`, `$top` are Graph's documented options)."""
    options, _ = parse_query(req.query, OUTLOOK_CATEGORY, allow=frozenset({"$select", "$top", "$count"}))
    owner, categories = await _service(ctx).list(ctx.actor, m.user_key)
    window = categories if options.top is None else categories[: options.top]
    payload: dict[str, object] = {"@odata.context": _context(ctx, owner.id, False)}
    if options.count:
        payload["@odata.count"] = len(categories)
    payload["value"] = [category_json(c, options.select) for c in window]
    return json_response(payload)


async def get_category(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/outlook/masterCategories/{id}."""
    options, _ = parse_query(req.query, OUTLOOK_CATEGORY, allow=frozenset({"$select"}))
    owner, category = await _service(ctx).get(ctx.actor, m.user_key, m.keys[0])
    return json_response(
        {"@odata.context": _context(ctx, owner.id, True), **category_json(category, options.select)}
    )


async def create_category(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/outlook/masterCategories → 201 with the category."""
    body = read_json(req, required=True)
    assert body is not None
    name, color = _fields(body)
    if name is None:
        raise GraphError(400, "ErrorInvalidParameter", "The displayName of a category is required.")
    owner, category = await _service(ctx).create(ctx.actor, m.user_key, name, color)
    return json_response({"@odata.context": _context(ctx, owner.id, True), **category_json(category)}, 201)


async def update_category(req: Request, ctx: Ctx, m: Match) -> Response:
    """PATCH …/outlook/masterCategories/{id}: `color` only → 200 with the category."""
    body = read_json(req, required=True)
    assert body is not None
    name, color = _fields(body)
    owner, category = await _service(ctx).update(ctx.actor, m.user_key, m.keys[0], name, color)
    return json_response({"@odata.context": _context(ctx, owner.id, True), **category_json(category)})


async def delete_category(req: Request, ctx: Ctx, m: Match) -> Response:
    """DELETE …/outlook/masterCategories/{id} → 204."""
    await _service(ctx).delete(ctx.actor, m.user_key, m.keys[0])
    return no_content()
