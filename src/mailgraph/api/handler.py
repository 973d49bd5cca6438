"""The Graph request handler below ASGI: route → authorize → run → map errors, for a known caller.

`GraphHandler.handle(request, actor)` is the one way into the Graph routes: the ASGI app calls it (via
`serve`, which authenticates the bearer token first), and so can a `$batch` item (with the outer
token's actor), a test or a UI page. Whatever fails inside — an unknown path, a method without a
handler, a missing permission, a domain or OData error, a bug — becomes one Graph error `Response`
(api/errors.py); nothing escapes, so one inner request of a batch is one status.

Order of checks, as Graph answers them: the path (400 `BadRequest` naming the segment below `/v1.0`
or `/beta`, 404 `ResourceNotFound` elsewhere, 400 for bad percent-encoding) and the method (405 with `Allow`) come *before* the token (401) and the
permission (403), so an unauthenticated probe of an unknown path gets the 400/404.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from mailgraph.api.context import Ctx, Services
from mailgraph.api.errors import GraphError, to_response
from mailgraph.api.guard import Guard
from mailgraph.api.http import JSON_TYPE, Request, Response
from mailgraph.api.router import Handler, Match, PathError, Route, Router
from mailgraph.api.routes import ROUTES
from mailgraph.auth.permissions import Operation, allows, hides_body
from mailgraph.domain import ids
from mailgraph.domain.model import Actor

_DIAGNOSTIC = b'{"ServerInfo":{"DataCenter":"Local","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"mailgraph"}}'
_STATIC_HEADERS = [
    (b"cache-control", b"private"),
    (b"strict-transport-security", b"max-age=31536000"),
    (b"x-ms-ags-diagnostic", _DIAGNOSTIC),
]
_ODATA_VERSION = (b"odata-version", b"4.0")

Resolved = tuple[Match, Handler, Operation]
"""A routed request: the match, the method's handler and the operation it needs."""


def stamp(req: Request) -> None:
    """Give a request its ids: a new `request-id`, and the client's `client-request-id` (or the same)."""
    req.request_id = ids.guid()
    req.client_request_id = req.headers.get("client-request-id") or req.request_id


def common_headers(request_id: str, client_request_id: str, response: Response) -> list[tuple[bytes, bytes]]:
    """The headers every response carries (spec §0.3); JSON responses add `OData-Version: 4.0`.

    Kept apart from the handler's own headers so that a `$batch` response can give each inner
    response its ids without the outer transport's headers.
    """
    headers = [
        (b"request-id", request_id.encode()),
        (b"client-request-id", client_request_id.encode("latin-1")),
    ]
    own = {name for name, _ in response.headers}
    headers.extend(h for h in _STATIC_HEADERS if h[0] not in own)
    if response.content_type == JSON_TYPE:
        headers.append(_ODATA_VERSION)
    return headers


class GraphHandler:
    """Routes, authorizes and runs Graph requests; every failure is a Graph error response."""

    def __init__(self, services: Services, routes: list[Route] | None = None) -> None:
        self.services = services
        self.routes: list[Route] = ROUTES if routes is None else routes
        """The route table it serves (`/openapi.json` describes it: api/describe.py)."""
        self._router = Router(self.routes)
        self.guard: Guard | None = None
        """Fault rules and throttling (api/guard.py), set by wiring; skipped while not `active`."""
        # The metrics label of each route (its pattern), looked up by identity: one dict get per request.
        self._labels = {id(r): _label(r) for r in (ROUTES if routes is None else routes)}

    async def handle(self, req: Request, actor: Actor) -> Response:
        """One Graph request on behalf of an authenticated `actor`. Never raises (but cancellation).

        `req.raw_path` is the full path (`/v1.0/me/messages`); a request without ids gets them here
        (`stamp`), so its error bodies name the request they belong to.
        """
        if not req.request_id:
            stamp(req)
        try:
            match, handler, operation = self.resolve(req)
            ctx = self._authorize(req, actor, match, operation)
            guard = self.guard
            if guard is not None and guard.active and operation != "none":
                return self._finish(ctx, await guard.run(ctx, handler, match))
            return self._finish(ctx, await handler(req, ctx, match))
        except Exception as exc:
            return to_response(exc, req.request_id, req.client_request_id)

    async def serve(self, req: Request, parts: Sequence[str] = ()) -> Response:
        """Authenticate the bearer token, then handle: the path the ASGI app takes. Never raises.

        The signature of a mount's handler (api/mounts.py); `parts` is unused, the router decodes
        the path itself (the fast path hands it over undecoded).
        """
        if not req.request_id:
            stamp(req)
        try:
            match, handler, operation = self.resolve(req)  # 404/405 first: not an auth question
            ctx = self._authorize(req, await self.authenticate(req), match, operation)
            guard = self.guard
            if guard is not None and guard.active and operation != "none":
                return self._finish(ctx, await guard.run(ctx, handler, match))
            return self._finish(ctx, await handler(req, ctx, match))
        except Exception as exc:
            return to_response(exc, req.request_id, req.client_request_id)

    def resolve(self, req: Request) -> Resolved:
        """The route and the method's handler. Raises GraphError (404, 400, 405)."""
        try:
            match, route = self._router.match(req.raw_path)
        except PathError as exc:
            # Graph's OData layer answers an unknown segment below /v1.0 or /beta with 400 BadRequest
            # (spec §5); a path outside both names no Graph service: 404.
            status, code = (400, "BadRequest") if exc.versioned else (404, "ResourceNotFound")
            raise GraphError(status, code, f"Resource not found for the segment '{exc.segment}'.") from None
        except UnicodeDecodeError:
            raise GraphError(
                400, "BadRequest", "The request URL is not valid percent-encoded UTF-8."
            ) from None
        req.route = self._labels.get(id(route), "graph")
        entry = route.methods.get(req.method)
        if entry is None:
            allowed = ", ".join(sorted(route.methods)).encode()
            raise GraphError(
                405,
                "BadRequest",
                f"The HTTP method '{req.method}' is not allowed on this resource.",
                [(b"allow", allowed)],
            )
        return match, entry[0], entry[1]

    async def authenticate(self, req: Request) -> Actor:
        """The caller of a bearer token (ours, or the external IdP's). Raises TokenError (→ 401)."""
        header = req.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            token = ""
        tokens = self.services.tokens
        if tokens.external is not None and tokens.external.claims_issuer(token.strip()):
            return await tokens.external.authenticate(token.strip())  # external IdP mode (docs/identity.md)
        return (await tokens.authenticate(token.strip())).actor()

    def _authorize(self, req: Request, actor: Actor, match: Match, operation: Operation) -> Ctx:
        """The handler's context once the actor may do `operation`. Raises GraphError (403)."""
        # The one place every Graph request passes with its caller known: a per-actor throttle goes
        # here (after authorization), so `$batch` items are limited exactly like top-level requests.
        # (Plain functions around one `await handler(...)`: each extra coroutine frame per request
        # showed up in the instruction count of a create+send cycle.)
        if not allows(actor.kind, actor.permissions, operation):
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        # Whether a .Shared scope covers the operation in another user's mailbox (domain/delegation.py);
        # only .Shared scopes can, so most requests keep the actor as verified (no copy per request).
        if allows(actor.kind, actor.permissions, operation, other_mailbox=True):
            actor = replace(actor, reach_shared=True)
        return Ctx(req, self.services, actor, match, hides_body(actor.kind, actor.permissions), graph=self)

    @staticmethod
    def _finish(ctx: Ctx, response: Response) -> Response:
        if ctx.applied:  # RFC 7240 §3: echo the preferences that were honoured (spec §0.2)
            response.headers.append((b"preference-applied", ", ".join(ctx.applied).encode()))
        return response


def _label(route: Route) -> str:
    """`/{v}/users/{id}/messages/{id}/send`-style pattern of a route (keys as `{id}`)."""
    below = "/".join("{id}" if seg == "{}" else seg for seg in route.pattern)
    return f"/{{v}}/{below}" if route.root else f"/{{v}}/users/{{id}}/{below}"
