"""`/_mailgraph/queue…`: what happened to sent mail (docs/delivery.md). `/admin/queue…` is its alias.

    GET  /_mailgraph/queue?status=deferred&limit=100   queue entries, oldest first
    GET  /_mailgraph/queue/{message}                   one message (queue id or internetMessageId) and
                                                       its recipients
    GET  /_mailgraph/queue/{message}/mime              the message as relayed (or captured), message/rfc822
    POST /_mailgraph/queue/{key}/retry                 make a message's (or one entry's) deferred/failed/
                                                       captured recipients due now

One implementation for both prefixes: `/admin/queue…` (api/admin.py) checks the same admin token
and hands its requests to these routes. Registered by wiring with `ControlApi.add(ROUTES)`.
"""

from __future__ import annotations

from mailgraph.api.admin import entry_json, iso_time
from mailgraph.api.control import Control, ControlError, ControlRoute, json_response, query
from mailgraph.api.http import Request, Response
from mailgraph.delivery.queue import STATUSES
from mailgraph.domain.model import QueueStatus


async def list_entries(req: Request, control: Control, args: dict[str, str]) -> Response:
    """Queue entries, oldest first, optionally of one status."""
    params = query(req)
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise ControlError(400, "BadRequest", f"status must be one of {', '.join(STATUSES)}.")
    try:
        limit = int(params.get("limit", "100"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 10_000:
        raise ControlError(400, "BadRequest", "limit must be an integer from 1 to 10000.")
    typed: QueueStatus | None = next((s for s in STATUSES if s == status), None)
    entries = await control.queue.list(typed, limit)
    return json_response({"value": [entry_json(e) for e in entries]})


async def show(req: Request, control: Control, args: dict[str, str]) -> Response:
    """One queued message and its recipients."""
    key = args["message"]
    queued = await control.queue.show(key)
    if queued is None:
        raise ControlError(404, "ErrorItemNotFound", f"No queued message {key!r}.")
    m = queued.message
    sender = m.from_ or m.sender
    return json_response(
        {
            "messageId": queued.outbound_id,
            "internetMessageId": m.internet_message_id,
            "subject": m.subject,
            "from": sender.address if sender else None,
            "sentDateTime": iso_time(m.sent_at),
            "recipients": [entry_json(e) for e in queued.entries],
        }
    )


async def mime(req: Request, control: Control, args: dict[str, str]) -> Response:
    """The message as relayed (or captured)."""
    key = args["message"]
    raw = await control.queue.mime(key)
    if raw is None:
        raise ControlError(404, "ErrorItemNotFound", f"No queued message {key!r}.")
    return Response(200, raw, b"message/rfc822")


async def retry(req: Request, control: Control, args: dict[str, str]) -> Response:
    """Make the deferred, failed or captured recipients of a message (or one entry) due now."""
    key = args["message"]
    count = await control.queue.retry(("deferred", "failed", "captured"), [key])
    if count == 0:
        raise ControlError(404, "ErrorItemNotFound", f"Nothing to retry for {key!r}.")
    return json_response({"retried": count})


ROUTES = [
    ControlRoute("GET", "queue", list_entries, "Outbound queue entries, oldest first"),
    ControlRoute("GET", "queue/{message}", show, "One queued message and its recipients"),
    ControlRoute(
        "GET",
        "queue/{message}/mime",
        mime,
        "A queued message as relayed (message/rfc822)",
        produces="message/rfc822",
    ),
    ControlRoute("POST", "queue/{message}/retry", retry, "Make a message's failed recipients due now"),
]
