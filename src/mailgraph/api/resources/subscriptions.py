"""`/subscriptions` (root routes, v1.0 and beta): create, list, get, renew (PATCH), delete, reauthorize.

Spec §2.15. The create answers 201 only after the validation handshake succeeded (domain/webhooks.py);
errors are 400 `InvalidRequest` with Graph's messages (api/errors.py maps the domain errors).
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from typing import Any

import orjson

from mailgraph.api.context import Ctx, json_response, no_content
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.router import Match
from mailgraph.api.serialize.values import read_json
from mailgraph.domain.model import SECOND, Timestamp
from mailgraph.domain.subscriptions import Subscription, SubscriptionError, graph_time
from mailgraph.domain.webhooks import NewSubscription, SubscriptionService

_FRACTION = re.compile(r"(\.\d{1,6})\d*")
_WRITABLE = frozenset(
    {
        "@odata.type", "changeType", "notificationUrl", "lifecycleNotificationUrl", "resource",
        "expirationDateTime", "clientState", "includeResourceData", "encryptionCertificate",
        "encryptionCertificateId", "latestSupportedTlsVersion", "notificationUrlAppId",
        "notificationQueryOptions",
    }
)  # fmt: skip


def subscription_json(s: Subscription) -> dict[str, Any]:
    """A subscription as Graph returns it."""
    return {
        "id": s.id,
        "resource": s.resource,
        "applicationId": s.app_id,
        "changeType": ",".join(s.change_types),
        "clientState": s.client_state,
        "notificationUrl": s.notification_url,
        "notificationQueryOptions": None,
        "lifecycleNotificationUrl": s.lifecycle_url,
        "expirationDateTime": graph_time(s.expires_at),
        "creatorId": s.creator_id,
        "includeResourceData": s.include_resource_data,
        "latestSupportedTlsVersion": "v1_2",
        "encryptionCertificate": s.encryption_certificate,
        "encryptionCertificateId": s.encryption_certificate_id,
        "notificationUrlAppId": None,
    }


def _service(ctx: Ctx) -> SubscriptionService:
    service = ctx.services.subscriptions
    if service is None:  # pragma: no cover - wiring always sets it
        raise GraphError(501, "NotImplemented", "Change notifications are not enabled on this server.")
    return service


def _time(value: object) -> Timestamp | None:
    """An ISO 8601 DateTimeOffset (Graph writes 7 fraction digits) as a Timestamp; None if absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SubscriptionError("expirationDateTime must be a DateTimeOffset string.")
    text = _FRACTION.sub(r"\1", value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise SubscriptionError(f"Cannot convert '{value}' to a DateTimeOffset.") from None
    if parsed.tzinfo is None:
        raise SubscriptionError("expirationDateTime must carry a time zone offset.")
    return round(parsed.timestamp() * SECOND)


def token_expiry(req: Request) -> Timestamp:
    """The `exp` of the (already verified) bearer token: the lifecycle reminder's deadline."""
    token = req.headers.get("authorization", "").partition(" ")[2].strip()
    try:
        payload = token.split(".")[1]
        exp = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
        return int(exp) * SECOND
    except (IndexError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise GraphError(401, "InvalidAuthenticationToken", "Access token has no expiry.") from None


def _boolean(value: object, prop: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise SubscriptionError(f"{prop} must be a Boolean.")
    return value


async def create(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST /subscriptions: 201 after the handshake(s)."""
    data = read_json(req, required=True) or {}
    unknown = [k for k in data if k not in _WRITABLE and not k.startswith("@")]
    if unknown:
        raise GraphError(
            400,
            "BadRequest",
            f"The property '{unknown[0]}' does not exist on type 'microsoft.graph.subscription'.",
        )
    new = NewSubscription(
        change_type=data.get("changeType"),
        notification_url=data.get("notificationUrl"),
        resource=data.get("resource"),
        expiration=_time(data.get("expirationDateTime")),
        client_state=data.get("clientState"),
        lifecycle_url=data.get("lifecycleNotificationUrl"),
        include_resource_data=_boolean(data.get("includeResourceData"), "includeResourceData"),
        encryption_certificate=data.get("encryptionCertificate"),
        encryption_certificate_id=data.get("encryptionCertificateId"),
        immutable_ids=ctx.prefer.immutable_ids,
        version=m.version,
    )
    if new.immutable_ids:
        ctx.apply('IdType="ImmutableId"')
    sub = await _service(ctx).create(ctx.actor, token_expiry(req), new)
    body = {"@odata.context": ctx.context("subscriptions/$entity"), **subscription_json(sub)}
    return json_response(body, 201)


async def list_subscriptions(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET /subscriptions: the caller's live subscriptions."""
    subs = await _service(ctx).list_visible(ctx.actor)
    return json_response(
        {"@odata.context": ctx.context("subscriptions"), "value": [subscription_json(s) for s in subs]}
    )


async def get(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET /subscriptions/{id}."""
    sub = await _service(ctx).get(ctx.actor, m.keys[0])
    return json_response({"@odata.context": ctx.context("subscriptions/$entity"), **subscription_json(sub)})


async def update(req: Request, ctx: Ctx, m: Match) -> Response:
    """PATCH /subscriptions/{id}: renew (expirationDateTime); the lifecycle URL cannot change."""
    data = read_json(req, required=True) or {}
    if "lifecycleNotificationUrl" in data:
        raise SubscriptionError("lifecycleNotificationUrl can only be set when the subscription is created.")
    other = [k for k in data if k not in ("expirationDateTime", "@odata.type")]
    if other:
        raise SubscriptionError(f"The property '{other[0]}' cannot be updated on a subscription here.")
    sub = await _service(ctx).renew(
        ctx.actor, m.keys[0], _time(data.get("expirationDateTime")), token_expiry(req)
    )
    return json_response({"@odata.context": ctx.context("subscriptions/$entity"), **subscription_json(sub)})


async def delete(req: Request, ctx: Ctx, m: Match) -> Response:
    """DELETE /subscriptions/{id}: 204."""
    await _service(ctx).delete(ctx.actor, m.keys[0])
    return no_content()


async def reauthorize(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST /subscriptions/{id}/reauthorize: 204 (subscription-reauthorize.md)."""
    await _service(ctx).reauthorize(ctx.actor, m.keys[0], token_expiry(req))
    return no_content()
