"""`GraphHandler.handle(request, actor)` called directly (no ASGI) answers as the server does over HTTP.

The same request goes once through the ASGI app (httpx) and once straight into the handler with the
actor of the same token; status, body and the handler's headers must agree (the transport adds only
the common headers), for successes and for every kind of failure, which never escapes as an exception.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from mailgraph.api.context import Ctx
from mailgraph.api.handler import GraphHandler, common_headers
from mailgraph.api.http import Request, Response
from mailgraph.api.router import Match, Route
from mailgraph.api.routes import ROUTES
from mailgraph.domain.model import Actor
from mailgraph.wiring import Runtime
from tests.api.helpers import JSON, create_draft, draft_body, q
from tests.conftest import TokenFor

_PER_REQUEST = {"request-id", "client-request-id", "date"}


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Request:
    raw, _, query = path.partition("?")
    lowered = {k.lower(): v for k, v in headers.items()}
    return Request(
        method, raw.encode(), query, {"host": "graph.test", **lowered}, body, "https", "graph.test"
    )


def _actor(runtime: Runtime, headers: dict[str, str]) -> Actor:
    return runtime.app.services.tokens.verify(headers["Authorization"].split(" ", 1)[1]).actor()


def _comparable(body: bytes) -> Any:
    """The body without what differs per request (the error's date and ids)."""
    if not body.startswith(b"{"):
        return body
    data = orjson.loads(body)
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        data["error"].pop("innerError", None)
    return data


def _wire_headers(req: Request, response: Response) -> set[tuple[str, str]]:
    """The headers the ASGI transport would send for a directly handled response."""
    headers = [*common_headers(req.request_id, req.client_request_id, response), *response.headers]
    if response.content_type is not None:
        headers.append((b"content-type", response.content_type))
    headers.append((b"content-length", str(len(response.body)).encode()))
    return {(k.decode(), v.decode("latin-1")) for k, v in headers if k.decode() not in _PER_REQUEST}


async def _both(
    api: httpx.AsyncClient,
    runtime: Runtime,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
) -> tuple[httpx.Response, Response]:
    over_http = await api.request(method, path, headers=headers, content=body)
    req = _request(method, path, headers, body)
    direct = await runtime.app.graph.handle(req, _actor(runtime, headers))
    assert direct.status == over_http.status_code, (path, direct.body, over_http.text)
    assert _comparable(direct.body) == _comparable(over_http.content), path
    sent = {(k, v) for k, v in over_http.headers.items() if k not in _PER_REQUEST}
    assert _wire_headers(req, direct) == sent, path
    return over_http, direct


async def test_handle_gives_the_http_answer_for_reads_and_failures(
    api: httpx.AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice, subject="direct")
    prefer = {**alice, "Prefer": 'IdType="ImmutableId", outlook.body-content-type="text"'}
    r, direct = await _both(api, runtime, "GET", f"/v1.0/me/messages/{q(draft['id'])}", prefer)
    assert r.status_code == 200 and r.json()["subject"] == "direct"
    assert (
        b"preference-applied",
        b'IdType="ImmutableId", outlook.body-content-type="text"',
    ) in direct.headers
    await _both(api, runtime, "GET", "/v1.0/me/mailFolders/inbox/messages?$top=2&$select=subject", alice)
    # unknown segment, unknown item, bad query, bad percent-encoding, wrong method, missing permission
    r, _ = await _both(api, runtime, "GET", "/v1.0/me/nope", alice)
    assert r.json()["error"]["message"] == "Resource not found for the segment 'nope'."
    await _both(api, runtime, "GET", "/v1.0/me/messages/AAMkNope", alice)
    await _both(api, runtime, "GET", "/v1.0/me/messages?$top=x", alice)
    await _both(api, runtime, "GET", "/v1.0/me/messages/%FF%FE", alice)
    r, _ = await _both(api, runtime, "PUT", "/v1.0/me/messages", alice)
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    reader = token_for("alice", "Mail.Read")
    r, _ = await _both(api, runtime, "POST", "/v1.0/me/messages", {**reader, **JSON}, b"{}")
    assert r.json()["error"]["code"] == "ErrorAccessDenied"


async def test_handle_writes_through_the_same_use_cases(
    api: httpx.AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    body = orjson.dumps(draft_body(subject="made directly"))
    req = _request("POST", "/v1.0/me/messages", {**alice, **JSON}, body)
    created = await runtime.app.graph.handle(req, _actor(runtime, alice))
    assert created.status == 201
    message_id = orjson.loads(created.body)["id"]
    r = await api.get(f"/v1.0/me/messages/{q(message_id)}", headers=alice)
    assert r.status_code == 200 and r.json()["subject"] == "made directly"


async def test_handle_stamps_ids_and_never_raises(runtime: Runtime, token_for: TokenFor) -> None:
    async def broken(req: Request, ctx: Ctx, m: Match) -> Response:
        raise RuntimeError("a bug")

    graph = GraphHandler(runtime.app.services, [*ROUTES, Route(("broken",), {"GET": (broken, "read")})])
    alice = token_for("alice", "Mail.Read")
    req = _request("GET", "/v1.0/me/broken", {**alice, "client-request-id": "inner-1"})
    response = await graph.handle(req, _actor(runtime, alice))
    assert response.status == 500
    error = orjson.loads(response.body)["error"]
    assert error["code"] == "generalException" and "a bug" not in response.body.decode()
    assert error["innerError"]["request-id"] == req.request_id and len(req.request_id) == 36
    assert error["innerError"]["client-request-id"] == "inner-1"


async def test_serve_checks_the_path_before_the_token(runtime: Runtime) -> None:
    graph = runtime.app.graph
    unknown = await graph.serve(_request("GET", "/v1.0/me/nope", {}))
    assert unknown.status == 400  # Graph: 400 BadRequest for an unknown segment below a version
    assert orjson.loads(unknown.body)["error"]["code"] == "BadRequest"
    missing = await graph.serve(_request("GET", "/v1.0/me/messages", {}))
    assert missing.status == 401
    assert orjson.loads(missing.body)["error"]["code"] == "InvalidAuthenticationToken"
    assert any(name == b"www-authenticate" for name, _ in missing.headers)
