"""The benchmark's prototype: the simplest honest create+send server, to measure mailgraph against.

What "the simplest honest implementation" of the cycle does, in one file: raw ASGI on uvicorn (the
same httptools + uvloop options as mailgraph), stdlib `sqlite3` called inline on the event loop, one
connection, WAL with `synchronous=FULL`, and a commit — an fsync — before each answer. It answers
the same requests as mailgraph, with the same statuses and a JSON body with an `id`:

* `POST /{tenant}/oauth2/v2.0/token` -> 200 a fixed token (no crypto: a prototype has no real auth,
  which only flatters it);
* `POST /v1.0/users/{upn}/messages` -> 201: one INSERT of the draft, COMMIT;
* `POST /v1.0/users/{upn}/messages/{id}/send` -> 202: move the draft to Sent Items (UPDATE) and
  deliver one copy to the recipient's Inbox (INSERT), COMMIT.

No group commit, no Graph rules, no ids beyond a random hex string. `bench/run.py` starts it as
`uvicorn prototype_app:app` with `PROTOTYPE_DB=<file>` and reports mailgraph's cycles/s as a ratio
of this one's (issue 11's goal: >= 1.7x).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from floor_app import _nothing, lifespan

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

TOKEN = "prototype-token"
_DB: sqlite3.Connection | None = None


def _db() -> sqlite3.Connection:
    global _DB
    if _DB is None:
        db = sqlite3.connect(os.environ.get("PROTOTYPE_DB", "prototype.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")  # fsync at every commit, like mailgraph's default
        db.execute(
            "CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, mailbox TEXT NOT NULL,"
            " folder TEXT NOT NULL, subject TEXT, body TEXT, recipients TEXT, received_at INTEGER)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS by_folder ON messages (mailbox, folder, received_at)")
        _DB = db
    return _DB


def _create(upn: str, body: bytes) -> tuple[int, bytes]:
    doc = orjson.loads(body)
    to = [r["emailAddress"]["address"] for r in doc.get("toRecipients", [])]
    msg_id = secrets.token_hex(16)
    db = _db()
    db.execute("BEGIN")
    db.execute(
        "INSERT INTO messages VALUES (?, ?, 'drafts', ?, ?, ?, ?)",
        (msg_id, upn, doc.get("subject", ""), doc.get("body", {}).get("content", ""), ",".join(to),
         time.time_ns() // 1000),
    )  # fmt: skip
    db.execute("COMMIT")
    return 201, orjson.dumps({"id": msg_id, "subject": doc.get("subject", ""), "isDraft": True})


def _send(upn: str, msg_id: str) -> tuple[int, bytes]:
    db = _db()
    db.execute("BEGIN")
    row = db.execute(
        "SELECT subject, body, recipients FROM messages WHERE id = ? AND mailbox = ? AND folder = 'drafts'",
        (msg_id, upn),
    ).fetchone()
    if row is None:
        db.execute("ROLLBACK")
        return 404, b'{"error":{"code":"ErrorItemNotFound"}}'
    db.execute("UPDATE messages SET folder = 'sentitems' WHERE id = ?", (msg_id,))
    for rcpt in row[2].split(","):
        db.execute(
            "INSERT INTO messages VALUES (?, ?, 'inbox', ?, ?, ?, ?)",
            (secrets.token_hex(16), rcpt, row[0], row[1], row[2], time.time_ns() // 1000),
        )
    db.execute("COMMIT")
    return 202, b""


TOKEN_BODY = orjson.dumps({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})
UNAUTHORIZED = (401, b'{"error":{"code":"InvalidAuthenticationToken"}}')
NOT_FOUND = (404, b'{"error":{"code":"ResourceNotFound"}}')
Route = Callable[[tuple[str, ...], bytes], Awaitable[tuple[int, bytes]]]


def parse(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[str, ...]:
    """What a request asks: ("create", upn), ("send", upn, id), ("token",), ("unauthorized",) or
    ("unknown",)."""
    parts = path.strip("/").split("/")
    if method == "POST" and path.endswith("/oauth2/v2.0/token"):
        return ("token",)
    if (b"authorization", b"Bearer " + TOKEN.encode()) not in headers:
        return ("unauthorized",)
    if method == "POST" and len(parts) == 4 and parts[:2] == ["v1.0", "users"] and parts[3] == "messages":
        return ("create", parts[2])
    if method == "POST" and len(parts) == 6 and parts[3] == "messages" and parts[5] == "send":
        return ("send", parts[2], parts[4])
    return ("unknown",)


def asgi(
    route: Route, startup: Callable[[], Awaitable[None]], shutdown: Callable[[], Awaitable[None]]
) -> Any:
    """The ASGI app of a prototype (also prototype_pg_app.py's): `route` answers create and send,
    the rest is answered here; lifespan events run `startup` / `shutdown`."""

    async def app(
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, startup, shutdown)
            return
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body", False))
        what = parse(scope["method"], scope["path"], scope["headers"])
        if what[0] in ("create", "send"):
            status, payload = await route(what, b"".join(chunks))
        else:
            status, payload = {"token": (200, TOKEN_BODY), "unauthorized": UNAUTHORIZED}.get(
                what[0], NOT_FOUND
            )
        headers = [(b"content-length", str(len(payload)).encode())]
        if payload:
            headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


async def _route(what: tuple[str, ...], body: bytes) -> tuple[int, bytes]:
    return _create(what[1], body) if what[0] == "create" else _send(what[1], what[2])


async def _startup() -> None:
    _db()


app = asgi(_route, _startup, _nothing)
"""Create drafts and send them, durably; accept lifespan events."""
