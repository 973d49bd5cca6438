"""The delivery worker: claims due queue entries after commit, relays them, records every outcome.

The loop (claim with a lease, work, record under the lease; wake-ups and polling) is the generic
`delivery/runner.py`; this module says what a claim, a job and its record are for the SMTP relay.
A cycle is three steps, and only the middle one touches the network (docs/architecture.md, outbox pattern):

1. one unit of work leases a batch of due entries (`claim_due`: queued/deferred whose time has come, or
   sending whose lease ran out — a crashed worker's) and loads their messages' snapshots;
2. entries are grouped by message and recipient domain; each group is one SMTP transaction (MAIL, one
   RCPT per recipient, one DATA), at most `concurrency` at a time;
3. one unit of work per group records each recipient's outcome (`policy.decide`) under the lease it
   holds, and writes one non-delivery report for the recipients that failed. Recipients the relay
   accepted are recorded earlier still: the moment the DATA reply arrives, in a unit of their own
   (`_record_accepted`), so a crash can relay again only the transactions in flight at that moment —
   at most `concurrency` messages (issue 17, defect 6; docs/reliability.md).

Without a relay the worker runs in capture mode: entries are marked `captured` and nothing leaves the
machine; `mailgraph queue list` and the admin endpoint show them and their MIME.

The worker wakes when a committed unit queued something (`on_commit`, an `AfterCommit` subscriber,
domain/changes.py) and otherwise polls every `poll_s` for deferred entries that have become due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from mailgraph.delivery import dsn
from mailgraph.delivery.policy import Outcome, Reply, RetryPolicy, decide
from mailgraph.delivery.relay import RelayClient
from mailgraph.delivery.runner import Claimed, LeasedQueueRunner, RunnerConfig
from mailgraph.domain import attachments
from mailgraph.domain.changes import Commit
from mailgraph.domain.faults import FaultService
from mailgraph.domain.mime_items import load_attachments
from mailgraph.domain.model import SECOND, Attachment, Message, QueueEntry, Timestamp
from mailgraph.domain.ports import BlobStorage, Tx, UnitOfWork
from mailgraph.mime.compose import MimeAttachment, compose

log = logging.getLogger("mailgraph.delivery")

Parts = list[Attachment]  # a snapshot's attachments (their bytes are in the blob store)
CAPTURED = Reply(250, "captured: kept on this server (capture mode, no relay configured)")


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Tuning of one worker."""

    concurrency: int = 8  # SMTP transactions in flight
    batch: int = 0  # entries leased per claim; 0: 16 per transaction slot (well within one lease)
    poll_s: float = 1.0  # how often to look for deferred entries that became due
    hostname: str = "localhost"  # this server's name in the Received trace header


def wire_message(
    message: Message, attached: list[MimeAttachment], outbound_id: str, hostname: str, now: Timestamp
) -> bytes:
    """The message as relayed: the project's MIME without Bcc, Message-ID kept, a Received trace on top.

    RFC 5321 §4.4: a relaying SMTP server prepends a Received line; the item came in over HTTP.
    """
    date = datetime.fromtimestamp(now / SECOND, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    trace = f"Received: from graph-api by {hostname} (mailgraph) with HTTP id {outbound_id};\r\n\t{date}\r\n"
    return trace.encode("ascii", "replace") + compose(message, attached, include_bcc=False)


async def wire_message_async(
    blobs: BlobStorage | None, message: Message, parts: Parts, outbound_id: str, hostname: str, now: Timestamp
) -> bytes:
    """`wire_message` with the attachments' bytes read from `blobs` (composed in a thread when any)."""
    if not parts or blobs is None:
        return wire_message(message, [], outbound_id, hostname, now)
    attached = await load_attachments(blobs, parts)
    return await asyncio.to_thread(wire_message, message, attached, outbound_id, hostname, now)


@dataclass(frozen=True, slots=True)
class _Group:
    """One job: the entries of one message to one recipient domain (one SMTP transaction)."""

    message: Message | None
    parts: Parts
    entries: list[QueueEntry]
    outbound_id: str
    down: list[Reply]


class DeliveryWorker(LeasedQueueRunner[_Group]):
    """Drains the outbound queue to a relay (or captures it when `relay` is None)."""

    name = "mailgraph-delivery"

    def __init__(
        self,
        uow: UnitOfWork,
        clock: Callable[[], Timestamp],
        relay: RelayClient | None,
        policy: RetryPolicy | None = None,
        config: WorkerConfig | None = None,
        blobs: BlobStorage | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.config = config or WorkerConfig()
        super().__init__(
            clock, RunnerConfig(self.config.concurrency, self.config.poll_s, self.policy.lease_s)
        )
        self._uow = uow
        self._blobs = blobs
        self._relay = relay
        self.faults: FaultService | None = None
        """Relay-side fault rules (domain/faults.py), set by wiring; consulted only while rules exist."""

    @property
    def mode(self) -> str:
        """`relay to smtp://…` or `capture`, for the start-up banner."""
        return "capture" if self._relay is None else f"relay to {self._relay.config.display()}"

    def on_commit(self, commit: Commit) -> None:
        """`AfterCommit` subscriber: a unit that queued outbound mail wakes the worker."""
        if commit.queued:
            self.wake()

    async def closing(self) -> None:
        """Close the relay's pooled connections."""
        if self._relay is not None:
            await self._relay.close()

    async def claim(self, now: Timestamp, lease_until: Timestamp) -> Claimed[_Group]:
        """Lease due entries and load their snapshots; one group per message and recipient domain."""

        async def unit(tx: Tx) -> tuple[list[QueueEntry], dict[str, tuple[Message | None, Parts]]]:
            limit = self.config.batch or 16 * self.config.concurrency
            entries = await tx.outbox.claim_due(now, lease_until, limit)
            snapshots: dict[str, tuple[Message | None, Parts]] = {}
            for outbound_id in {e.outbound_id for e in entries}:
                message = await tx.outbox.get_message(outbound_id)
                parts: Parts = []
                if message is not None and message.has_attachments and self._blobs is not None:
                    parts = await attachments.attachment_parts(tx, outbound_id)
                snapshots[outbound_id] = (message, parts)
            return entries, snapshots

        entries, snapshots = await self._uow.write(unit)
        groups: dict[tuple[str, str], _Group] = {}
        down: list[Reply] = []  # shared by the cycle's groups: set by the first that cannot reach the relay
        for e in entries:
            key = (e.outbound_id, e.domain.lower())
            if key not in groups:
                groups[key] = _Group(*snapshots[e.outbound_id], [], e.outbound_id, down)
            groups[key].entries.append(e)
        return Claimed(list(groups.values()), len(entries))

    async def handle(self, job: _Group, lease_until: Timestamp) -> None:
        """One SMTP transaction for the group (or a capture), then its outcomes under the lease."""
        group, outbound_id, down = job, job.outbound_id, job.down
        message = group.message
        rcpts = [e.recipient for e in group.entries]
        done: set[str] = set()  # entries whose outcome is already committed
        data = b""
        if message is None:  # cannot happen through the store's cascade; fail rather than loop
            replies = dict.fromkeys(rcpts, Reply(554, "5.6.0 the queued message is missing"))
        elif (injected := await self._injected(message, rcpts)) is not None:
            replies = injected
        elif self._relay is None:
            replies = dict.fromkeys(rcpts, CAPTURED)
        else:
            sender = message.sender or message.from_
            host = self.config.hostname
            try:
                data = await wire_message_async(
                    self._blobs, message, group.parts, outbound_id, host, self._clock()
                )
            except Exception as exc:  # a message that cannot be built fails now, not every lease
                log.exception("cannot compose queued message %s", outbound_id)
                data = b""
                replies = dict.fromkeys(rcpts, Reply(554, f"5.6.0 the message could not be composed: {exc}"))
            else:
                if down:  # unreachable a moment ago: defer now instead of waiting on a timeout per group
                    replies = dict.fromkeys(rcpts, Reply(None, f"not attempted this cycle: {down[0].text}"))
                else:
                    by_rcpt = {e.recipient: e for e in group.entries}

                    async def accepted(found: dict[str, Reply]) -> None:
                        pairs = [(by_rcpt[r], reply) for r, reply in found.items()]
                        try:
                            done.update(await self._record_accepted(pairs, lease_until))
                        except Exception:  # the store failed: `_record` below tries again
                            log.exception("cannot record the relay's acceptance of %s", outbound_id)

                    replies = await self._relay.send(sender.address if sender else "", rcpts, data, accepted)
                    if self._relay.unreachable is not None:
                        down.append(self._relay.unreachable)
        entries = [e for e in group.entries if e.id not in done]
        if entries:
            await self._record(message, entries, replies, lease_until, data)

    async def _injected(self, message: Message, rcpts: list[str]) -> dict[str, Reply] | None:
        """The replies a relay fault rule dictates for this transaction (nothing is sent), or None.

        A 4xx/5xx status is every recipient's reply; `reset` is a connection dropped in the middle of
        DATA (no reply: the policy defers, as for a real drop); latency delays the transaction.
        """
        faults = self.faults
        if faults is None or not faults.active:
            return None
        sender = message.sender or message.from_
        rule = await faults.relay(sender.address if sender else "", rcpts)
        if rule is None:
            return None
        if rule.latency_ms:
            await asyncio.sleep(rule.latency_ms / 1000)
        if rule.reset:
            return dict.fromkeys(rcpts, Reply(None, "connection lost during DATA (injected fault)"))
        if rule.status is None:
            return None
        text = rule.message or f"injected fault {rule.id}"
        return dict.fromkeys(rcpts, Reply(rule.status, text))

    async def _record_accepted(self, found: list[tuple[QueueEntry, Reply]], lease: Timestamp) -> set[str]:
        """Commit `delivered` for the recipients whose DATA reply was a success; returns their entry ids.

        Only success is recorded here: it is the outcome whose loss duplicates mail. Failures wait for
        `_record`, which writes them together with their one non-delivery report.
        """
        now = self._clock()
        delivered = [
            (e, o)
            for e, reply in found
            if (o := decide(self.policy, reply, e.attempts, e.expires_at, now)).status == "delivered"
        ]
        if not delivered:
            return set()

        async def unit(tx: Tx) -> None:
            for e, o in delivered:
                code, text = o.reply.code, o.reply.text[:1000]
                await tx.outbox.record(e.id, o.status, o.next_attempt_at, code, text, lease=lease)

        await self._uow.write(unit)
        for e, o in delivered:
            log.debug("%s %s %s: %s", e.internet_message_id, e.recipient, o.status, o.reply.describe())
        return {e.id for e, _ in delivered}

    async def _record(
        self,
        message: Message | None,
        entries: list[QueueEntry],
        replies: dict[str, Reply],
        lease: Timestamp,
        data: bytes,
    ) -> None:
        now = self._clock()
        outcomes: list[tuple[QueueEntry, Outcome]] = []
        for e in entries:
            outcome = decide(self.policy, replies[e.recipient], e.attempts, e.expires_at, now)
            if self._relay is None and outcome.status == "delivered":
                outcome = Outcome("captured", now, outcome.reply)
            outcomes.append((e, outcome))
        original = None
        if data and self._blobs is not None and any(o.status == "failed" for _, o in outcomes):
            # The report carries the original as sent (message/rfc822); its bytes go to the blob store
            # before the unit, like any staged attachment (unreferenced if the unit reports nothing).
            original = await dsn.stage_original(self._blobs, message, data)

        async def unit(tx: Tx) -> None:
            failures: list[dsn.Failure] = []
            for e, o in outcomes:
                code, text = o.reply.code, o.reply.text[:1000]
                changed = await tx.outbox.record(e.id, o.status, o.next_attempt_at, code, text, lease=lease)
                if changed and o.status == "failed":  # a stale lease reports nothing: another worker owns it
                    failures.append(dsn.Failure(e.recipient, o.reply, o.reason))
            if message is not None:
                await dsn.report(tx, message, failures, now, original)

        await self._uow.write(unit)
        for e, o in outcomes:
            level = logging.DEBUG if o.status in ("delivered", "captured") else logging.INFO
            log.log(level, "%s %s %s: %s", e.internet_message_id, e.recipient, o.status, o.reply.describe())
