"""Mailbox settings: `GET/PATCH …/mailboxSettings` and the sub-property GETs
(`…/mailboxSettings/automaticRepliesSetting`, `/timeZone`, `/workingHours`, …), v1.0 and beta.

user-get-mailboxsettings.md, user-update-mailboxsettings.md. PATCH answers 200 with the properties it
was sent (each whole), as the doc's examples show. A string sub-property answers `{"value": "…"}`.
"""

from __future__ import annotations

from typing import Any

from mailgraph.api.context import Ctx, json_response
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.router import Match
from mailgraph.api.serialize.settings import SUB_PROPERTIES, parse_patch, settings_json
from mailgraph.api.serialize.values import read_json
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MESSAGE


def _context(ctx: Ctx, m: Match, tail: str = "") -> str:
    owner = "me" if m.user_key is None else ctx.user_segment(m.user_key)
    return ctx.context(f"{owner}/mailboxSettings{tail}")


async def get_settings(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/mailboxSettings."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    view = await ctx.services.settings.get(ctx.actor, m.user_key)
    return json_response({"@odata.context": _context(ctx, m), **settings_json(view)})


async def get_setting(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/mailboxSettings/{property}: one setting (objects as themselves, strings as `value`)."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    name = SUB_PROPERTIES.get(m.keys[0].casefold())
    if name is None:
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{m.keys[0]}'.")
    view = await ctx.services.settings.get(ctx.actor, m.user_key)
    value = settings_json(view)[name]
    body: dict[str, Any] = {"@odata.context": _context(ctx, m, f"/{name}")}
    body.update(value if isinstance(value, dict) else {"value": value})
    return json_response(body)


async def update_settings(req: Request, ctx: Ctx, m: Match) -> Response:
    """PATCH …/mailboxSettings: 200 with the properties sent."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    data = read_json(req, required=True) or {}
    view = await ctx.services.settings.update(ctx.actor, m.user_key, parse_patch(data))
    full = settings_json(view)
    return json_response({"@odata.context": _context(ctx, m), **{k: v for k, v in full.items() if k in data}})
