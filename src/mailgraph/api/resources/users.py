"""Graph `user` routes: `GET /me`, `GET /users`, `GET /users/{id|userPrincipalName}`, `GET /users/$count`
(issue 15; root routes, v1.0 and beta).

Permissions (auth/permissions.py "directory"): User.Read reads the signed-in user, User.ReadBasic.All
every user's basic properties, User.Read.All everything (delegated or application). The list takes
`$select`, `$filter` (eq/startswith on mail, userPrincipalName, displayName, …), `$top` (1–999) and
`$count=true`; like Graph's directory, `$count` (option or segment) needs `ConsistencyLevel: eventual`,
and `ne`, `not` and `contains` are advanced queries that need it too. Pages continue with an opaque
`$skiptoken` (the directory does not take `$skip`).
"""

from __future__ import annotations

import base64
import binascii

from mailgraph.api.context import Ctx, json_response
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.resources.counts import TEXT_PLAIN
from mailgraph.api.router import Match
from mailgraph.api.serialize.users import user_json
from mailgraph.auth.permissions import user_reach
from mailgraph.odata.ast import And, Call, Compare, Expr, Not, Or
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import USER

LIST_OPTIONS = frozenset({"$select", "$filter", "$top", "$count", "$skiptoken"})
DEFAULT_TOP = 100  # the directory's default page (users-list.md)
MAX_TOP = 999


def _request_error(message: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", message)


def _eventual(req: Request) -> bool:
    return req.headers.get("consistencylevel", "").strip().lower() == "eventual"


def _advanced(expr: Expr) -> bool:
    """Whether a filter uses what the directory evaluates only as an advanced query."""
    if isinstance(expr, And | Or):
        return _advanced(expr.left) or _advanced(expr.right)
    if isinstance(expr, Not):
        return True
    if isinstance(expr, Call):
        return expr.function == "contains"
    return isinstance(expr, Compare) and expr.op != "eq"


def _context(ctx: Ctx, select: tuple[str, ...] | None, entity: bool) -> str:
    shape = f"users({','.join(select)})" if select else "users"
    return ctx.context(f"{shape}/$entity" if entity else shape)


async def get_me(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET /me: the signed-in user, every default property (User.Read suffices)."""
    options, _ = parse_query(req.query, USER, allow=frozenset({"$select"}))
    user = await ctx.services.users.me(ctx.actor)
    payload: dict[str, object] = {"@odata.context": _context(ctx, options.select, True)}
    payload.update(user_json(user, options.select))
    return json_response(payload)


async def get_user(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET /users/{id | userPrincipalName}."""
    options, _ = parse_query(req.query, USER, allow=frozenset({"$select"}))
    reach = user_reach(ctx.actor.kind, ctx.actor.permissions)
    user = await ctx.services.users.get(ctx.actor, m.keys[0], reach)
    basic = reach == "basic" and user.id != ctx.actor.user_id
    payload: dict[str, object] = {"@odata.context": _context(ctx, options.select, True)}
    payload.update(user_json(user, options.select, basic))
    return json_response(payload)


def _offset(extra: dict[str, str]) -> int:
    token = extra.get("$skiptoken")
    if token is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode() + b"==").decode()
        if text.startswith("o:") and text[2:].isdigit():
            return int(text[2:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise _request_error("Invalid skip token.")


def _skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


async def list_users(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET /users: one page of the tenant's users by userPrincipalName."""
    options, extra = parse_query(req.query, USER, allow=LIST_OPTIONS)
    if options.top is not None and options.top > MAX_TOP:
        raise _request_error(
            f"Invalid page size specified: '{options.top}'. Must be between 1 and {MAX_TOP} inclusive."
        )
    if options.count and not _eventual(req):
        raise _request_error("$count is not currently supported.")
    if options.filter is not None and _advanced(options.filter) and not _eventual(req):
        raise _request_error("Unsupported or invalid query filter clause specified for property or operator.")
    reach = user_reach(ctx.actor.kind, ctx.actor.permissions)
    users = await ctx.services.users.list(ctx.actor, reach, options.filter)
    start, top = _offset(extra), options.top or DEFAULT_TOP
    payload: dict[str, object] = {"@odata.context": _context(ctx, options.select, False)}
    if options.count:
        payload["@odata.count"] = len(users)
    own = ctx.actor.user_id
    payload["value"] = [
        user_json(u, options.select, reach == "basic" and u.id != own) for u in users[start : start + top]
    ]
    if start + top < len(users):
        kept = [
            p
            for p in req.query.split("&")
            if p and not p.lower().startswith(("$skiptoken=", "%24skiptoken="))
        ]
        kept.append(f"$skiptoken={_skiptoken(start + top)}")
        payload["@odata.nextLink"] = f"{ctx.root}/users?{'&'.join(kept)}"
    return json_response(payload)


async def count_users(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET /users/$count: the number as text/plain; needs `ConsistencyLevel: eventual` (as Graph)."""
    options, _ = parse_query(req.query, USER, allow=frozenset({"$filter"}))
    if not _eventual(req):
        raise _request_error("$count is not currently supported.")
    users = await ctx.services.users.list(
        ctx.actor, user_reach(ctx.actor.kind, ctx.actor.permissions), options.filter
    )
    return Response(200, str(len(users)).encode(), TEXT_PLAIN)
