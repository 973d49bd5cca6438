"""The admin JSON endpoint, outside the Graph namespace: what happened to sent mail (docs/delivery.md).

    GET  /admin/queue?status=deferred&limit=100   queue entries, oldest first
    GET  /admin/queue/{message}                    one message (queue id or internetMessageId) and its recipients
    GET  /admin/queue/{message}/mime               the message as relayed (or captured), message/rfc822
    POST /admin/queue/{key}/retry                  make a message's (or one entry's) deferred/failed/captured
                                                   recipients due now
    GET  /admin/subscriptions                      every subscription, and the notification outbox counts
    GET|DELETE /admin/subscriptions/{id}           one subscription (issue 12)

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

import orjson

from mailgraph.api.describe import PathOp
from mailgraph.api.errors import error_body
from mailgraph.api.http import JSON_TYPE, Request, Response
from mailgraph.delivery.subscriptions_admin import SubscriptionAdmin
from mailgraph.domain.model import SECOND, QueueEntry, Timestamp
from mailgraph.domain.subscriptions import Subscription, graph_time

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

    def __init__(
        self, control: ControlApi, token: str, subscriptions: SubscriptionAdmin | None = None
    ) -> None:
        self._control = control
        self._token = token.encode()
        self._subscriptions = subscriptions

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
        rest = list(parts[2:])
        if list(parts[1:2]) == ["subscriptions"] and self._subscriptions is not None and len(rest) <= 1:
            return await self._subscription(req, self._subscriptions, rest)
        if list(parts[1:2]) != ["queue"]:
            return self._error(req, 404, "ResourceNotFound", "No such admin resource.")
        return await self._control.dispatch(req, parts[1:])

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

    def describe(self) -> list[PathOp]:
        """`/openapi.json` operations: the control API's queue routes under `/admin`, and subscriptions."""
        ops = self._control.describe("admin/queue", only="queue")
        if self._subscriptions is not None:
            one = "/admin/subscriptions/{subscription-id}"
            ops += [
                PathOp("GET", "/admin/subscriptions", "Every subscription and the outbox counts", "admin"),
                PathOp("GET", one, "One subscription", "admin"),
                PathOp("DELETE", one, "Delete a subscription", "admin", responses=(204,)),
            ]
        return ops

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
