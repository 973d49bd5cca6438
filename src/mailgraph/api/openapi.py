"""`GET /openapi.json`: an OpenAPI 3.1 description of every route the server answers (issue 14).

Generated from the mount table at request time, never written by hand: each mount's `describe()`
(api/describe.py) lists its operations — Graph from THE route table (api/routes.py), the control
namespace from its `ControlRoute`s, the rest declared beside their dispatch — so a route another
change adds appears without an edit here. Served without a credential, like Graph's `$metadata`.

Security: Graph operations require a bearer token (`graphToken`) whose permissions allow the
route's operation; the requirement lists each permission that suffices on its own (OpenAPI 3.1 lets
a non-OAuth scheme name roles), and `x-mailgraph-permissions` splits them by kind of caller as the
Graph docs' permission tables do. Errors use Graph's error body (`GraphError`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

from mailgraph.api.describe import PathOp
from mailgraph.api.http import Request, Response
from mailgraph.api.mounts import Mount, MountTable

_PARAM = re.compile(r"\{([^}]+)\}")
_SCHEMES: dict[str, Any] = {
    "graphToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token of this server's identity platform for Graph "
        "(`/{tenant}/oauth2/v2.0/token`), or of the configured external identity provider.",
    },
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The admin token (`--admin-token`, or generated into the data directory).",
    },
    "uiSession": {"type": "apiKey", "in": "cookie", "name": "mg_session"},
}
_SECURITY_NAME = {"graph": "graphToken", "admin": "adminToken", "ui": "uiSession"}
_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "innerError": {
                    "type": "object",
                    "properties": {
                        "date": {"type": "string"},
                        "request-id": {"type": "string"},
                        "client-request-id": {"type": "string"},
                    },
                },
            },
        }
    },
}
_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    302: "Found",
    303: "See Other",
    503: "Not ready",
}


def _parameters(op: PathOp) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(op.path)
    ]
    params += [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}} for name in op.query
    ]
    return params


def _operation(op: PathOp, mount: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{op.method.lower()}:{op.path}",
        "tags": [mount],
    }
    params = _parameters(op)
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": False, "content": {op.body_type: {"schema": op.body}}}
    responses: dict[str, Any] = {}
    for status in op.responses:
        answer: dict[str, Any] = {"description": _REASONS.get(status, "OK")}
        if status not in (204, 302, 303):
            answer["content"] = {op.produces: {}}
        responses[str(status)] = answer
    responses["4XX"] = {"$ref": "#/components/responses/Error"}
    out["responses"] = responses
    scheme = _SECURITY_NAME.get(op.security or "")
    if scheme is None:
        out["security"] = []
    elif op.security == "graph" and op.operation not in (None, "none"):
        perms = op.extra.get("x-mailgraph-permissions", {})
        names = sorted({p for kind in ("delegated", "application") for p in perms.get(kind, ())})
        out["security"] = [{scheme: [name]} for name in names]
    else:
        out["security"] = [{scheme: []}]
    out.update(op.extra)
    return out


def document(mounts: Sequence[Mount], server: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `mounts` (in table order) as served at `server`."""
    paths: dict[str, dict[str, Any]] = {}
    for mount in mounts:
        for op in mount.describe() if mount.describe is not None else ():
            paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, mount.name)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mailgraph",
            "version": "1.0",
            "description": "Microsoft Graph mail API (v1.0 and beta), the identity platform, the "
            "test-control API and operations endpoints of one mailgraph server. Generated from the route table.",
        },
        "servers": [{"url": server}],
        "paths": paths,
        "components": {
            "securitySchemes": _SCHEMES,
            "schemas": {"GraphError": _ERROR},
            "responses": {
                "Error": {
                    "description": "A Graph error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GraphError"}}},
                }
            },
        },
    }


_SELF = [PathOp("GET", "/openapi.json", "This OpenAPI description")]


def openapi_mount(table: MountTable) -> Mount:
    """`/openapi.json` (exact, no credential), describing the table it is mounted in (itself included)."""

    async def serve(req: Request, parts: Sequence[str]) -> Response | None:
        if req.method not in ("GET", "HEAD"):
            return None  # other methods: the next mount (Graph's 404 naming the segment)
        body = orjson.dumps(document(table.mounts, req.base_url))
        return Response(200, body, b"application/json", [(b"cache-control", b"no-store")])

    return Mount("openapi", ("openapi.json",), serve, exact=True, case_sensitive=True, describe=lambda: _SELF)
