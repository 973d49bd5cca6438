"""Benchmark: outbound queue drain throughput to a local SMTP sink (issue 5; goal ≥ 1,000 messages/s).

Usage (see bench/README.md, "Queue drain")::

    python bench/queue_drain.py [--messages 2000] [--runs 5] [--recipients 1] [--concurrency 32]
                                [--worker-procs 1] [--durability full|normal] [--json out.json]

Per run: a fresh copy of a demo-tenant data dir; N messages are queued through the real send path
(`SendService.send_mail`, app-only, concurrently so sends share group commits — timed separately as
`enqueue msg/s`); then a `DeliveryWorker` built exactly as `mailgraph serve --relay` builds it drains
the queue to an aiosmtpd sink running in its own process (so the sink does not share this process's
GIL). The clock runs from the first claim to the last recorded outcome, and the run checks that every
entry is `delivered` and that the sink accepted exactly N messages. Also measured: `capture` mode
(same worker, no relay), the store-side ceiling of a drain. The summary prints medians over runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from mailgraph.config import Settings
from mailgraph.domain.model import Actor, EmailAddress, ItemBody, MessageChanges
from mailgraph.wiring import build, delivery_worker

T = TypeVar("T")
SINK = r"""
import asyncio, socket, sys, time
from aiosmtpd.controller import Controller
count = 0
class Handler:
    async def handle_DATA(self, server, session, envelope):
        global count
        count += 1
        return "250 2.0.0 ok"
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
c = Controller(Handler(), hostname="127.0.0.1", port=port)
c.start()
print(port, flush=True)
for line in sys.stdin:  # "count" → messages accepted so far and CPU seconds used; EOF → exit
    print(count, time.process_time(), flush=True)
c.stop()
"""


async def _queue(settings: Settings, n: int, recipients: int) -> tuple[float, float]:
    """Queue n messages through the send path; returns (seconds, process CPU seconds)."""
    runtime = await build(settings)
    try:
        users = await runtime.engine.read(lambda tx: tx.directory.list_users())
        alice = next(u for u in users if u.user_principal_name.startswith("alice@"))
        actor = Actor("app", runtime.tenant.id, "bench", None, frozenset({"Mail.Send"}))
        sending = runtime.app.services.sending

        async def one(i: int) -> None:
            changes = MessageChanges(
                subject=f"bench {i}",
                body=ItemBody("text", "queue drain benchmark\n" * 20),
                to=[EmailAddress(f"r{i}.{k}@example.net") for k in range(recipients)],
            )
            await sending.send_mail(actor, alice.id, changes, False)

        t0, c0 = time.perf_counter(), time.process_time()
        for start in range(0, n, 256):
            await asyncio.gather(*(one(i) for i in range(start, min(n, start + 256))))
        return time.perf_counter() - t0, time.process_time() - c0
    finally:
        await runtime.engine.close()


async def _drain(settings: Settings, expected: int, procs: int = 1) -> tuple[float, float]:
    """Drain the queue with a worker built like `serve` builds it; returns (seconds, CPU seconds).

    With `procs` > 1, as many worker processes drain together (`mailgraph worker` ×N on one store);
    they start behind a barrier, and the CPU seconds are the sum over all of them.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(procs)
    cpu_times: multiprocessing.Queue[float] = context.Queue()
    children = [context.Process(target=_child, args=(settings, barrier, cpu_times)) for _ in range(procs - 1)]
    for child in children:
        child.start()
    runtime = await build(settings)
    worker = delivery_worker(settings, runtime.engine)
    try:
        barrier.wait(60)
        t0, c0 = time.perf_counter(), time.process_time()
        while await worker.run_once():
            pass
        cpu = time.process_time() - c0
        for child in children:
            child.join(120)
            cpu += cpu_times.get(timeout=10)
        elapsed = time.perf_counter() - t0
        done = await runtime.engine.read(lambda tx: tx.outbox.list_entries(None, expected + 1))
        want = "captured" if settings.relay is None else "delivered"
        bad = [e for e in done if e.status != want]
        if len(done) != expected or bad:
            raise SystemExit(f"drain incomplete: {len(done)} entries, {len(bad)} not {want}")
        return elapsed, cpu
    finally:
        await worker.stop()
        await runtime.engine.close()


def _child(settings: Settings, barrier: Any, cpu_times: Any) -> None:
    """One more worker process of a multi-process drain."""

    async def drain() -> float:
        runtime = await build(settings)
        worker = delivery_worker(settings, runtime.engine)
        try:
            barrier.wait(60)
            c0 = time.process_time()
            while await worker.run_once():
                pass
            return time.process_time() - c0
        finally:
            await worker.stop()
            await runtime.engine.close()

    cpu_times.put(uvloop.run(drain()))


def _sink_count(sink: subprocess.Popen[str]) -> tuple[int, float]:
    """(messages the sink accepted, CPU seconds it used) so far."""
    assert sink.stdin is not None and sink.stdout is not None
    sink.stdin.write("count\n")
    sink.stdin.flush()
    count, cpu = sink.stdout.readline().split()
    return int(count), float(cpu)


def main() -> int:
    """Run the benchmark and print (and optionally save) per-run numbers and medians."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--recipients", type=int, default=1, help="external recipients per message (one domain)")
    ap.add_argument("--concurrency", type=int, default=32, help="SMTP transactions in flight")
    ap.add_argument("--worker-procs", type=int, default=1, help="worker processes draining together (relay)")
    ap.add_argument("--durability", choices=("full", "normal"), default="full")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mailgraph-drain-"))
    sink = subprocess.Popen(
        [sys.executable, "-c", SINK], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    rows: list[dict[str, float]] = []
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        template = tmp / "template"
        _run(_seed(template))
        print(f"{'run':>3} {'mode':8} {'messages':>8} {'seconds':>8} {'msg/s':>8} {'cpu ms/msg':>10} "
              f"{'sink cpu ms/msg':>15} {'enqueue msg/s':>13}")  # fmt: skip
        for run in range(1, args.runs + 1):
            for mode in ("relay", "capture"):
                data = tmp / f"run{run}-{mode}"
                shutil.copytree(template, data)
                relay = f"smtp://127.0.0.1:{port}" if mode == "relay" else None
                settings = Settings(
                    data_dir=data,
                    durability=args.durability,
                    relay=relay,
                    worker_concurrency=args.concurrency,
                )
                q_s, _ = _run(_queue(settings, args.messages, args.recipients))
                before, sink_cpu0 = _sink_count(sink)
                procs = args.worker_procs if mode == "relay" else 1
                d_s, d_cpu = _run(_drain(settings, args.messages * args.recipients, procs))
                after, sink_cpu1 = _sink_count(sink)
                if mode == "relay" and after - before != args.messages:
                    raise SystemExit("the sink did not receive exactly one transaction per message")
                row = {"run": run, "relay": mode == "relay", "seconds": d_s, "msg_per_s": args.messages / d_s,
                       "cpu_ms_per_msg": 1000 * d_cpu / args.messages, "enqueue_per_s": args.messages / q_s,
                       "sink_cpu_ms_per_msg": 1000 * (sink_cpu1 - sink_cpu0) / args.messages}  # fmt: skip
                rows.append(row)
                print(f"{run:>3} {mode:8} {args.messages:>8} {d_s:>8.2f} {row['msg_per_s']:>8.0f} "
                      f"{row['cpu_ms_per_msg']:>10.2f} {row['sink_cpu_ms_per_msg']:>15.2f} "
                      f"{row['enqueue_per_s']:>13.0f}")  # fmt: skip
                shutil.rmtree(data, ignore_errors=True)
        summary = {}
        for mode in ("relay", "capture"):
            mine = [r for r in rows if r["relay"] == (mode == "relay")]
            summary[mode] = {
                "median_msg_per_s": statistics.median(r["msg_per_s"] for r in mine),
                "median_cpu_ms_per_msg": statistics.median(r["cpu_ms_per_msg"] for r in mine),
                "median_enqueue_per_s": statistics.median(r["enqueue_per_s"] for r in mine),
                "median_sink_cpu_ms_per_msg": statistics.median(r["sink_cpu_ms_per_msg"] for r in mine),
            }
            s = summary[mode]
            print(f"median {mode}: {s['median_msg_per_s']:.0f} msg/s drained, "
                  f"{s['median_cpu_ms_per_msg']:.2f} ms CPU/msg (worker process), "
                  f"{s['median_sink_cpu_ms_per_msg']:.2f} ms CPU/msg (sink), "
                  f"enqueue {s['median_enqueue_per_s']:.0f} msg/s")  # fmt: skip
        if args.json:
            args.json.write_text(json.dumps({"config": vars(args) | {"json": str(args.json)}, "runs": rows,
                                             "summary": summary}, indent=2))  # fmt: skip
    finally:
        if sink.stdin is not None:
            sink.stdin.close()
        try:
            sink.wait(10)
        except subprocess.TimeoutExpired:
            sink.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """On uvloop, as `mailgraph serve` runs."""
    return uvloop.run(coro)


async def _seed(template: Path) -> None:
    runtime = await build(Settings(data_dir=template))
    await runtime.engine.close()


if __name__ == "__main__":
    sys.exit(main())
