"""`GET /_mailgraph/tenants/{t}/events`: a Server-Sent Events stream of what happens in a tenant.

Each committed change to a message or folder of the tenant's mailboxes is one event (`event:
message` / `folder`, data: `{"kind", "mailboxId", "id", "restId", "folderId", "fromFolderId"}`);
a commit that queued outbound mail adds `event: queue`. Events come from the after-commit signal
(domain/changes.py), so they describe durable state. A comment line every `HEARTBEAT_S` keeps
proxies from closing an idle stream; a stream ends after `MAX_LIFETIME_S` and the browser's
EventSource reconnects by itself (`retry:`). Memory per client is bounded: a client that reads too
slowly loses its backlog and gets `event: resync` (reload what you show). The fan-out to many
clients (serialize once, write batches) is api/control/fanout.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from mailgraph.api.control import Control, ControlRoute
from mailgraph.api.control.fanout import HEARTBEAT_S, MAX_LIFETIME_S, RESYNC, EventHub
from mailgraph.api.http import Request, Response

__all__ = ["HEARTBEAT_S", "MAX_LIFETIME_S", "RESYNC", "change_events", "sse_response"]
SSE_TYPE = b"text/event-stream; charset=utf-8"


def change_events(
    hub: EventHub, mailbox_ids: frozenset[str], *, lifetime_s: float = MAX_LIFETIME_S
) -> AsyncIterator[bytes]:
    """SSE bytes for the commits touching `mailbox_ids` (also used by the web UI)."""
    return hub.stream(mailbox_ids, lifetime_s=lifetime_s)


def sse_response(stream: AsyncIterator[bytes]) -> Response:
    """A streamed response of unknown length (api/http.py: `length` -1, sent chunked)."""
    return Response(200, b"", SSE_TYPE, [(b"cache-control", b"no-store")], stream=stream, length=-1)


async def events(req: Request, c: Control, args: dict[str, str]) -> Response:
    """The tenant's event stream."""
    _, users = await c.finder.mailboxes(args["tenant"])
    return sse_response(change_events(c.events, frozenset(u.id for u in users)))


ROUTES = [
    ControlRoute(
        "GET",
        "tenants/{tenant}/events",
        events,
        "Server-Sent Events of a tenant",
        produces="text/event-stream",
    )
]
