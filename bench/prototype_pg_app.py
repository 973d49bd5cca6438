"""The PostgreSQL prototype: the simplest honest create+send server on PostgreSQL, the floor for issue 11.

`prototype_app.py`'s cycle with PostgreSQL instead of SQLite: raw ASGI on uvicorn (httptools +
uvloop), an asyncpg pool (`PROTOTYPE_PG_POOL` connections, default 16, per process), the server's
default `synchronous_commit = on` (the commit is flushed before the answer, like mailgraph's), and
per request the fewest statements the cycle can take:

* `POST /v1.0/users/{upn}/messages` -> 201: one INSERT (autocommit);
* `POST /v1.0/users/{upn}/messages/{id}/send` -> 202: one transaction: UPDATE the draft into Sent
  Items `RETURNING` what the copy needs, INSERT the recipient's Inbox copy, COMMIT.

No auth (a fixed token), no Graph rules, no change log, no counts, no outbox. `bench/run.py
--database URL` starts it with 1 and with 2 uvicorn worker processes (phases `pg-proto-1p`,
`pg-proto-2p`) beside mailgraph's `pg-1p` / `pg-2p`: whatever cycles/s this program reaches on a
machine is more than any server doing the whole of Graph's send there can reach with the same
database and the same load generator (docs/performance.md, "The PostgreSQL floor").
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

import asyncpg
import orjson
from prototype_app import asgi

_POOL: Any = None
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS proto_messages (id TEXT PRIMARY KEY, mailbox TEXT NOT NULL,"
    " folder TEXT NOT NULL, subject TEXT, body TEXT, recipients TEXT, received_at BIGINT);"
    " CREATE INDEX IF NOT EXISTS proto_by_folder ON proto_messages (mailbox, folder, received_at)"
)


async def _pool() -> Any:
    global _POOL
    if _POOL is None:
        size = int(os.environ.get("PROTOTYPE_PG_POOL", "16"))
        pool = await asyncpg.create_pool(os.environ["PROTOTYPE_PG"], min_size=size, max_size=size)
        async with pool.acquire() as con:
            # Two workers start at once: CREATE … IF NOT EXISTS may still race on the catalog.
            await con.execute("SELECT pg_advisory_lock(4242)")
            try:
                await con.execute(_SCHEMA)
            finally:
                await con.execute("SELECT pg_advisory_unlock(4242)")
        _POOL = pool
    return _POOL


async def _create(upn: str, body: bytes) -> tuple[int, bytes]:
    doc = orjson.loads(body)
    to = [r["emailAddress"]["address"] for r in doc.get("toRecipients", [])]
    msg_id = secrets.token_hex(16)
    await (await _pool()).execute(
        "INSERT INTO proto_messages VALUES ($1, $2, 'drafts', $3, $4, $5, $6)",
        msg_id, upn, doc.get("subject", ""), doc.get("body", {}).get("content", ""), ",".join(to),
        time.time_ns() // 1000,
    )  # fmt: skip
    return 201, orjson.dumps({"id": msg_id, "subject": doc.get("subject", ""), "isDraft": True})


async def _send(upn: str, msg_id: str) -> tuple[int, bytes]:
    async with (await _pool()).acquire() as con, con.transaction():
        row = await con.fetchrow(
            "UPDATE proto_messages SET folder = 'sentitems' WHERE id = $1 AND mailbox = $2"
            " AND folder = 'drafts' RETURNING subject, body, recipients",
            msg_id, upn,
        )  # fmt: skip
        if row is None:
            return 404, b'{"error":{"code":"ErrorItemNotFound"}}'
        await con.executemany(
            "INSERT INTO proto_messages VALUES ($1, $2, 'inbox', $3, $4, $5, $6)",
            [
                (secrets.token_hex(16), rcpt, row[0], row[1], row[2], time.time_ns() // 1000)
                for rcpt in row[2].split(",")
            ],
        )
    return 202, b""


async def _route(what: tuple[str, ...], body: bytes) -> tuple[int, bytes]:
    return await (_create(what[1], body) if what[0] == "create" else _send(what[1], what[2]))


async def _startup() -> None:
    await _pool()


async def _shutdown() -> None:
    if _POOL is not None:
        await _POOL.close()


app = asgi(_route, _startup, _shutdown)
"""Create drafts and send them, durably; accept lifespan events."""
