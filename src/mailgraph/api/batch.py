"""JSON batching: `POST /{version}/$batch` (spec §2.14, concepts/json-batching.md).

The batch is parsed and checked as a whole first (400 for the whole batch: not JSON, no `requests`,
more than 20, duplicate ids, a bad `method`, a nested `$batch`, a dependency shape Graph refuses);
then every item becomes a `Request` below the version root and goes through
`GraphHandler.handle(request, actor)` with the outer token's actor — the same router, authorization,
throttling, fault rules and error mapping as a top-level request, never a second implementation.

Execution follows Graph's known limits (concepts/includes/known-issues/json-batching.md): one
dependency per item, on an earlier item; the batch is *parallel* (no `dependsOn`), *serial* (each item
depends on the one before) or *same* (every dependent names the same item; runs sequentially).
Parallel items run concurrently, at most 4 at a time (Graph sends Outlook ≤ 4 items of a batch at once).
A dependent of a failed item (status ≥ 400, or itself 424) gets 424 without running.

Items whose url repeats the version (`/v1.0/me`) or is absolute (`https://…`) get their own 400
`BadRequest` "Resource not found for the segment '…'." as on Graph, while the other items run; the
snake-case `depends_on` of msgraph-sdk-python-core is an unknown property, ignored as Graph ignores it
(docs/batching.md lists both SDK defects and the workarounds).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from mailgraph.api.context import Ctx, InnerHandler, json_response
from mailgraph.api.errors import GraphError, error_body
from mailgraph.api.http import JSON_TYPE, Request, Response
from mailgraph.api.router import Match

MAX_REQUESTS = 20
PARALLELISM = 4
METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
_INVALID = "Invalid batch payload format."
_SHAPE = "Batch should be either fully sequential or fully parallel"
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_VERSION = re.compile(r"^/?(v1\.0|beta)(/|\?|$)", re.IGNORECASE)
# Outer headers an item inherits: how the client reached us (links, nextLinks), nothing else.
_INHERITED = ("host", "x-forwarded-host", "x-forwarded-proto")
# Header names as Graph writes them in inner responses; others are title-cased.
_CANONICAL = {"odata-version": "OData-Version", "etag": "ETag", "www-authenticate": "WWW-Authenticate"}
_OWN_URL_SAFE = "!#$&'()*+,/:;=?@[]~%"


@dataclass(slots=True)
class Item:
    """One request of a batch, checked."""

    id: str
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    has_body: bool
    depends_on: str | None


def _bad(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def parse(body: bytes) -> list[Item]:
    """The batch's items, checked as a whole. Raises GraphError (400) for what Graph refuses outright."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _bad(_INVALID) from None
    requests = doc.get("requests") if isinstance(doc, dict) else None
    if not isinstance(requests, list):
        raise _bad(_INVALID)
    if len(requests) > MAX_REQUESTS:
        raise _bad(f"The number of requests in a batch is limited to {MAX_REQUESTS}.")
    items: list[Item] = []
    seen: set[str] = set()
    for raw in requests:
        if not isinstance(raw, dict):
            raise _bad(_INVALID)
        rid, method, url = raw.get("id"), raw.get("method"), raw.get("url")
        if not isinstance(rid, str) or not rid or not isinstance(url, str) or not isinstance(method, str):
            raise _bad(_INVALID)
        if method.upper() not in METHODS:
            raise _bad(f"Invalid method '{method}' in batch request '{rid}'.")
        if rid.casefold() in seen:
            raise _bad(f"Batch request ids must be unique; '{rid}' is repeated.")
        seen.add(rid.casefold())
        headers = raw.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise _bad(_INVALID)
        if url.lstrip("/").split("?", 1)[0].split("/", 1)[0].lower() == "$batch":
            raise _bad("Nested batch requests are not supported.")
        items.append(
            Item(
                rid,
                method.upper(),
                url,
                {k.lower(): v for k, v in headers.items()},
                raw.get("body"),
                "body" in raw,
                _dependency(raw.get("dependsOn"), rid, seen),
            )
        )
    _check_shape(items)
    return items


def _dependency(value: object, rid: str, earlier: set[str]) -> str | None:
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(_INVALID)
    if len(value) > 1:
        raise _bad(f"Request '{rid}' depends on more than one request; only one dependency is supported.")
    dep = value[0]
    if dep.casefold() == rid.casefold() or dep.casefold() not in earlier:
        raise _bad(f"Request '{rid}' depends on '{dep}', which is not an earlier request of the batch.")
    return str(dep)


def _check_shape(items: list[Item]) -> None:
    """Parallel, serial or same (Graph's known issue); anything else is one 400."""
    deps = [i.depends_on for i in items]
    if all(d is None for d in deps):
        return
    serial = deps[0] is None and all(
        d is not None and d.casefold() == items[n].id.casefold() for n, d in enumerate(deps[1:])
    )
    stated = {d.casefold() for d in deps if d is not None}
    if not serial and len(stated) != 1:
        raise _bad(_SHAPE)


async def run_batch(req: Request, ctx: Ctx, match: Match) -> Response:
    """The `$batch` route's handler: 200 with one response per item (request order)."""
    if ctx.graph is None:  # pragma: no cover - the handler always passes itself
        raise GraphError(500, "generalException", "An internal server error occurred.")
    items = parse(req.body)
    graph = ctx.graph
    results: dict[str, dict[str, Any]] = {}
    if all(i.depends_on is None for i in items):
        gate = asyncio.Semaphore(PARALLELISM)

        async def one(item: Item) -> None:
            async with gate:
                results[item.id] = await _run(graph, req, ctx, match, item)

        await asyncio.gather(*(one(i) for i in items))
    else:  # serial or same: in array order, dependents of failures skipped
        failed: set[str] = set()
        for item in items:
            if item.depends_on is not None and item.depends_on.casefold() in failed:
                results[item.id] = _failed_dependency(req, item)
            else:
                results[item.id] = await _run(graph, req, ctx, match, item)
            if results[item.id]["status"] >= 400:
                failed.add(item.id.casefold())
    return json_response({"responses": [results[i.id] for i in items]})


async def _run(graph: InnerHandler, outer: Request, ctx: Ctx, match: Match, item: Item) -> dict[str, Any]:
    try:
        inner = _request(outer, match.version, item)
    except GraphError as exc:
        body = error_body(exc.code, exc.message, outer.request_id, outer.client_request_id)
        return _entry(item.id, Response(exc.status, body, JSON_TYPE))
    response = await graph.handle(inner, ctx.actor)
    if response.stream is not None:  # large attachment bytes: gathered, the batch body is one JSON
        response.body = b"".join([piece async for piece in response.stream])
        response.stream = None
    return _entry(item.id, response)


def _request(outer: Request, version: str, item: Item) -> Request:
    """The item as a request below the version root. Raises GraphError (the item's own 400)."""
    url = item.url
    if _ABSOLUTE.match(url) or _VERSION.match(url):
        segment = url.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    path, _, query = url.partition("?")
    raw_path = f"/{version}/{quote(path.lstrip('/'), safe=_OWN_URL_SAFE)}".encode("latin-1")
    headers = {k: outer.headers[k] for k in _INHERITED if k in outer.headers}
    headers.update(item.headers)
    body = b""
    if item.has_body and item.body is not None:
        body = _body(item, headers.get("content-type", ""))
    return Request(item.method, raw_path, query, headers, body, outer.scheme, outer.server)


def _body(item: Item, content_type: str) -> bytes:
    """JSON bodies as JSON, other content types base64 (json-batching.md)."""
    if not content_type:
        raise GraphError(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is"
            " of valid JSON format.",
        )
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return orjson.dumps(item.body)
    if not isinstance(item.body, str):
        raise GraphError(400, "BadRequest", "A body that is not JSON must be a base64 string.")
    try:
        return base64.b64decode(item.body, validate=True)
    except (binascii.Error, ValueError):
        raise GraphError(400, "BadRequest", "A body that is not JSON must be a base64 string.") from None


def _entry(rid: str, response: Response) -> dict[str, Any]:
    """`{"id", "status", "headers", "body"}`: JSON bodies inline, others base64, none for an empty body."""
    headers: dict[str, str] = {"Cache-Control": "private"}
    if response.content_type is not None:
        headers["Content-Type"] = response.content_type.decode("latin-1")
        if response.content_type == JSON_TYPE:
            headers["OData-Version"] = "4.0"
    for name, value in response.headers:
        text = name.decode("latin-1")
        headers[_CANONICAL.get(text, "-".join(p.capitalize() for p in text.split("-")))] = value.decode(
            "latin-1"
        )
    entry: dict[str, Any] = {"id": rid, "status": response.status, "headers": headers}
    if response.body:
        media = (response.content_type or b"").split(b";", 1)[0].strip().lower()
        if media == b"application/json":
            entry["body"] = orjson.Fragment(response.body)  # already JSON: embedded without re-parsing
        else:
            entry["body"] = base64.b64encode(response.body).decode("ascii")
    return entry


def _failed_dependency(outer: Request, item: Item) -> dict[str, Any]:
    message = f"The request '{item.id}' was not run: the request it depends on ('{item.depends_on}') failed."
    body = error_body("FailedDependency", message, outer.request_id, outer.client_request_id)
    return _entry(item.id, Response(424, body, JSON_TYPE))
