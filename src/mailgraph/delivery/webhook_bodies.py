"""The JSON bodies the notification worker POSTs: Graph's `{"value": [...]}` of change and lifecycle items.

Two ways to one shape (docs/change-tracking.md, "Delivery"):

- `item` builds one change item as a dict (and encrypts resource data for rich subscriptions);
- `Bodies` builds the items of a `fanout` row — one change for many subscriptions — from bytes
  templates: the part of an item that depends on the subscription (id, expiration, clientState,
  tenant) is serialised once per subscription, the part that depends on the change (changeType,
  resource, resourceData) once per change, and each item is their concatenation. The bytes are exactly
  `orjson.dumps(item(...))` (tests/webhooks/test_outbox_unit.py checks it); a send to a mailbox with
  100 subscriptions costs 100 concatenations instead of 100 dicts serialised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import orjson
from cryptography import x509

from mailgraph.auth.keyring import KeyRing
from mailgraph.delivery import rich
from mailgraph.domain.model import Message
from mailgraph.domain.subscriptions import Notification, Subscription, graph_time

Render = Callable[[Message, tuple[str, ...], str], dict[str, Any]]
"""A message as Graph JSON with `$select` for a version (api/serialize, injected by wiring)."""


def lifecycle_item(row: Notification) -> dict[str, Any]:
    """A lifecycle event (reauthorizationRequired, subscriptionRemoved, missed)."""
    return {
        "subscriptionId": row.subscription_id,
        "subscriptionExpirationDateTime": graph_time(row.subscription_expires_at),
        "tenantId": row.tenant_id,
        "clientState": row.client_state,
        "lifecycleEvent": row.event,
    }


def _resource(row: Notification, message: Message | None) -> dict[str, Any]:
    resource = f"Users/{row.mailbox_id}/Messages/{row.resource_id}"
    data: dict[str, Any] = {"@odata.type": "#Microsoft.Graph.Message", "@odata.id": resource}
    if message is not None:
        data["@odata.etag"] = f'W/"{message.change_key}"'
    data["id"] = row.resource_id
    return {"resource": resource, "resourceData": data}


class Bodies:
    """Builds notification bodies; remembers parsed encryption certificates."""

    def __init__(self, keyring: KeyRing | None, render: Render) -> None:
        self._keyring = keyring
        self._render = render
        self._certs: dict[str, x509.Certificate] = {}

    def item(self, row: Notification, sub: Subscription, message: Message | None) -> dict[str, Any]:
        """One change item (`encryptedContent` for rich subscriptions). Raises on a bad certificate."""
        item: dict[str, Any] = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": graph_time(sub.expires_at),
            "changeType": row.event,
            "clientState": sub.client_state,
            "tenantId": sub.tenant_id,
            **_resource(row, message),
        }
        if sub.include_resource_data and message is not None and row.event != "deleted":
            shown = replace(message, rest_id=row.resource_id)
            plain = orjson.dumps(self._render(shown, sub.select, sub.version))
            item["encryptedContent"] = rich.encrypt(
                self._certificate(sub), sub.encryption_certificate_id or "", plain
            )
        return item

    def body(self, items: Sequence[bytes], tokens: Sequence[tuple[str, str]]) -> bytes:
        """`{"value": [...]}` of serialised items, with `validationTokens` for the (tenant, app) pairs
        that got resource data."""
        tail = b"]}"
        if tokens and self._keyring is not None:
            now_s = int(time.time())
            signed = [rich.validation_token(self._keyring, tenant, app, now_s) for tenant, app in tokens]
            tail = b'],"validationTokens":' + orjson.dumps(signed) + b"}"
        return b'{"value":[' + b",".join(items) + tail

    def fanout(self) -> FanoutItems:
        """A template cache for the fanout rows of one job."""
        return FanoutItems(self)

    def _certificate(self, sub: Subscription) -> x509.Certificate:
        text = sub.encryption_certificate or ""
        cert = self._certs.get(text)
        if cert is None:
            cert = self._certs[text] = rich.load_certificate(text)
        return cert


class FanoutItems:
    """Serialised change items of fanout rows, from per-subscription and per-change templates."""

    __slots__ = ("_bodies", "_changes", "_subs")

    def __init__(self, bodies: Bodies) -> None:
        self._bodies = bodies
        self._subs: dict[str, tuple[bytes, bytes]] = {}
        self._changes: dict[str, tuple[bytes, bytes]] = {}

    def item(self, row: Notification, sub: Subscription, message: Message | None) -> bytes:
        """`orjson.dumps(Bodies.item(row, sub, message))`, cheaply for plain subscriptions."""
        if sub.include_resource_data:
            return orjson.dumps(self._bodies.item(row, sub, message))
        head = self._subs.get(sub.id)
        if head is None:
            first = orjson.dumps(
                {"subscriptionId": sub.id, "subscriptionExpirationDateTime": graph_time(sub.expires_at)}
            )
            middle = orjson.dumps({"clientState": sub.client_state, "tenantId": sub.tenant_id})
            head = self._subs[sub.id] = (first[:-1], b"," + middle[1:-1])
        change = self._changes.get(row.id)
        if change is None:
            change = self._changes[row.id] = (
                b',"changeType":' + orjson.dumps(row.event),
                b"," + orjson.dumps(_resource(row, message))[1:],
            )
        return head[0] + change[0] + head[1] + change[1]
