"""`GET /_mailgraph/tenants/{t}/events`: a Server-Sent Events stream of what happens in a tenant.

Each committed change to a message or folder of the tenant's mailboxes is one event (`event:
message` / `folder`, data: `{"kind", "mailboxId", "id", "restId", "folderId", "fromFolderId"}`);
a commit that queued outbound mail adds `event: queue`. Events come from the after-commit signal
(domain/changes.py), so they describe durable state. A comment line every `HEARTBEAT_S` keeps
proxies from closing an idle stream; a stream ends after `MAX_LIFETIME_S` and the browser's
EventSource reconnects by itself (`retry:`). A client that reads too slowly loses the oldest events
(bounded memory per client), never the newest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson

from mailgraph.api.control import Control, ControlRoute
from mailgraph.api.http import Request, Response
from mailgraph.domain.changes import AfterCommit, Commit

HEARTBEAT_S = 15.0
MAX_LIFETIME_S = 600.0
BACKLOG = 1000
SSE_TYPE = b"text/event-stream; charset=utf-8"


async def change_events(
    signals: AfterCommit, mailbox_ids: frozenset[str], *, lifetime_s: float = MAX_LIFETIME_S
) -> AsyncIterator[bytes]:
    """SSE frames for the commits touching `mailbox_ids` (also used by the web UI)."""
    pending: asyncio.Queue[bytes] = asyncio.Queue(BACKLOG)

    def on_commit(commit: Commit) -> None:
        frames = [
            _frame(c.entity, {"kind": c.kind, "mailboxId": c.mailbox_id, "id": c.item_id, "restId": c.rest_id,
                              "folderId": c.folder_id, "fromFolderId": c.from_folder_id})
            for c in commit.changes
            if c.mailbox_id in mailbox_ids
        ]  # fmt: skip
        if commit.queued and frames:
            frames.append(_frame("queue", {"queued": commit.queued}))
        for frame in frames:
            if pending.full():  # a slow reader loses the oldest event, not the newest
                with contextlib.suppress(asyncio.QueueEmpty):
                    pending.get_nowait()
            pending.put_nowait(frame)

    unsubscribe = signals.subscribe(on_commit)
    loop = asyncio.get_running_loop()
    end = loop.time() + lifetime_s
    try:
        yield b"retry: 1000\n: connected\n\n"
        while (left := end - loop.time()) > 0:
            try:
                yield await asyncio.wait_for(pending.get(), min(left, HEARTBEAT_S))
            except TimeoutError:
                yield b": keep-alive\n\n"
    finally:
        unsubscribe()


def _frame(event: str, data: dict[str, object]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def sse_response(stream: AsyncIterator[bytes]) -> Response:
    """A streamed response of unknown length (api/http.py: `length` -1, sent chunked)."""
    return Response(200, b"", SSE_TYPE, [(b"cache-control", b"no-store")], stream=stream, length=-1)


async def events(req: Request, c: Control, args: dict[str, str]) -> Response:
    """The tenant's event stream."""
    _, users = await c.finder.mailboxes(args["tenant"])
    return sse_response(change_events(c.signals, frozenset(u.id for u in users)))


ROUTES = [
    ControlRoute(
        "GET",
        "tenants/{tenant}/events",
        events,
        "Server-Sent Events of a tenant",
        produces="text/event-stream",
    )
]
