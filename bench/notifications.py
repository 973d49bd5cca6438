"""Benchmark: change-notification fan-out and the cost of subscriptions on the send path (issue 12).

Usage (see bench/README.md, "Notifications")::

    python bench/notifications.py [--subscriptions 100] [--rate 10] [--seconds 10] [--cycles 600]
                                  [--concurrency 16] [--runs 3] [--json out.json]

1. **Fan-out.** A fresh demo-tenant data dir; `--subscriptions` app subscriptions on Bob's Inbox, each
   with its own notification URL (so one new Inbox message is that many POSTs), all served by a raw
   ASGI receiver under uvicorn in its own process (it does not share this process's GIL). Messages to
   Bob are sent at `--rate` per second through the real send path (`SendService.send_mail`) for
   `--seconds`; the notification worker is the one `mailgraph serve` runs. Latency of one notification
   = its arrival at the receiver − the commit of the change (`AfterCommit`, both wall clocks of this
   machine). Reported: p50/p99/max ms and notifications/s delivered over the window, and that every
   (message, subscription) pair arrived exactly once.
2. **Send cost.** create-draft + send cycles (`MessageService.create` then `SendService.send_draft`,
   alice → bob, `--concurrency` at a time) on a fresh data dir with no subscriptions, then on one with
   `--subscriptions` live subscriptions on Bob's Inbox whose notifications are being delivered.
   Reported: cycles/s of each and their ratio (issue target ≥ 0.8). Every send-cost phase runs in a
   fresh interpreter (`--phase`, internal), in the opposite order every other run, so that neither side
   of a ratio inherits the heap, caches or frozen objects of the phases before it.
3. **Send cost, subscriptions spread** (`ratio_spread`, the reading docs/change-tracking.md takes of the
   issue's "with 100 active subscriptions"): the same cycles with `--subscriptions` live subscriptions
   spread one per mailbox over as many users (one app watching every user's Inbox, each its own URL),
   so a send to Bob fires the one on Bob's Inbox and the others stand by — ~1 notification per cycle,
   the 1,000/s scale the fan-out target sets, delivered by the in-process worker. Phase 2 is the
   worst case beside it: all of them on the recipient's Inbox, 100 notifications per cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from mailgraph.cli.heap import freeze_startup_heap
from mailgraph.config import Settings
from mailgraph.domain.model import SECOND, Actor, EmailAddress, ItemBody, MessageChanges, now
from mailgraph.domain.webhooks import NewSubscription
from mailgraph.wiring import Runtime, build

RECEIVER = r"""
import asyncio, sys, time, orjson, uvicorn
from urllib.parse import parse_qs
arrivals = []
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        m = await receive(); body += m.get("body", b"")
        if not m.get("more_body"): break
    q = parse_qs(scope["query_string"].decode())
    if "validationToken" in q:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": q["validationToken"][0].encode()}); return
    t = time.time()
    for item in orjson.loads(body)["value"]:
        arrivals.append((t, item["subscriptionId"], item["resourceData"]["id"]))
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b""})
async def main():
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning",
                            loop="uvloop", http="httptools", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started: await asyncio.sleep(0.01)
    print(server.servers[0].sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line: break
        print(orjson.dumps(arrivals).decode(), flush=True)
    server.should_exit = True; await task
asyncio.run(main())
"""


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))] if ordered else 0.0


class Receiver:
    """The receiver process (started and stopped by this script, by its PID)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RECEIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def arrivals(self) -> list[tuple[float, str, str]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("dump\n")
        self.proc.stdin.flush()
        return [tuple(x) for x in json.loads(self.proc.stdout.readline())]  # type: ignore[misc]

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def _runtime(template: Path, tmp: Path, name: str, notify: bool = True) -> Runtime:
    data = tmp / name
    shutil.copytree(template, data)
    runtime = await build(Settings(data_dir=data, queue_poll_s=0.2))
    freeze_startup_heap()  # as `mailgraph serve` does before its first request (cli/heap.py)
    assert runtime.notifier is not None
    if notify:  # else: the outbox fills, as with the worker in another process (`mailgraph worker`)
        await runtime.notifier.start()
    if runtime.worker is not None:
        await runtime.worker.start()
    return runtime


async def _close(runtime: Runtime) -> None:
    if runtime.notifier is not None:
        await runtime.notifier.stop()
    if runtime.worker is not None:
        await runtime.worker.stop()
    await runtime.engine.close()


SAME_URL = False  # --same-url: every subscription posts to one URL (one app, one endpoint: batched)


def _mailbox(i: int) -> str:
    """The `i`th user of the template: Bob first (the cycles' recipient), then the others."""
    return (
        ("bob@contoso.com", "alice@contoso.com", "carol@contoso.com")[i]
        if i < 3
        else f"user{i:03}@contoso.com"
    )


async def make_template(template: Path, mailboxes: int) -> None:
    """Seed a data dir once: the demo tenant plus users up to `mailboxes` mailboxes (the spread phase)."""
    demo = (Path(__file__).parent.parent / "src/mailgraph/demo_tenant.toml").read_text(encoding="utf-8")
    users = "".join(
        f'\n[[users]]\nuserPrincipalName = "{_mailbox(i)}"\ndisplayName = "User {i}"\n'
        for i in range(3, mailboxes)
    )
    # (TOML lets an array of tables go on after other tables: appending [[users]] entries is valid.)
    tenant_file = template.parent / "tenant.toml"
    tenant_file.write_text(demo + users, encoding="utf-8")
    runtime = await build(Settings(data_dir=template, tenant_file=tenant_file))
    await runtime.engine.close()


async def _subscribe(runtime: Runtime, port: int, count: int, spread: bool = False) -> None:
    service = runtime.app.services.subscriptions
    assert service is not None
    actor = Actor("app", runtime.tenant.id, "mailgraph-demo", None, frozenset({"Mail.Read"}))
    expires = now() + 3600 * SECOND
    for i in range(count):
        await service.create(
            actor,
            expires,
            NewSubscription(
                "created",
                f"http://127.0.0.1:{port}/s{0 if SAME_URL else i}",
                f"/users/{_mailbox(i if spread else 0)}/mailFolders/inbox/messages",
                expires,
            ),
        )


def _changes(i: int) -> MessageChanges:
    return MessageChanges(
        subject=f"bench {i}", body=ItemBody("text", "notification benchmark\n" * 20),
        to=[EmailAddress("bob@contoso.com")],
    )  # fmt: skip


async def fan_out(template: Path, tmp: Path, subs: int, rate: float, seconds: float) -> dict[str, Any]:
    receiver = Receiver()
    runtime = await _runtime(template, tmp, "fanout")
    try:
        await _subscribe(runtime, receiver.port, subs)
        committed: dict[str, float] = {}

        def on_commit(commit: Any) -> None:
            t = time.time()
            for c in commit.changes:
                if c.kind == "created" and c.entity == "message":
                    committed[c.rest_id] = t

        runtime.uow.signals.subscribe(on_commit)
        actor = Actor("app", runtime.tenant.id, "mailgraph-demo", None, frozenset({"Mail.Send"}))
        sending = runtime.app.services.sending
        n = int(rate * seconds)
        start = time.perf_counter()
        for i in range(n):  # a steady rate: each send at its slot, not a burst
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await sending.send_mail(actor, "alice@contoso.com", _changes(i), False)
        expected = n * subs
        deadline = time.perf_counter() + 30
        arrivals = receiver.arrivals()
        while len(arrivals) < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.5)
            arrivals = receiver.arrivals()
        latencies = [(t - committed[mid]) * 1000 for t, _, mid in arrivals if mid in committed]
        pairs = {(s, m) for _, s, m in arrivals}
        span = max(t for t, _, _ in arrivals) - min(t for t, _, _ in arrivals) if arrivals else 0.0
        return {
            "messages": n,
            "expected": expected,
            "received": len(arrivals),
            "unique": len(pairs),
            "p50_ms": round(_pct(latencies, 50), 2),
            "p99_ms": round(_pct(latencies, 99), 2),
            "max_ms": round(max(latencies, default=0.0), 2),
            "notifications_per_s": round(len(arrivals) / span, 1) if span else 0.0,
        }
    finally:
        await _close(runtime)
        receiver.stop()


async def cycles(
    template: Path,
    tmp: Path,
    name: str,
    subs: int,
    n: int,
    concurrency: int,
    notify: bool = True,
    spread: bool = False,
) -> float:
    receiver = Receiver() if subs else None
    runtime = await _runtime(template, tmp, name, notify)
    try:
        if receiver is not None:
            await _subscribe(runtime, receiver.port, subs, spread)
        actor = Actor(
            "app", runtime.tenant.id, "mailgraph-demo", None, frozenset({"Mail.Send", "Mail.ReadWrite"})
        )
        messages, sending = runtime.app.services.messages, runtime.app.services.sending
        queue = iter(range(n))

        async def worker() -> None:
            for i in queue:
                draft = await messages.create(actor, "alice@contoso.com", _changes(i))
                await sending.send_draft(actor, "alice@contoso.com", draft.rest_id)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - t0)
    finally:
        await _close(runtime)
        if receiver is not None:
            receiver.stop()


PHASES = ("base", "subs", "quiet", "spread")
"""The send-cost phases: no subscriptions; all on Bob's Inbox with the worker in this process; the same
with no worker (the in-transaction cost only); spread one per mailbox (`ratio_spread`)."""


async def phase(name: str, template: Path, tmp: Path, args: argparse.Namespace) -> float:
    """One send-cost phase (`PHASES`) on a copy of `template`: create+send cycles/s."""
    subs = 0 if name == "base" else args.subscriptions
    quiet, spread = name == "quiet", name == "spread"
    return await cycles(template, tmp, name, subs, args.cycles, args.concurrency, not quiet, spread)


def phase_in_fresh_process(name: str, template: Path, tmp: Path, args: argparse.Namespace) -> float:
    """Run one phase in a new interpreter: every phase starts from the same state (no heap, caches or
    frozen generation left by the phases before it, docs/change-tracking.md "How the ratio is measured")."""
    command = [
        sys.executable, __file__, "--phase", name, "--template", str(template), "--tmp", str(tmp),
        "--cycles", str(args.cycles), "--concurrency", str(args.concurrency),
        "--subscriptions", str(args.subscriptions), *(["--same-url"] if SAME_URL else []),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:  # the child's own traceback, not only its exit status
        raise RuntimeError(f"phase {name} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["cycles_per_s"])


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mg-bench-notify-") as tmp_name:
        tmp = Path(tmp_name)
        template = tmp / "template"
        await make_template(template, args.subscriptions)
        runs: list[dict[str, Any]] = []
        for run in range(args.runs):
            fan = await fan_out(template, tmp / f"r{run}", args.subscriptions, args.rate, args.seconds)
            # Each phase in a fresh process, in the opposite order every other run (ABBA): a drift of the
            # machine during a run, or an order effect, weighs on both sides of each ratio alike.
            order = PHASES if run % 2 == 0 else PHASES[::-1]
            rate = {name: phase_in_fresh_process(name, template, tmp / f"r{run}", args) for name in order}
            base, subs, quiet, spread = (rate[name] for name in PHASES)
            runs.append({**fan, "cycles_per_s_none": round(base, 1), "cycles_per_s_subs": round(subs, 1),
                         "ratio": round(subs / base, 3), "cycles_per_s_subs_worker_elsewhere": round(quiet, 1),
                         "ratio_worker_elsewhere": round(quiet / base, 3),
                         "cycles_per_s_spread": round(spread, 1), "ratio_spread": round(spread / base, 3)})  # fmt: skip
            print(json.dumps(runs[-1]), flush=True)
        keys = ("p50_ms", "p99_ms", "notifications_per_s", "cycles_per_s_none", "cycles_per_s_subs", "ratio",
                "cycles_per_s_subs_worker_elsewhere", "ratio_worker_elsewhere", "cycles_per_s_spread",
                "ratio_spread")  # fmt: skip
        summary = {k: statistics.median(r[k] for r in runs) for k in keys}
        return {"config": {k: str(v) for k, v in vars(args).items()}, "runs": runs, "median": summary}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="messages/s to the subscribed Inbox")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--cycles", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--same-url", action="store_true", help="all subscriptions share one notification URL"
    )
    # One phase, in a child of phase_in_fresh_process:
    parser.add_argument("--phase", choices=PHASES, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--template", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tmp", type=Path, default=None, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    SAME_URL = arguments.same_url
    if arguments.phase is not None:  # a child of phase_in_fresh_process: one number on stdout
        assert arguments.template is not None and arguments.tmp is not None
        rate = uvloop.run(phase(arguments.phase, arguments.template, arguments.tmp, arguments))
        print(json.dumps({"cycles_per_s": rate}))
        sys.exit(0)
    result = uvloop.run(main(arguments))
    print("median:", json.dumps(result["median"]))
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(result, indent=2))
