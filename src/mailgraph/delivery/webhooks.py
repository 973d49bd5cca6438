"""The notification worker: drains the notification outbox to the subscribers' URLs after commit.

Built on the generic leased-queue runner (delivery/runner.py), like the SMTP relay:

1. `claim` — one unit of work: removes expired subscriptions (they stop), queues the
   `reauthorizationRequired` reminders that came due, leases due outbox rows, and loads what their
   bodies need (the subscription; the message for its etag and, for rich notifications, its data);
2. `handle` — per notification URL, POSTs `{"value": [...]}` batches (lifecycle events go to the
   lifecycle URL the same way); 2xx within 3 s is delivered, anything else is retried on the back-off
   schedule until `max_age_s` (Graph: 4 h) after the change, then dropped with a `missed` lifecycle
   event; then one unit records the outcome under the lease.

Receivers never slow a send: units only insert outbox rows; this worker runs on its own task and
wakes when a committed unit notified something (`on_commit`, an `AfterCommit` subscriber).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from cryptography import x509

from mailgraph.auth.keyring import KeyRing
from mailgraph.delivery import rich
from mailgraph.delivery.runner import Claimed, LeasedQueueRunner, RunnerConfig
from mailgraph.delivery.webhook_http import WebhookHttp
from mailgraph.domain.changes import Commit
from mailgraph.domain.model import SECOND, Message, Timestamp
from mailgraph.domain.ports import Tx, UnitOfWork
from mailgraph.domain.subscriptions import Notification, Subscription, graph_time
from mailgraph.domain.webhooks import WebhookPolicy, expand, lifecycle

log = logging.getLogger("mailgraph.webhooks")
Render = Callable[[Message, tuple[str, ...], str], dict[str, Any]]
"""A message as Graph JSON with `$select` for a version (api/serialize, injected by wiring)."""
DEFAULT_SCHEDULE: tuple[float, ...] = (10.0, 60.0, 300.0, 600.0)
"""Seconds to wait after the 1st, 2nd, … failed attempt; the last repeats (Graph: about 10 minutes)."""


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Tuning of the notification worker."""

    concurrency: int = 8  # POSTs in flight
    poll_s: float = 1.0
    lease_s: float = 60.0
    claim: int = 1000  # outbox rows leased per cycle
    batch: int = 100  # notifications per POST
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    max_age_s: float = 4 * 3600.0  # Graph retries for up to 4 hours, then drops


@dataclass(slots=True)
class _Batch:
    """One job: the due notifications to one URL (one or more POSTs of `batch` items)."""

    url: str
    rows: list[Notification]
    subs: dict[str, Subscription | None]
    messages: dict[str, Message | None]
    bodies: list[tuple[list[Notification], bytes]] = field(default_factory=list)


class NotificationWorker(LeasedQueueRunner[_Batch]):
    """Drains the notification outbox."""

    name = "mailgraph-webhooks"

    def __init__(
        self,
        uow: UnitOfWork,
        clock: Callable[[], Timestamp],
        http: WebhookHttp,
        keyring: KeyRing | None,
        render: Render,
        config: WebhookConfig | None = None,
        policy: WebhookPolicy | None = None,
    ) -> None:
        self.config = config or WebhookConfig()
        super().__init__(
            clock, RunnerConfig(self.config.concurrency, self.config.poll_s, self.config.lease_s)
        )
        self._uow = uow
        self.http = http
        self._keyring = keyring
        self._render = render
        self._policy = policy or WebhookPolicy()
        self._certs: dict[str, x509.Certificate] = {}

    def on_commit(self, commit: Commit) -> None:
        """`AfterCommit` subscriber: a unit that wrote notifications wakes the worker."""
        if commit.notified:
            self.wake()

    async def closing(self) -> None:
        """Close the pooled HTTP connections."""
        await self.http.close()

    async def claim(self, now: Timestamp, lease_until: Timestamp) -> Claimed[_Batch]:
        """Housekeeping, then lease due rows and load what their bodies need."""
        lead = round(self._policy.reauth_lead_s * SECOND)

        async def unit(
            tx: Tx,
        ) -> tuple[list[Notification], dict[str, Subscription | None], dict[str, Message | None]]:
            for gone in await tx.subscriptions.expired(now, 100):
                await tx.subscriptions.delete(gone.id)  # expired subscriptions stop (Graph sends nothing)
            reminders: list[Notification] = []
            for sub in await tx.subscriptions.reauth_due(now, 100):
                event = lifecycle(sub, "reauthorizationRequired", now)
                if event is not None:
                    reminders.append(event)
                await tx.subscriptions.set_reauth(sub.id, now + lead)
            if reminders:
                await tx.subscriptions.enqueue(reminders)
            claimed = await tx.subscriptions.claim(now, lease_until, self.config.claim)
            subs: dict[str, Subscription | None] = {}
            rows: list[Notification] = []
            fanned: list[str] = []
            for row in claimed:
                if row.kind != "fanout":
                    rows.append(row)
                    continue
                for sub_id in row.subscription_id.split(","):  # one change row per subscription
                    if sub_id not in subs:
                        subs[sub_id] = await tx.subscriptions.get(sub_id)
                expanded = expand(row, subs)
                await tx.subscriptions.enqueue(expanded, lease_until)
                rows += expanded
                fanned.append(row.id)
            await tx.subscriptions.delivered(fanned, lease_until)
            messages: dict[str, Message | None] = {}
            for row in rows:
                if row.kind != "change":
                    continue
                if row.subscription_id not in subs:
                    subs[row.subscription_id] = await tx.subscriptions.get(row.subscription_id)
                if row.event != "deleted" and row.item_id not in messages:
                    messages[row.item_id] = await tx.messages.get_immutable(row.mailbox_id, row.item_id)
            return rows, subs, messages

        rows, subs, messages = await self._uow.write(unit)
        by_url: dict[str, _Batch] = {}
        for row in rows:
            by_url.setdefault(row.url, _Batch(row.url, [], subs, messages)).rows.append(row)
        return Claimed(list(by_url.values()), len(rows))

    async def handle(self, job: _Batch, lease_until: Timestamp) -> None:
        """POST the batch in chunks; record delivered, retried, dropped (+ `missed`) under the lease."""
        orphans = [r for r in job.rows if r.kind == "change" and job.subs.get(r.subscription_id) is None]
        live = [r for r in job.rows if r not in orphans]  # a deleted subscription's notifications go
        delivered: list[str] = [r.id for r in orphans]
        failed: list[tuple[Notification, str]] = []
        size = self.config.batch
        for start in range(0, len(live), size):
            chunk = live[start : start + size]
            try:
                body = self._body(chunk, job)
            except Exception:  # a body we cannot build (bad certificate) fails now, not every lease
                log.exception("cannot build notifications for %s", job.url)
                failed += [(r, "the notification could not be built") for r in chunk]
                continue
            error = await self.http.post(job.url, body)
            if error is None:
                delivered += [r.id for r in chunk]
            else:
                log.info("notification POST to %s failed: %s", job.url, error)
                failed += [(r, error) for r in chunk]
        await self._record(delivered, failed, job, lease_until)

    def _body(self, rows: Sequence[Notification], job: _Batch) -> bytes:
        items: list[dict[str, Any]] = []
        tokens: dict[tuple[str, str], None] = {}
        for row in rows:
            if row.kind == "lifecycle":
                items.append(
                    {
                        "subscriptionId": row.subscription_id,
                        "subscriptionExpirationDateTime": graph_time(row.subscription_expires_at),
                        "tenantId": row.tenant_id,
                        "clientState": row.client_state,
                        "lifecycleEvent": row.event,
                    }
                )
                continue
            sub = job.subs[row.subscription_id]
            assert sub is not None  # orphans were set aside
            message = job.messages.get(row.item_id)
            resource = f"Users/{row.mailbox_id}/Messages/{row.resource_id}"
            data: dict[str, Any] = {"@odata.type": "#Microsoft.Graph.Message", "@odata.id": resource}
            if message is not None:
                data["@odata.etag"] = f'W/"{message.change_key}"'
            data["id"] = row.resource_id
            item: dict[str, Any] = {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": graph_time(sub.expires_at),
                "changeType": row.event,
                "clientState": sub.client_state,
                "tenantId": sub.tenant_id,
                "resource": resource,
                "resourceData": data,
            }
            if sub.include_resource_data and message is not None and row.event != "deleted":
                shown = replace(message, rest_id=row.resource_id)
                plain = orjson.dumps(self._render(shown, sub.select, sub.version))
                item["encryptedContent"] = rich.encrypt(
                    self._certificate(sub), sub.encryption_certificate_id or "", plain
                )
                tokens[(sub.tenant_id, sub.app_id)] = None
            items.append(item)
        payload: dict[str, Any] = {"value": items}
        if tokens and self._keyring is not None:
            now_s = int(time.time())
            payload["validationTokens"] = [
                rich.validation_token(self._keyring, tenant, app, now_s) for tenant, app in tokens
            ]
        return orjson.dumps(payload)

    def _certificate(self, sub: Subscription) -> x509.Certificate:
        text = sub.encryption_certificate or ""
        cert = self._certs.get(text)
        if cert is None:
            cert = self._certs[text] = rich.load_certificate(text)
        return cert

    def _next_at(self, attempts: int, now: Timestamp) -> Timestamp:
        schedule = self.config.schedule
        return now + round(schedule[min(attempts, len(schedule) - 1)] * SECOND)

    async def _record(
        self,
        delivered: list[str],
        failed: list[tuple[Notification, str]],
        job: _Batch,
        lease: Timestamp,
    ) -> None:
        now = self._clock()
        max_age = round(self.config.max_age_s * SECOND)
        retry: dict[Timestamp, list[str]] = {}
        dropped: list[Notification] = []
        for row, _ in failed:
            next_at = self._next_at(row.attempts, now)
            if next_at - row.created_at > max_age:
                dropped.append(row)
            else:
                retry.setdefault(next_at, []).append(row.id)
        error = failed[0][1][:500] if failed else ""

        async def unit(tx: Tx) -> None:
            await tx.subscriptions.delivered(delivered, lease)
            for next_at, ids in retry.items():
                await tx.subscriptions.retry(ids, lease, next_at, error)
            if dropped and await tx.subscriptions.give_up([r.id for r in dropped], lease, error):
                missed = []
                for sub_id in dict.fromkeys(r.subscription_id for r in dropped if r.kind == "change"):
                    sub = job.subs.get(sub_id)
                    event = None if sub is None else lifecycle(sub, "missed", now)
                    if event is not None:
                        missed.append(event)
                if missed:
                    await tx.subscriptions.enqueue(missed)

        await self._uow.write(unit)
        if dropped:
            log.warning("dropped %d notification(s) to %s after %s", len(dropped), job.url, error)
