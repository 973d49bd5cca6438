"""The notification worker: drains the notification outbox to the subscribers' URLs after commit.

Built on the generic leased-queue runner (delivery/runner.py), like the SMTP relay:

1. `claim` — one unit of work: removes expired subscriptions (they stop), queues the
   `reauthorizationRequired` reminders that came due, leases due outbox rows, and loads what their
   bodies need (the subscription sets, by version; the items' changeKeys for their etags, in one
   statement per mailbox — the whole message only where a rich subscription encrypts it);
2. `handle` — POSTs `{"value": [...]}` batches per notification URL and tenant (lifecycle events go to
   the lifecycle URL the same way); 2xx within 3 s delivers every item of the POST, anything else
   retries every item of it on the back-off schedule until `max_age_s` (Graph: 4 h) after the change,
   then drops it with a `missed` lifecycle event; then one unit records the outcome under the lease.

A `fanout` row (one change for many subscriptions, written by the send) is delivered straight from
that row: its notifications go into the batches of their URLs (with those of the other rows of the
claim: several changes per POST), and when every POST succeeded the row is simply deleted. Only the subscriptions whose POST failed get a row of their own (`change`, one per
subscription, in the recording unit), which then follows the retry schedule. So the common case costs
one outbox row per change whatever the number of subscriptions.

Receivers never slow a send: units only insert outbox rows; this worker runs on its own task and
wakes when a committed unit notified something (`on_commit`, an `AfterCommit` subscriber).

The worker's own units (claim, record, retry) are written with `durable=False` (`UnitOfWork.write`):
committed in order like every unit, but not synced to disk on their own — the next durable commit (a
send) or the store's checkpoint syncs them. What a power cut could undo is only the worker's
bookkeeping, never a notification: a lost lease is claimed again, a lost "delivered" sends that
notification again (delivery is at-least-once already: a crash before the outcome is recorded does the
same, docs/change-tracking.md), a lost retry time retries sooner. The rows themselves are
written by the sending units, durably. Before, each claim of a busy worker was a commit of its own with
its own fsync between the sends' group commits (docs/performance.md, "The PostgreSQL floor on this
machine; the notification worker's units").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from mailgraph.auth.keyring import KeyRing
from mailgraph.delivery.runner import Claimed, LeasedQueueRunner, RunnerConfig
from mailgraph.delivery.webhook_bodies import Bodies, Render, lifecycle_item
from mailgraph.delivery.webhook_http import WebhookHttp
from mailgraph.domain.changes import Commit
from mailgraph.domain.model import SECOND, Message, Timestamp
from mailgraph.domain.ports import Tx, UnitOfWork
from mailgraph.domain.subscriptions import Notification, Subscription, in_fanout, parse_fanout_ref
from mailgraph.domain.webhooks import WebhookPolicy, expand, lifecycle

__all__ = ["DEFAULT_SCHEDULE", "NotificationWorker", "Render", "WebhookConfig"]
log = logging.getLogger("mailgraph.webhooks")
DEFAULT_SCHEDULE: tuple[float, ...] = (10.0, 60.0, 300.0, 600.0)
"""Seconds to wait after the 1st, 2nd, … failed attempt; the last repeats (Graph: about 10 minutes)."""
_UNBUILT = "the notification could not be built"


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Tuning of the notification worker."""

    concurrency: int = 8  # POSTs in flight
    poll_s: float = 1.0
    lease_s: float = 60.0
    claim: int = 200  # outbox rows leased per cycle (a fanout row may stand for up to 1,000 notifications)
    # Notifications per POST (of one URL and tenant). Graph documents no maximum; 1,000 plain items are
    # ~650 kB. Per POST the worker pays a request, a response and the receiver's per-request work, so
    # the notifications of several changes share one (bench/README.md "Notifications").
    batch: int = 1000
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    max_age_s: float = 4 * 3600.0  # Graph retries for up to 4 hours, then drops


@dataclass(slots=True)
class _Batch:
    """One job: due `change`/`lifecycle` rows to one URL of one tenant (POSTs of up to `batch` items)."""

    url: str
    rows: list[Notification]
    subs: dict[str, Subscription]
    messages: dict[str, Message | None]
    """Items whose resource data a rich subscription encrypts (None: gone)."""
    etags: dict[str, str]
    """changeKey by item id (absent: the item is gone)."""


@dataclass(slots=True)
class _Fanout:
    """One job: the claimed `fanout` rows, each delivered to all its subscriptions' URLs."""

    rows: list[Notification]
    subs: dict[str, Subscription]
    messages: dict[str, Message | None]
    etags: dict[str, str]


_Job = _Batch | _Fanout
_Segment = tuple[Notification, list[Subscription]]


def _members(row: Notification, subs: dict[str, Subscription]) -> list[Subscription]:
    """The live subscriptions a fanout row is for: those of its reference (`fanout_ref`: created at or
    before the set version it names, in its match classes), by id; or, for a row written before
    migration 0035, those of its comma-joined ids."""
    ref = parse_fanout_ref(row.subscription_id)
    if ref is None:
        return [sub for sub_id in row.subscription_id.split(",") if (sub := subs.get(sub_id)) is not None]
    version, classes = ref
    found = [sub for sub in subs.values() if in_fanout(sub, row.mailbox_id, version, classes)]
    return sorted(found, key=lambda sub: sub.id)


def _pack(segments: list[_Segment], size: int) -> list[list[_Segment]]:
    """Cut (change, subscriptions) segments into POSTs of at most `size` notifications each."""
    chunks: list[list[_Segment]] = []
    chunk: list[_Segment] = []
    room = size
    for row, subs in segments:
        start = 0
        while start < len(subs):
            # The whole list when it fits: the same object for every change (the item templates cache by it).
            piece = subs if start == 0 and len(subs) <= room else subs[start : start + room]
            chunk.append((row, piece))
            start += len(piece)
            room -= len(piece)
            if room == 0:
                chunks.append(chunk)
                chunk, room = [], size
    if chunk:
        chunks.append(chunk)
    return chunks


_Failed = list[tuple[Notification, str]]
_Target = tuple[str, str]
"""Where one POST goes: (notification URL, tenant id). A POST never mixes tenants (Graph may; see
docs/change-tracking.md), nor URLs."""
_Fresh = dict[str, tuple[int, Timestamp, dict[str, Subscription]]]
"""Reread subscription sets: mailbox → (version, first expiry, live subscriptions by id)."""


class NotificationWorker(LeasedQueueRunner[_Job]):
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
        self._bodies = Bodies(keyring, render)
        self._policy = policy or WebhookPolicy()
        self._posts = asyncio.Semaphore(self.config.concurrency)  # POSTs of one fanout job at once
        # Per mailbox: (version of its subscription set, first expiry in it, its live subscriptions by
        # id), reread only when the store's version moved (another process may have changed the set).
        self._known: dict[str, tuple[int, Timestamp, dict[str, Subscription]]] = {}
        # Per (mailbox, fanout row reference) (the same for every change to one mailbox while its set
        # stands): the subscriptions by POST target. Item templates live as long (`_items`).
        self._by_url: dict[tuple[str, str], dict[_Target, list[Subscription]]] = {}
        self._items = self._bodies.fanout()
        # Delivered fanout rows not yet deleted: the next claim deletes them in its own unit (one unit
        # per round instead of two). Until then their lease keeps them from any other runner; a crash
        # before that lets the lease run out and they are sent again (at-least-once, as Graph).
        self._done: list[tuple[list[str], Timestamp]] = []
        self._housekeeping_at: Timestamp = 0

    def on_commit(self, commit: Commit) -> None:
        """`AfterCommit` subscriber: a unit that wrote notifications wakes the worker."""
        if commit.notified:
            self.wake()

    async def closing(self) -> None:
        """Record the deliveries not yet recorded, close the pooled HTTP connections."""
        done, self._done = self._done, []
        if done:

            async def unit(tx: Tx) -> None:
                for ids, lease in done:
                    await tx.subscriptions.delivered(ids, lease)

            try:
                await self._uow.write(unit, durable=False)  # module docstring: bookkeeping only
            except Exception:  # their leases run out; they are sent again (at-least-once)
                log.exception("could not record delivered notifications")
        await self.http.close()

    async def claim(self, now: Timestamp, lease_until: Timestamp) -> Claimed[_Job]:
        """Record the last round's deliveries, housekeeping (at most every `poll_s`), then lease due rows
        and load what their bodies need."""
        lead = round(self._policy.reauth_lead_s * SECOND)
        done, self._done = self._done, []
        housekeeping = now >= self._housekeeping_at
        known = self._known

        async def unit(
            tx: Tx,
        ) -> tuple[list[Notification], _Fresh, dict[str, Message | None], dict[str, str]]:
            for ids, lease in done:
                await tx.subscriptions.delivered(ids, lease)
            if housekeeping:
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
            rows = await tx.subscriptions.claim(now, lease_until, self.config.claim)
            # The subscription sets of the rows' mailboxes: from memory while their version stands
            # (read-only here: this unit may run on the store's thread; the worker updates it after).
            mailboxes = sorted({row.mailbox_id for row in rows if row.kind != "lifecycle"})
            fresh: _Fresh = {}
            if mailboxes:
                for mailbox_id, version in (await tx.subscriptions.versions(mailboxes)).items():
                    entry = known.get(mailbox_id)
                    if entry is None or entry[0] != version or now >= entry[1]:
                        subs = await tx.subscriptions.of_mailbox(mailbox_id, now)
                        until = min((sub.expires_at for sub in subs), default=now + 3600 * SECOND)
                        fresh[mailbox_id] = (version, until, {sub.id: sub for sub in subs})
            # What the bodies need of the items: their changeKey (the etag), one statement per mailbox;
            # the whole message only in a mailbox where a rich subscription encrypts it.
            items: dict[str, dict[str, None]] = {}
            for row in rows:
                if row.kind != "lifecycle" and row.event != "deleted":
                    items.setdefault(row.mailbox_id, {})[row.item_id] = None
            messages: dict[str, Message | None] = {}
            etags: dict[str, str] = {}
            for mailbox_id, wanted in items.items():
                entry = fresh.get(mailbox_id) or known.get(mailbox_id)
                if entry is not None and any(s.include_resource_data for s in entry[2].values()):
                    for item_id in wanted:
                        message = messages[item_id] = await tx.messages.get_immutable(mailbox_id, item_id)
                        if message is not None:
                            etags[item_id] = message.change_key
                else:
                    etags.update(await tx.messages.change_keys(mailbox_id, list(wanted)))
            return rows, fresh, messages, etags

        try:
            rows, fresh, messages, etags = await self._uow.write(unit, durable=False)
        except BaseException:
            self._done = done + self._done  # recorded by the next claim instead
            raise
        if housekeeping:
            self._housekeeping_at = now + round(self.config.poll_s * SECOND)
        if fresh:
            if len(known) + len(fresh) > 1024:
                known.clear()
            known.update(fresh)
            self._by_url.clear()  # built from the old sets
            self._items = self._bodies.fanout()
        sets = [
            known[m][2] for m in {row.mailbox_id for row in rows if row.kind != "lifecycle"} if m in known
        ]
        subs = sets[0] if len(sets) == 1 else {k: v for found in sets for k, v in found.items()}  # read-only
        jobs: list[_Job] = []
        fanouts = [row for row in rows if row.kind == "fanout"]
        if fanouts:
            jobs.append(_Fanout(fanouts, subs, messages, etags))
        by_url: dict[_Target, _Batch] = {}
        for row in rows:
            if row.kind != "fanout":
                target = (row.url, row.tenant_id)
                by_url.setdefault(target, _Batch(row.url, [], subs, messages, etags)).rows.append(row)
        jobs += by_url.values()
        return Claimed(jobs, len(rows))

    async def handle(self, job: _Job, lease_until: Timestamp) -> None:
        """POST the job's notifications; record delivered, retried, dropped (+ `missed`) under the lease."""
        if isinstance(job, _Fanout):
            await self._handle_fanout(job, lease_until)
            return
        orphans = [r for r in job.rows if r.kind == "change" and r.subscription_id not in job.subs]
        live = [r for r in job.rows if r not in orphans]  # a deleted subscription's notifications go
        delivered: list[str] = [r.id for r in orphans]
        failed: _Failed = []
        size = self.config.batch
        for start in range(0, len(live), size):
            chunk = live[start : start + size]
            try:
                body = self._body(chunk, job)
            except Exception:  # a body we cannot build (bad certificate) fails now, not every lease
                log.exception("cannot build notifications for %s", job.url)
                failed += [(r, _UNBUILT) for r in chunk]
                continue
            error = await self.http.post(job.url, body)
            if error is None:
                delivered += [r.id for r in chunk]
            else:
                log.info("notification POST to %s failed: %s", job.url, error)
                failed += [(r, error) for r in chunk]
        now = self._clock()

        async def unit(tx: Tx) -> None:
            await self._outcome(tx, delivered, failed, job.subs, lease_until, now)

        await self._uow.write(unit, durable=False)

    async def _handle_fanout(self, job: _Fanout, lease: Timestamp) -> None:
        """Deliver fanout rows straight: group their (change, subscriptions) by URL and tenant, POST,
        then delete the rows; the pairs whose POST failed become `change` rows on the retry schedule."""
        plans = self._by_url  # a row's subscriptions → by POST target
        if len(plans) > 256:
            plans.clear()
        per_url: dict[_Target, list[tuple[Notification, list[Subscription]]]] = {}
        for row in job.rows:
            key = (row.mailbox_id, row.subscription_id)
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = {}
                # A removed or expired subscription's notifications go with it (it is not in job.subs).
                for sub in _members(row, job.subs):
                    plan.setdefault((sub.notification_url, sub.tenant_id), []).append(sub)
            for target, subs in plan.items():
                per_url.setdefault(target, []).append((row, subs))
        items = self._items
        items.new_job()
        failed: dict[str, list[tuple[Subscription, str]]] = {}  # fanout row id → its failed pairs

        async def post(target: _Target, segments: list[tuple[Notification, list[Subscription]]]) -> None:
            url = target[0]
            for chunk in _pack(segments, self.config.batch):
                try:
                    parts = [
                        items.items(row, subs, job.messages.get(row.item_id), job.etags.get(row.item_id))
                        for row, subs in chunk
                    ]
                    tokens = {
                        (s.tenant_id, s.app_id): None
                        for row, subs in chunk
                        if row.event != "deleted" and job.messages.get(row.item_id) is not None
                        for s in subs
                        if s.include_resource_data
                    }
                    body = self._bodies.body(parts, list(tokens))
                except Exception:  # a body we cannot build (bad certificate) fails now, not every lease
                    log.exception("cannot build notifications for %s", url)
                    error: str | None = _UNBUILT
                else:
                    async with self._posts:
                        error = await self.http.post(url, body)
                if error is not None:
                    log.info("notification POST to %s failed: %s", url, error)
                    for row, subs in chunk:
                        failed.setdefault(row.id, []).extend((sub, error) for sub in subs)

        await asyncio.gather(*(post(target, segments) for target, segments in per_url.items()))
        done = [row.id for row in job.rows if row.id not in failed]
        partial = [row for row in job.rows if row.id in failed]
        if not partial:
            self._done.append((done, lease))  # deleted by the next claim's unit (see __init__)
            return
        now = self._clock()

        async def unit(tx: Tx) -> None:
            await tx.subscriptions.delivered(done, lease)
            retried: _Failed = []
            for row in partial:
                if not await tx.subscriptions.delivered([row.id], lease):
                    continue  # the lease ran out and another runner has the row: it does the work
                pairs = failed[row.id]
                expanded = expand(row, [sub for sub, _ in pairs])
                await tx.subscriptions.enqueue(expanded, lease)
                retried += [(note, error) for note, (_, error) in zip(expanded, pairs, strict=True)]
            await self._outcome(tx, [], retried, job.subs, lease, now)

        await self._uow.write(unit, durable=False)

    def _body(self, rows: Sequence[Notification], job: _Batch) -> bytes:
        items: list[bytes] = []
        tokens: dict[tuple[str, str], None] = {}
        for row in rows:
            if row.kind == "lifecycle":
                items.append(orjson.dumps(lifecycle_item(row)))
                continue
            sub = job.subs[row.subscription_id]  # orphans were set aside
            message, etag = job.messages.get(row.item_id), job.etags.get(row.item_id)
            items.append(orjson.dumps(self._bodies.item(row, sub, message, etag)))
            if self._rich(row, sub, job.messages):
                tokens[(sub.tenant_id, sub.app_id)] = None
        return self._bodies.body(items, list(tokens))

    @staticmethod
    def _rich(row: Notification, sub: Subscription, messages: dict[str, Message | None]) -> bool:
        """Whether the item carries encrypted resource data (its batch then needs validationTokens)."""
        return sub.include_resource_data and row.event != "deleted" and messages.get(row.item_id) is not None

    def _next_at(self, attempts: int, now: Timestamp) -> Timestamp:
        schedule = self.config.schedule
        return now + round(schedule[min(attempts, len(schedule) - 1)] * SECOND)

    async def _outcome(
        self,
        tx: Tx,
        delivered: list[str],
        failed: _Failed,
        subs: dict[str, Subscription],
        lease: Timestamp,
        now: Timestamp,
    ) -> None:
        """Record what happened to leased rows (in the caller's unit): delivered ones go; failed ones are
        retried later, or dropped after `max_age_s` with a `missed` event to their subscriptions."""
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
        await tx.subscriptions.delivered(delivered, lease)
        for next_at, ids in retry.items():
            await tx.subscriptions.retry(ids, lease, next_at, error)
        if dropped and await tx.subscriptions.give_up([r.id for r in dropped], lease, error):
            missed = []
            for sub_id in dict.fromkeys(r.subscription_id for r in dropped if r.kind == "change"):
                sub = subs.get(sub_id)
                event = None if sub is None else lifecycle(sub, "missed", now)
                if event is not None:
                    missed.append(event)
            if missed:
                await tx.subscriptions.enqueue(missed)
            log.warning("dropped %d notification(s) after %s", len(dropped), error)
