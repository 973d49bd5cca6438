"""Command line of outbound delivery: `serve`'s delivery options, `mailgraph worker`, `mailgraph queue …`.

mailgraph serve --relay smtp+starttls://user:pw@smtp.example.com:587   relay (default: capture mode)
mailgraph worker --data-dir D [--relay URL]       a worker process without HTTP (run `serve --no-worker`)
mailgraph queue list [--status S] [--message ID]  entries, or one message's recipients
mailgraph queue show ID                           one message's MIME as relayed/captured
mailgraph queue retry [ID …] [--status S …]       make deferred/failed (or named) entries due now
mailgraph queue purge [--status S …]              delete finished entries (delivered, failed, captured)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from mailgraph.auth.keyring import KeyRing
from mailgraph.cli.heap import freeze_startup_heap
from mailgraph.config import Settings
from mailgraph.delivery.held import HeldSendReleaser
from mailgraph.delivery.policy import parse_schedule
from mailgraph.delivery.queue import FINISHED, RETRYABLE, STATUSES, QueueAdmin
from mailgraph.delivery.relay import parse_relay_url
from mailgraph.domain.sending import SendService
from mailgraph.store.contract import wakeups_of
from mailgraph.wiring import (
    NOTIFY_CHANNEL,
    OUTBOX_CHANNEL,
    Runtime,
    blob_storage,
    clock,
    delivery_worker,
    notification_worker,
    observed,
    open_engine,
    rule_forwarder,
)

DEFAULTS = Settings()


def _help(name: str) -> str:
    meta = {f.name: f.metadata for f in fields(Settings)}[name]
    return f"{meta['help']} (default: {getattr(DEFAULTS, name)})"


def _relay(value: str) -> str:
    try:
        parse_relay_url(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _schedule(value: str) -> tuple[float, ...]:
    try:
        return parse_schedule(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return number


def add_database_option(parser: argparse.ArgumentParser) -> None:
    """`--database URL` (default: env MAILGRAPH_DATABASE, else the SQLite file in the data dir)."""
    parser.add_argument(
        "--database", default=os.environ.get("MAILGRAPH_DATABASE") or None, help=_help("database")
    )


def add_blobs_option(parser: argparse.ArgumentParser) -> None:
    """`--blobs auto|db|dir` (default: env MAILGRAPH_BLOBS, else auto): where attachment bytes live."""
    parser.add_argument(
        "--blobs",
        choices=("auto", "db", "dir"),
        default=os.environ.get("MAILGRAPH_BLOBS") or DEFAULTS.blobs,
        help=_help("blobs"),
    )


def add_delivery_options(parser: argparse.ArgumentParser, *, serve: bool) -> None:
    """The relay and queue options of `serve` and `worker`."""
    parser.add_argument("--relay", type=_relay, default=None, help=_help("relay"))
    if serve:
        parser.add_argument("--no-worker", dest="worker", action="store_false", help="run no delivery worker")
        parser.add_argument(
            "--admin-token",
            default=os.environ.get("MAILGRAPH_ADMIN_TOKEN") or None,
            help=_help("admin_token") + "; env MAILGRAPH_ADMIN_TOKEN",
        )
    parser.add_argument("--worker-concurrency", type=int, default=DEFAULTS.worker_concurrency)
    parser.add_argument(
        "--queue-poll", type=_positive, default=DEFAULTS.queue_poll_s, help=_help("queue_poll_s")
    )
    parser.add_argument(
        "--queue-expiry", type=_positive, default=DEFAULTS.queue_expiry_s, help=_help("queue_expiry_s")
    )
    parser.add_argument(
        "--queue-lease", type=_positive, default=DEFAULTS.queue_lease_s, help=_help("queue_lease_s")
    )
    parser.add_argument(
        "--retry-schedule", type=_schedule, default=DEFAULTS.retry_schedule, help=_help("retry_schedule")
    )


def delivery_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The Settings fields the delivery options set."""
    return {
        "relay": args.relay,
        "worker": getattr(args, "worker", True),
        "admin_token": getattr(args, "admin_token", None),
        "worker_concurrency": max(1, args.worker_concurrency),
        "queue_poll_s": args.queue_poll,
        "queue_expiry_s": args.queue_expiry,
        "queue_lease_s": args.queue_lease,
        "retry_schedule": args.retry_schedule,
    }


def add_delivery_commands(sub: Any) -> None:
    """`mailgraph worker` and `mailgraph queue list|show|retry|purge`."""
    worker = sub.add_parser("worker", help="run a delivery worker process (no HTTP)")
    worker.add_argument("--data-dir", type=Path, default=DEFAULTS.data_dir, help=_help("data_dir"))
    worker.add_argument("--log-level", default=DEFAULTS.log_level, help=_help("log_level"))
    add_database_option(worker)
    add_blobs_option(worker)
    add_delivery_options(worker, serve=False)
    queue = sub.add_parser("queue", help="inspect and repair the outbound queue")
    queue_sub = queue.add_subparsers(dest="queue_command", required=True)
    listing = queue_sub.add_parser("list", help="list queue entries (one per external recipient)")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--message", help="only this message (queue id or Message-ID)")
    listing.add_argument("--limit", type=int, default=100)
    show = queue_sub.add_parser("show", help="print a queued or captured message's MIME")
    show.add_argument("message", help="queue id or Message-ID")
    retry = queue_sub.add_parser("retry", help="make entries due now (default: deferred and failed)")
    retry.add_argument("ids", nargs="*", help="entry ids, queue ids or Message-IDs (default: all)")
    retry.add_argument("--status", action="append", choices=STATUSES, help="repeatable")
    purge = queue_sub.add_parser("purge", help="delete entries (default: delivered, failed, captured)")
    purge.add_argument("--status", action="append", choices=STATUSES, help="repeatable")
    for p in (listing, show, retry, purge):
        p.add_argument("--data-dir", type=Path, default=DEFAULTS.data_dir, help=_help("data_dir"))
        add_database_option(p)
        add_blobs_option(p)


def delivery_banner(runtime: Runtime, base_url: str) -> list[str]:
    """The start-up lines saying where external mail goes and how to reach /admin."""
    worker = runtime.worker
    if worker is None:
        mode = "no worker in this process (run `mailgraph worker`)"
    elif worker.mode == "capture":
        mode = "CAPTURE mode: external mail is kept here, nothing leaves (set --relay URL to send)"
    else:
        mode = worker.mode
    return [
        f"  Outbound mail:  {mode}",
        f"  Web UI:         {base_url}/ui/   (sign in with the admin token below)",
        f"  Control API:    {base_url}/_mailgraph/   (tenants, wait-for, queue, faults: docs/workbench.md)",
        f"  Health:         {base_url}/health   metrics: {base_url}/metrics",
        f"  Queue admin:    {base_url}/admin/queue   (Authorization: Bearer {runtime.admin_token})",
    ]


async def _worker(settings: Settings) -> int:
    engine = await open_engine(settings)
    # Observed like `serve`: the reports the worker writes reach the change log and the notification
    # outbox in their own units (issue 12), and wake the webhook worker after their commit.
    uow = observed(engine)
    blobs = blob_storage(settings, engine)
    worker = delivery_worker(settings, uow, blobs)
    keyring = KeyRing(engine)  # signs the validationTokens of rich notifications
    await keyring.refresh()
    notifier = notification_worker(settings, uow, keyring)  # the webhook outbox too (issue 12)
    uow.signals.subscribe(notifier.on_commit)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    freeze_startup_heap()  # before the first claim: cli/heap.py says why
    await worker.start()
    wakeups_of(engine).listen(OUTBOX_CHANNEL, worker.wake)  # sends committed by `serve` processes
    await notifier.start()
    wakeups_of(engine).listen(NOTIFY_CHANNEL, notifier.wake)  # notifications written by `serve` processes
    # Sends held over Exchange's message rate by `serve --no-worker` processes (domain/send_quota.py).
    held = HeldSendReleaser(uow, SendService(uow, clock), clock, poll_s=min(settings.queue_poll_s, 0.5))
    await held.start()
    # Rules' forwards-as-attachment left by `serve --no-worker` deliveries (polled: domain/rule_forwards.py).
    forwarder = rule_forwarder(settings, uow, blobs)
    uow.signals.subscribe(forwarder.on_commit)  # and by the deliveries of this worker's own reports
    await forwarder.start()
    keyring.start()
    await wakeups_of(engine).ready()  # serve processes' wake-ups reach us from here on
    print(f"mailgraph worker ready: {worker.mode}; store {engine.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await held.stop()
        await forwarder.stop()
        await worker.stop()
        await notifier.stop()
        await keyring.stop()
        await engine.close()
    return 0


async def _queue(args: argparse.Namespace) -> int:
    settings = Settings(data_dir=args.data_dir, database=args.database, blobs=args.blobs)
    engine = await open_engine(settings)
    try:
        blobs = blob_storage(settings, engine)
    except BaseException:
        await engine.close()
        raise
    admin = QueueAdmin(engine, clock, blobs=blobs)
    try:
        if args.queue_command == "list":
            if args.message:
                queued = await admin.show(args.message)
                entries = queued.entries if queued else []
            else:
                entries = await admin.list(args.status, args.limit)
            print(f"{'status':9} {'tries':>5}  {'recipient':36} {'queue id':24} {'last reply':32} subject")
            for e in entries:
                reply = f"{e.last_reply_code or ''} {e.last_reply_text or ''}".strip()[:32]
                print(
                    f"{e.status:9} {e.attempts:>5}  {e.recipient:36} {e.outbound_id:24} {reply:32} {e.subject}"
                )
            print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
        elif args.queue_command == "show":
            mime = await admin.mime(args.message)
            if mime is None:
                print(f"mailgraph: no queued message {args.message!r}", file=sys.stderr)
                return 1
            sys.stdout.buffer.write(mime)
        elif args.queue_command == "retry":
            count = await admin.retry(tuple(args.status or RETRYABLE), args.ids)
            print(f"{count} entr{'y' if count == 1 else 'ies'} due now (a running worker picks them up)")
        else:
            count = await admin.purge(tuple(args.status or FINISHED))
            print(f"{count} entr{'y' if count == 1 else 'ies'} deleted")
    finally:
        await engine.close()
    return 0


async def run_delivery(args: argparse.Namespace) -> int:
    """Run `mailgraph worker` or `mailgraph queue …`."""
    if args.command == "worker":
        return await _worker(
            Settings(
                data_dir=args.data_dir,
                database=args.database,
                blobs=args.blobs,
                log_level=args.log_level,
                **delivery_settings(args),
            )
        )
    return await _queue(args)
