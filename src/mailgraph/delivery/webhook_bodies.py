"""The JSON bodies the notification worker POSTs: Graph's `{"value": [...]}` of change and lifecycle items.

Two ways to one shape (docs/change-tracking.md, "Delivery"):

- `item` builds one change item as a dict (and encrypts resource data for rich subscriptions);
- `FanoutItems` builds the items of a `fanout` row — one change for many subscriptions — from bytes
  templates: the leading part of an item, which depends only on the subscription (id, expiration,
  clientState, tenant), is serialised once per subscription; the trailing part, which depends only on
  the change (changeType, resource, resourceData), once per change; the items of N subscriptions are
  then one `bytes.join` (`(tail + b",").join(heads) + tail`). The bytes are exactly those of
  `orjson.dumps(item(...))` (tests/webhooks/test_outbox_unit.py checks it). Hence the key order:
  subscription keys first (JSON objects are unordered; Graph's own samples vary).
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


def _resource(row: Notification, etag: str | None) -> dict[str, Any]:
    resource = f"Users/{row.mailbox_id}/Messages/{row.resource_id}"
    data: dict[str, Any] = {"@odata.type": "#Microsoft.Graph.Message", "@odata.id": resource}
    if etag is not None:
        data["@odata.etag"] = f'W/"{etag}"'
    data["id"] = row.resource_id
    return {"resource": resource, "resourceData": data}


class Bodies:
    """Builds notification bodies; remembers parsed encryption certificates."""

    def __init__(self, keyring: KeyRing | None, render: Render) -> None:
        self._keyring = keyring
        self._render = render
        self._certs: dict[str, x509.Certificate] = {}

    def item(
        self, row: Notification, sub: Subscription, message: Message | None, etag: str | None = None
    ) -> dict[str, Any]:
        """One change item (`encryptedContent` for rich subscriptions, which need `message`; the
        others only its changeKey, `etag`). Raises on a bad certificate."""
        item: dict[str, Any] = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": graph_time(sub.expires_at),
            "clientState": sub.client_state,
            "tenantId": sub.tenant_id,
            "changeType": row.event,
            **_resource(row, message.change_key if message is not None else etag),
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
        pieces = [b'{"value":[']  # one copy of the (large) items: a single join
        for item in items:
            pieces += (item, b",")
        pieces[-1 if items else len(pieces) :] = [tail]
        return b"".join(pieces)

    def fanout(self) -> FanoutItems:
        """A template cache for fanout rows (one per version of the subscription sets in use)."""
        return FanoutItems(self)

    def _certificate(self, sub: Subscription) -> x509.Certificate:
        text = sub.encryption_certificate or ""
        cert = self._certs.get(text)
        if cert is None:
            cert = self._certs[text] = rich.load_certificate(text)
        return cert


class FanoutItems:
    """Serialised change items of fanout rows, from per-subscription and per-change templates."""

    __slots__ = ("_bodies", "_changes", "_groups", "_subs")

    def __init__(self, bodies: Bodies) -> None:
        self._bodies = bodies
        self._subs: dict[str, bytes] = {}
        self._changes: dict[str, bytes] = {}
        # Per subscription list (the same list object for every change of one job's fanout rows to one
        # URL; kept referenced here so its id stays its own): its plain heads, its rich subscriptions.
        self._groups: dict[int, tuple[Sequence[Subscription], list[bytes], list[Subscription]]] = {}

    def new_job(self) -> None:
        """Forget the change templates of the last job (the subscription templates stay: the worker
        makes a new `FanoutItems` when a subscription set changes)."""
        self._changes.clear()
        if len(self._groups) > 256:  # slices of long lists are new objects per job: bounded
            self._groups.clear()

    def items(
        self, row: Notification, subs: Sequence[Subscription], message: Message | None, etag: str | None
    ) -> bytes:
        """The comma-separated items of one change for these subscriptions; each exactly
        `orjson.dumps(Bodies.item(row, sub, message, etag))`."""
        tail = self._changes.get(row.id)
        if tail is None:
            shown = message.change_key if message is not None else etag
            tail = self._changes[row.id] = (
                b',"changeType":' + orjson.dumps(row.event) + b"," + orjson.dumps(_resource(row, shown))[1:]
            )
        group = self._groups.get(id(subs))
        if group is None:
            group = self._groups[id(subs)] = (subs, *self._split(subs))
        _, heads, rich = group
        # Rich items are encrypted one by one (the dict path); plain ones are one join for all.
        parts = [orjson.dumps(self._bodies.item(row, sub, message, etag)) for sub in rich]
        if heads:  # `head,tail` items comma-joined, in one copy (the last head takes the tail first)
            parts.append((tail + b",").join([*heads[:-1], heads[-1] + tail]))
        return b",".join(parts)

    def _split(self, subs: Sequence[Subscription]) -> tuple[list[bytes], list[Subscription]]:
        heads: list[bytes] = []
        rich: list[Subscription] = []
        known = self._subs
        for sub in subs:
            if sub.include_resource_data:
                rich.append(sub)
                continue
            head = known.get(sub.id)
            if head is None:
                head = known[sub.id] = orjson.dumps(
                    {
                        "subscriptionId": sub.id,
                        "subscriptionExpirationDateTime": graph_time(sub.expires_at),
                        "clientState": sub.client_state,
                        "tenantId": sub.tenant_id,
                    }
                )[:-1]
            heads.append(head)
        return heads, rich
