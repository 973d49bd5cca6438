"""The admin JSON endpoint, outside the Graph namespace: what happened to sent mail (docs/delivery.md).

    GET  /admin/queue?status=deferred&limit=100   queue entries, oldest first
    GET  /admin/queue/{message}                    one message (queue id or internetMessageId) and its recipients
    GET  /admin/queue/{message}/mime               the message as relayed (or captured), message/rfc822
    POST /admin/queue/{key}/retry                  make a message's (or one entry's) deferred/failed/captured
                                                   recipients due now
    GET  /admin/subscriptions                      change-notification subscriptions and the outbox counts
                                                   ({"pending", "failed"}) of notifications (issue 12)
    GET  /admin/subscriptions/{id}                 one subscription
    DELETE /admin/subscriptions/{id}               remove it (subscriptionRemoved goes to its lifecycle URL)

Every request needs `Authorization: Bearer <admin token>` (`--admin-token`, or the token generated
into the data directory and printed at start-up). Graph tokens are not accepted here: the queue spans
all mailboxes, which no Graph permission grants. Errors use Graph's error shape.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote

import orjson

from mailgraph.api.errors import error_body
from mailgraph.api.http import JSON_TYPE, Request, Response
from mailgraph.delivery.queue import STATUSES, QueueAdmin
from mailgraph.delivery.subscriptions_admin import SubscriptionAdmin
from mailgraph.domain.model import SECOND, QueueEntry, QueueStatus, Timestamp
from mailgraph.domain.subscriptions import Subscription, graph_time


def _time(ts: Timestamp | None) -> str | None:
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
        "nextAttemptDateTime": _time(e.next_attempt_at) if e.status in ("queued", "deferred") else None,
        "lastReply": None
        if e.last_reply_code is None and not e.last_reply_text
        else {"code": e.last_reply_code, "text": e.last_reply_text},
        "expirationDateTime": _time(e.expires_at),
        "createdDateTime": _time(e.created_at),
    }


class AdminApi:
    """Handles `/admin/…` requests with the admin bearer token."""

    def __init__(self, queue: QueueAdmin, token: str, subscriptions: SubscriptionAdmin | None = None) -> None:
        self._queue = queue
        self._token = token.encode()
        self._subscriptions = subscriptions

    async def __call__(self, req: Request) -> Response:
        """Authenticate, then route; every failure is a JSON error with the right status."""
        scheme, _, given = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self._token):
            return self._error(
                req, 401, "InvalidAuthenticationToken", "The admin endpoint needs the admin bearer token.",
                [(b"www-authenticate", b'Bearer realm="mailgraph-admin"')],
            )  # fmt: skip
        parts = [unquote(p) for p in req.raw_path.decode("latin-1").split("/") if p]
        rest = parts[2:]
        if parts[:2] == ["admin", "subscriptions"] and self._subscriptions is not None and len(rest) <= 1:
            return await self._subscription(req, self._subscriptions, rest)
        if parts[:2] != ["admin", "queue"] or not (
            len(rest) <= 1 or (len(rest) == 2 and rest[1] in ("mime", "retry"))
        ):
            return self._error(req, 404, "ResourceNotFound", "No such admin resource.")
        method = req.method
        if not rest and method == "GET":
            return await self._list(req)
        if len(rest) == 1 and method == "GET":
            return await self._show(req, rest[0])
        if len(rest) == 2 and rest[1] == "mime" and method == "GET":
            mime = await self._queue.mime(rest[0])
            if mime is None:
                return self._error(req, 404, "ErrorItemNotFound", f"No queued message {rest[0]!r}.")
            return Response(200, mime, b"message/rfc822")
        if len(rest) == 2 and rest[1] == "retry" and method == "POST":
            count = await self._queue.retry(("deferred", "failed", "captured"), [rest[0]])
            if count == 0:
                return self._error(req, 404, "ErrorItemNotFound", f"Nothing to retry for {rest[0]!r}.")
            return self._json({"retried": count})
        return self._error(req, 405, "BadRequest", f"The HTTP method '{method}' is not allowed here.")

    async def _list(self, req: Request) -> Response:
        query = dict(parse_qsl(req.query, keep_blank_values=True))
        status = query.get("status") or None
        if status is not None and status not in STATUSES:
            return self._error(req, 400, "BadRequest", f"status must be one of {', '.join(STATUSES)}.")
        try:
            limit = int(query.get("limit", "100"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 10_000:
            return self._error(req, 400, "BadRequest", "limit must be an integer from 1 to 10000.")
        typed: QueueStatus | None = next((s for s in STATUSES if s == status), None)
        entries = await self._queue.list(typed, limit)
        return self._json({"value": [entry_json(e) for e in entries]})

    async def _show(self, req: Request, key: str) -> Response:
        queued = await self._queue.show(key)
        if queued is None:
            return self._error(req, 404, "ErrorItemNotFound", f"No queued message {key!r}.")
        m = queued.message
        sender = m.from_ or m.sender
        return self._json(
            {
                "messageId": queued.outbound_id,
                "internetMessageId": m.internet_message_id,
                "subject": m.subject,
                "from": sender.address if sender else None,
                "sentDateTime": _time(m.sent_at),
                "recipients": [entry_json(e) for e in queued.entries],
            }
        )

    async def _subscription(self, req: Request, admin: SubscriptionAdmin, rest: list[str]) -> Response:
        if not rest and req.method == "GET":
            subs, counts = await admin.list_all(), await admin.counts()
            return self._json({"notifications": counts, "value": [subscription_admin_json(s) for s in subs]})
        if rest and req.method == "GET":
            sub = await admin.show(rest[0])
            if sub is None:
                return self._error(req, 404, "ResourceNotFound", f"No subscription {rest[0]!r}.")
            return self._json(subscription_admin_json(sub))
        if rest and req.method == "DELETE":
            if not await admin.delete(rest[0]):
                return self._error(req, 404, "ResourceNotFound", f"No subscription {rest[0]!r}.")
            return Response(204)
        return self._error(req, 405, "BadRequest", f"The HTTP method '{req.method}' is not allowed here.")

    @staticmethod
    def _json(payload: object, status: int = 200) -> Response:
        return Response(status, orjson.dumps(payload), JSON_TYPE)

    @staticmethod
    def _error(
        req: Request, status: int, code: str, message: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> Response:
        body = error_body(code, message, req.request_id, req.client_request_id)
        return Response(status, body, JSON_TYPE, headers or [])


def subscription_admin_json(s: Subscription) -> dict[str, object]:
    """A subscription as operators see it (also `mailgraph subscriptions show`)."""
    return {
        "id": s.id,
        "tenantId": s.tenant_id,
        "mailboxId": s.mailbox_id,
        "applicationId": s.app_id,
        "creatorId": s.creator_id,
        "resource": s.resource,
        "changeType": ",".join(s.change_types),
        "notificationUrl": s.notification_url,
        "lifecycleNotificationUrl": s.lifecycle_url,
        "includeResourceData": s.include_resource_data,
        "expirationDateTime": graph_time(s.expires_at),
        "createdDateTime": graph_time(s.created_at),
    }
