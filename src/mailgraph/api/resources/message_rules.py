"""Inbox rules: `…/mailFolders/inbox/messageRules` and `…/messageRules/{id}` (v1.0 and beta, `/me` and
`/users/{id|upn}`): list, get, create (201), PATCH (200 with the rule), DELETE (204).

mailfolder-list-messagerules.md, mailfolder-post-messagerules.md, messagerule-get.md,
messagerule-update.md, messagerule-delete.md. The folder must be the Inbox (by name or id).
"""

from __future__ import annotations

from mailgraph.api.context import Ctx, json_response, no_content
from mailgraph.api.http import Request, Response
from mailgraph.api.router import Match
from mailgraph.api.serialize.rules import parse_rule, rule_json
from mailgraph.api.serialize.values import read_json
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MESSAGE


def _context(ctx: Ctx, m: Match, entity: bool) -> str:
    owner = "me" if m.user_key is None else ctx.user_segment(m.user_key)
    suffix = "/$entity" if entity else ""
    return ctx.context(f"{owner}/mailFolders('{m.keys[0]}')/messageRules{suffix}")


async def list_rules(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/mailFolders/inbox/messageRules: every rule, in sequence order (no paging: ≤ 256 rules)."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    rules = await ctx.services.rules.list(ctx.actor, m.user_key, m.keys[0])
    return json_response({"@odata.context": _context(ctx, m, False), "value": [rule_json(r) for r in rules]})


async def get_rule(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/messageRules/{id}."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    rule = await ctx.services.rules.get(ctx.actor, m.user_key, m.keys[0], m.keys[1])
    return json_response({"@odata.context": _context(ctx, m, True), **rule_json(rule)})


async def create_rule(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messageRules: 201 with the rule."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    changes = parse_rule(read_json(req, required=True) or {})
    rule = await ctx.services.rules.create(ctx.actor, m.user_key, m.keys[0], changes)
    return json_response({"@odata.context": _context(ctx, m, True), **rule_json(rule)}, status=201)


async def update_rule(req: Request, ctx: Ctx, m: Match) -> Response:
    """PATCH …/messageRules/{id}: 200 with the updated rule."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    changes = parse_rule(read_json(req, required=True) or {})
    rule = await ctx.services.rules.update(ctx.actor, m.user_key, m.keys[0], m.keys[1], changes)
    return json_response({"@odata.context": _context(ctx, m, True), **rule_json(rule)})


async def delete_rule(req: Request, ctx: Ctx, m: Match) -> Response:
    """DELETE …/messageRules/{id}: 204."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    await ctx.services.rules.delete(ctx.actor, m.user_key, m.keys[0], m.keys[1])
    return no_content()
