"""`…/inferenceClassification/overrides` (v1.0 and beta, `/me` and `/users/{id|upn}`): Focused Inbox overrides.

Routes: `GET|POST …/inferenceClassification/overrides`, `PATCH|DELETE …/overrides/{id}`
(inferenceclassification-list-overrides.md, inferenceclassification-post-overrides.md,
inferenceclassificationoverride-update.md, inferenceclassificationoverride-delete.md). Rules and where the
overrides apply: domain/inference.py.
"""

from __future__ import annotations

from typing import Any, cast

from mailgraph.api.context import Ctx, json_response, no_content
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.router import Match
from mailgraph.api.serialize.values import bad_value, read_json, unknown_property
from mailgraph.domain.inference import OverrideService
from mailgraph.domain.model import EmailAddress, Inference
from mailgraph.domain.outlook import ClassificationOverride
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MESSAGE

_KEYS = frozenset({"@odata.type", "id", "classifyAs", "senderEmailAddress"})
_CLASSES = {"focused": "focused", "other": "other"}


def override_json(o: ClassificationOverride) -> dict[str, Any]:
    """An inferenceClassificationOverride as Graph returns it."""
    return {
        "id": o.id,
        "classifyAs": o.classify_as,
        "senderEmailAddress": {"name": o.name or o.address, "address": o.address},
    }


def _service(ctx: Ctx) -> OverrideService:
    service = ctx.services.overrides
    if service is None:  # pragma: no cover - wiring always sets it
        raise GraphError(501, "NotImplemented", "Focused Inbox overrides are not enabled on this server.")
    return service


def _fields(body: dict[str, Any]) -> tuple[Inference | None, EmailAddress | None]:
    for key in body:
        if key not in _KEYS:
            unknown_property(key, "inferenceClassificationOverride")
    classify, sender = body.get("classifyAs"), body.get("senderEmailAddress")
    found: Inference | None = None
    if classify is not None:
        if not isinstance(classify, str) or classify.lower() not in _CLASSES:
            bad_value("classifyAs")
        found = cast(Inference, _CLASSES[classify.lower()])
    address: EmailAddress | None = None
    if sender is not None:
        if not isinstance(sender, dict) or set(sender) - {"name", "address", "@odata.type"}:
            bad_value("senderEmailAddress")
        value, name = sender.get("address"), sender.get("name") or ""
        if not isinstance(value, str) or "@" not in value or not isinstance(name, str):
            bad_value("senderEmailAddress")
        address = EmailAddress(value.strip(), name)
    return found, address


def _context(ctx: Ctx, owner_id: str, entity: bool) -> str:
    suffix = "/$entity" if entity else ""
    return ctx.context(f"{ctx.user_segment(owner_id)}/inferenceClassification/overrides{suffix}")


async def list_overrides(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/inferenceClassification/overrides."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    owner, overrides = await _service(ctx).list(ctx.actor, m.user_key)
    return json_response(
        {"@odata.context": _context(ctx, owner.id, False), "value": [override_json(o) for o in overrides]}
    )


async def create_override(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/inferenceClassification/overrides → 201 (an existing sender's override is updated)."""
    body = read_json(req, required=True)
    assert body is not None
    classify, sender = _fields(body)
    if classify is None or sender is None:
        raise GraphError(400, "ErrorInvalidParameter", "classifyAs and senderEmailAddress are required.")
    owner, override = await _service(ctx).create(ctx.actor, m.user_key, sender, classify)
    return json_response({"@odata.context": _context(ctx, owner.id, True), **override_json(override)}, 201)


async def update_override(req: Request, ctx: Ctx, m: Match) -> Response:
    """PATCH …/inferenceClassification/overrides/{id}: classifyAs → 200 with the override."""
    body = read_json(req, required=True)
    assert body is not None
    classify, sender = _fields(body)
    owner, override = await _service(ctx).update(ctx.actor, m.user_key, m.keys[0], classify, sender)
    return json_response({"@odata.context": _context(ctx, owner.id, True), **override_json(override)})


async def delete_override(req: Request, ctx: Ctx, m: Match) -> Response:
    """DELETE …/inferenceClassification/overrides/{id} → 204."""
    await _service(ctx).delete(ctx.actor, m.user_key, m.keys[0])
    return no_content()
