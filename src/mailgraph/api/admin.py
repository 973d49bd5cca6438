"""The admin JSON endpoint, outside the Graph namespace: what happened to sent mail (docs/delivery.md).

    GET  /admin/queue?status=deferred&limit=100   queue entries, oldest first
    GET  /admin/queue/{message}                    one message (queue id or internetMessageId) and its recipients
    GET  /admin/queue/{message}/mime               the message as relayed (or captured), message/rfc822
    POST /admin/queue/{key}/retry                  make a message's (or one entry's) deferred/failed/captured
                                                   recipients due now

An alias of `/_mailgraph/queue…` (api/control/queue.py, one implementation): the same operations and
the same credential, `Authorization: Bearer <admin token>` (`--admin-token`, or the token generated
into the data directory and printed at start-up). Graph tokens are not accepted here: the queue spans
all mailboxes, which no Graph permission grants. Errors use Graph's error shape.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mailgraph.api.errors import error_body
from mailgraph.api.http import JSON_TYPE, Request, Response
from mailgraph.domain.model import SECOND, QueueEntry, Timestamp

if TYPE_CHECKING:
    from mailgraph.api.control import ControlApi


def iso_time(ts: Timestamp | None) -> str | None:
    """A store time as Graph writes it (`2024-05-01T10:00:00Z`); None stays None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts / SECOND, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_json(e: QueueEntry) -> dict[str, object]:
    """One queue entry as JSON (also used by `mailgraph queue list --json`)."""
    return {
        "id": e.id,
        "messageId": e.outbound_id,
        "internetMessageId": e.internet_message_id,
        "subject": e.subject,
        "recipient": e.recipient,
        "status": e.status,
        "attempts": e.attempts,
        "nextAttemptDateTime": iso_time(e.next_attempt_at) if e.status in ("queued", "deferred") else None,
        "lastReply": None
        if e.last_reply_code is None and not e.last_reply_text
        else {"code": e.last_reply_code, "text": e.last_reply_text},
        "expirationDateTime": iso_time(e.expires_at),
        "createdDateTime": iso_time(e.created_at),
    }


class AdminApi:
    """Handles `/admin/…` requests with the admin bearer token: `/admin/queue…` goes to the control API."""

    def __init__(self, control: ControlApi, token: str) -> None:
        self._control = control
        self._token = token.encode()

    async def __call__(self, req: Request, parts: Sequence[str]) -> Response:
        """Authenticate, then hand `/admin/queue…` to the control namespace's queue routes.

        `parts`: the decoded path segments, `admin` first.
        """
        scheme, _, given = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self._token):
            return self._error(
                req, 401, "InvalidAuthenticationToken", "The admin endpoint needs the admin bearer token.",
                [(b"www-authenticate", b'Bearer realm="mailgraph-admin"')],
            )  # fmt: skip
        if list(parts[1:2]) != ["queue"]:
            return self._error(req, 404, "ResourceNotFound", "No such admin resource.")
        return await self._control.dispatch(req, parts[1:])

    @staticmethod
    def _error(
        req: Request, status: int, code: str, message: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> Response:
        body = error_body(code, message, req.request_id, req.client_request_id)
        return Response(status, body, JSON_TYPE, headers or [])
