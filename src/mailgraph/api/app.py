"""The ASGI application: reads the request, routes it, authenticates, authorizes, renders errors.

Every response carries `request-id` and `client-request-id` (the client's, or the request id when it
sent none) and the headers of spec §0.3; JSON responses add `OData-Version: 4.0`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from urllib.parse import unquote

from mailgraph.api.context import Ctx, Services
from mailgraph.api.errors import GraphError, error_body, to_response
from mailgraph.api.http import (
    JSON_TYPE,
    BodyTooLargeError,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    read_request,
    write_response,
)
from mailgraph.api.resources import identity, oauth_token, upload_sessions
from mailgraph.api.router import PathError, Router
from mailgraph.api.routes import ROUTES
from mailgraph.auth.permissions import allows, hides_body
from mailgraph.domain.model import Actor

log = logging.getLogger("mailgraph.api")

_DIAGNOSTIC = b'{"ServerInfo":{"DataCenter":"Local","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"mailgraph"}}'
_STATIC_HEADERS = [
    (b"cache-control", b"private"),
    (b"strict-transport-security", b"max-age=31536000"),
    (b"x-ms-ags-diagnostic", _DIAGNOSTIC),
]
_ODATA_VERSION = (b"odata-version", b"4.0")
_GRAPH_PREFIXES = (b"/v1.0/", b"/beta/")


def _plainly_graph(raw_path: bytes) -> bool:
    """True when the path can only be for the Graph router: `/v1.0/…` or `/beta/…` written plainly.

    A shortcut (measured: splitting and percent-decoding every path to look for the endpoints outside
    Graph was ~1.5 % of a create+send cycle's server CPU). The one Graph-looking path served elsewhere is
    the token endpoint of a tenant named `v1.0`/`beta` (`/v1.0/oauth2/v2.0/token`), so the second
    segment must be plain and not `oauth2`; anything unusual takes the full check in `_outside_graph`.
    """
    if raw_path[:6].lower() not in _GRAPH_PREFIXES:
        return False
    second = raw_path.split(b"/", 3)[2]
    return bool(second) and b"%" not in second and second.lower() != b"oauth2"


class GraphApp:
    """ASGI entry point for Graph (`/v1.0`, `/beta`) and the token endpoint (`/{tenant}/oauth2/v2.0/token`)."""

    def __init__(self, services: Services, on_shutdown: Callable[[], Awaitable[None]] | None = None) -> None:
        self.services = services
        self._router = Router(ROUTES)
        self._on_shutdown = on_shutdown
        # Set by wiring: run at lifespan start (the delivery worker), and the `/admin` handler.
        self.on_startup: Callable[[], Awaitable[None]] | None = None
        self.admin: Callable[[Request], Awaitable[Response]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = str(uuid.uuid4())
        try:
            req = await read_request(scope, receive)
        except BodyTooLargeError:
            body = error_body(
                "RequestEntityTooLarge", "Maximum request length exceeded.", request_id, request_id
            )
            response = Response(413, body, JSON_TYPE)
            await write_response(send, response, self._common(request_id, request_id, response))
            return
        req.request_id = request_id
        req.client_request_id = req.headers.get("client-request-id") or request_id
        try:
            response = await self._dispatch(req)
        except Exception as exc:
            response = to_response(exc, request_id, req.client_request_id)
        await write_response(send, response, self._common(request_id, req.client_request_id, response))

    @staticmethod
    def _common(request_id: str, client_request_id: str, response: Response) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"request-id", request_id.encode()),
            (b"client-request-id", client_request_id.encode("latin-1")),
        ]
        own = {name for name, _ in response.headers}
        headers.extend(h for h in _STATIC_HEADERS if h[0] not in own)
        if response.content_type == JSON_TYPE:
            headers.append(_ODATA_VERSION)
        return headers

    async def _dispatch(self, req: Request) -> Response:
        if not _plainly_graph(req.raw_path):
            found = await self._outside_graph(req)
            if found is not None:
                return found
        try:
            match, route = self._router.match(req.raw_path)
        except PathError as exc:
            raise GraphError(
                404, "ResourceNotFound", f"Resource not found for the segment '{exc.segment}'."
            ) from None
        except UnicodeDecodeError:
            raise GraphError(
                400, "BadRequest", "The request URL is not valid percent-encoded UTF-8."
            ) from None
        entry = route.methods.get(req.method)
        if entry is None:
            allowed = ", ".join(sorted(route.methods)).encode()
            raise GraphError(
                405,
                "BadRequest",
                f"The HTTP method '{req.method}' is not allowed on this resource.",
                [(b"allow", allowed)],
            )
        handler, operation = entry
        actor = await self._authenticate(req)
        if not allows(actor.kind, actor.permissions, operation):
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        # Whether a .Shared scope covers the operation in another user's mailbox (domain/delegation.py);
        # only .Shared scopes can, so most requests keep the actor as verified (no copy per request).
        if allows(actor.kind, actor.permissions, operation, other_mailbox=True):
            actor = replace(actor, reach_shared=True)
        ctx = Ctx(req, self.services, actor, match, hides_body(actor.kind, actor.permissions))
        response = await handler(req, ctx, match)
        if ctx.applied:  # RFC 7240 §3: echo the preferences that were honoured (spec §0.2)
            response.headers.append((b"preference-applied", ", ".join(ctx.applied).encode()))
        return response

    async def _outside_graph(self, req: Request) -> Response | None:
        """The endpoints outside the Graph router, or None when the path is for the router."""
        path = req.raw_path.decode("latin-1")
        parts = [unquote(p) for p in path.split("/") if p]
        if len(parts) == 4 and [p.lower() for p in parts[1:]] == ["oauth2", "v2.0", "token"]:
            return await oauth_token.token(req, self.services.oauth, parts[0])
        if parts and parts[0] == "upload":  # upload-session chunks: the URL's own token, no bearer (§2.12)
            return await upload_sessions.handle_upload(req, self.services, parts)
        if parts and parts[0] == "admin" and self.admin is not None:
            return await self.admin(req)  # outside Graph, its own credential (api/admin.py)
        if parts and parts[0].lower() not in ("v1.0", "beta"):  # the identity platform (spec §4.1)
            return await identity.dispatch(req, self.services.oauth, self.services.tokens, parts)
        return None

    async def _authenticate(self, req: Request) -> Actor:
        header = req.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            token = ""
        tokens = self.services.tokens
        if tokens.external is not None and tokens.external.claims_issuer(token.strip()):
            return await tokens.external.authenticate(token.strip())  # external IdP mode (docs/identity.md)
        return (await tokens.authenticate(token.strip())).actor()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.on_startup is not None:
                    await self.on_startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._on_shutdown is not None:
                    await self._on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
