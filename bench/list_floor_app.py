"""The list's floor: a raw ASGI app answering every GET with a 50-item message page, no store, no auth.

``bench/run.py --list-floor`` serves it with uvicorn and the options of ``mailgraph serve`` and sends
it the list workload (``client.LIST_PATH``), so its server CPU per request is what the HTTP server,
the event loop and the JSON of a page cost before any application work: the ceiling of
"lists per second per core" for any Python app on uvicorn on this machine.

``LIST_FLOOR_MODE``: ``fixed`` (default) sends pre-rendered bytes; ``dumps`` runs ``orjson.dumps``
over 50 prebuilt dicts per request; ``build`` also builds the 50 dicts (the five selected properties,
``@odata.etag`` and ``id``) per request, as an application must. Headers are the set mailgraph sends
(request ids, the three static ones, OData-Version, Content-Type, Content-Length).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from floor_app import lifespan

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
MODE = os.environ.get("LIST_FLOOR_MODE", "fixed")
ROWS = [
    (
        f"AAMkAGI2TAAA{n:08d}AAAAAAEMAAB1d9rVq2K8Tp5oYgCV",
        f"CQAAABYAAAC{n:08d}",
        f"stored message {n}",
        1_600_000_000 + n,
        n % 3 == 0,
        "Hello, this is a stored benchmark message. " * 6,
    )
    for n in range(50)
]
BASE = "http://127.0.0.1/v1.0/users('alice@contoso.com')"


def _page() -> dict[str, Any]:
    value = [
        {
            "@odata.etag": f'W/"{ck}"',
            "id": rid,
            "subject": subject,
            "from": {"emailAddress": {"name": "Carol", "address": "carol@contoso.com"}},
            "receivedDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
            "isRead": read,
            "bodyPreview": preview,
        }
        for rid, ck, subject, at, read, preview in ROWS
    ]
    return {
        "@odata.context": f"{BASE}/messages(subject,from,receivedDateTime,isRead,bodyPreview)",
        "value": value,
        "@odata.nextLink": f"{BASE}/mailFolders/inbox/messages?$top=50&$skip=50",
    }


PAGE = _page()
BODY = orjson.dumps(PAGE)
STATIC = [
    (b"cache-control", b"private"),
    (b"strict-transport-security", b"max-age=31536000"),
    (b"x-ms-ags-diagnostic", b'{"ServerInfo":{"DataCenter":"local"}}'),
    (b"odata-version", b"4.0"),
    (b"content-type", b"application/json"),
]


async def app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Answer every HTTP request with the page; accept lifespan events."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = bool(message.get("more_body", False))
    body = BODY if MODE == "fixed" else orjson.dumps(PAGE if MODE == "dumps" else _page())
    request_id = str(uuid.uuid4()).encode()
    headers = [(b"request-id", request_id), (b"client-request-id", request_id), *STATIC]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
