"""Benchmark: inbound SMTP ingest throughput of ``mailgraph serve --smtp-port``.

Usage (see bench/README.md, "SMTP ingest")::

    python bench/smtp_ingest.py [--runs 5] [--duration 10] [--warmup 2] [--concurrency 16]
                                [--client-procs 2] [--size 2048] [--recipients 1]
                                [--server-args "--durability normal"] [--json out.json]

It starts ``mailgraph serve`` with a fresh temporary data dir (demo tenant) and the SMTP listener on a
free 127.0.0.1 port, then runs ``--runs`` measured runs. In each run ``--concurrency`` aiosmtplib
connections (spread over ``--client-procs`` processes, so the client does not share one core with
itself) send messages back to back for ``--duration`` seconds: MAIL, RCPT (bob@contoso.com, plus
alice@ and carol@ with ``--recipients``), DATA, one message per transaction, connections kept open.
A message counts only when DATA answered 250 (committed to disk). The summary is the median over runs
of messages/s, with p50/p99 latency of one transaction and the server's CPU use. The server is
stopped by PID. Exit status: 0 clean, 1 if any transaction failed, 2 if the setup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosmtplib

RECIPIENTS = ["bob@contoso.com", "alice@contoso.com", "carol@contoso.com"]
_PORT = re.compile(r"mailgraph SMTP: smtp://[^:]+:(\d+)")


def message(size: int, n: int) -> bytes:
    """A plain-text message of about `size` bytes with its own Message-ID."""
    head = (
        f"From: Load Test <load@example.org>\r\nTo: bob@contoso.com\r\nSubject: ingest {n}\r\n"
        f"Message-ID: <bench-{os.getpid()}-{n}@example.org>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return (head + body).encode()


async def _connection(port: int, until: float, size: int, rcpts: list[str], out: dict[str, Any]) -> None:
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=port, timeout=60, start_tls=False, local_hostname="bench.test"
    )
    await client.connect()  # sends EHLO
    n = 0
    try:
        while time.perf_counter() < until:
            n += 1
            data = message(size, n)
            started = time.perf_counter()
            try:
                await client.sendmail("load@example.org", rcpts, data)
            except aiosmtplib.SMTPException as exc:
                out["errors"].append(repr(exc)[:200])
                continue
            out["latencies"].append(time.perf_counter() - started)
    finally:
        try:
            await client.quit()
        except aiosmtplib.SMTPException:
            client.close()


async def _load(
    port: int, connections: int, start_at: float, duration: float, size: int, rcpts: list[str]
) -> dict[str, Any]:
    await asyncio.sleep(max(0.0, start_at - time.time()))
    until = time.perf_counter() + duration
    out: dict[str, Any] = {"latencies": [], "errors": []}
    await asyncio.gather(*(_connection(port, until, size, rcpts, out) for _ in range(connections)))
    return out


def _client(
    port: int, connections: int, start_at: float, duration: float, size: int, rcpts: list[str], queue: Any
) -> None:
    try:
        queue.put(asyncio.run(_load(port, connections, start_at, duration, size, rcpts)))
    except Exception as exc:  # report instead of leaving the parent waiting
        queue.put({"latencies": [], "errors": [f"client process failed: {exc!r}"[:300]]})


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _phase(port: int, pid: int, args: argparse.Namespace, duration: float) -> dict[str, Any]:
    """One load phase over all client processes; returns what it measured."""
    queue: Any = mp.get_context("spawn").Queue()
    procs = max(1, min(args.client_procs, args.concurrency))
    shares = [args.concurrency // procs + (1 if i < args.concurrency % procs else 0) for i in range(procs)]
    start_at = time.time() + 1.5  # every process starts at the same instant, after spawning
    rcpts = RECIPIENTS[: args.recipients]
    workers = [
        mp.get_context("spawn").Process(
            target=_client, args=(port, share, start_at, duration, args.size, rcpts, queue)
        )
        for share in shares
    ]
    for w in workers:
        w.start()
    time.sleep(max(0.0, start_at - time.time()))
    cpu0, t0 = _cpu_seconds(pid), time.perf_counter()
    results = [queue.get(timeout=duration + 120) for _ in workers]
    elapsed, cpu = time.perf_counter() - t0, _cpu_seconds(pid) - cpu0
    for w in workers:
        w.join(timeout=30)
    latencies = sorted(x for r in results for x in r["latencies"])
    errors = [e for r in results for e in r["errors"]]
    return {
        "messages": len(latencies),
        "messages_per_s": len(latencies) / duration,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
        "server_cpu_pct": 100 * cpu / elapsed,
        "errors": errors,
    }


def _start_server(args: argparse.Namespace, data_dir: str) -> tuple[subprocess.Popen[str], int]:
    exe = Path(sys.executable).with_name("mailgraph")
    cmd = [
        str(exe),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--smtp-port",
        "0",
        "--data-dir",
        data_dir,
    ]
    cmd += shlex.split(args.server_args)
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert server.stdout is not None
    deadline = time.time() + 60
    while time.time() < deadline:
        line = server.stdout.readline()
        if not line:
            break
        found = _PORT.search(line)
        if found:
            return server, int(found.group(1))
    server.kill()
    raise SystemExit("setup failed: the server printed no SMTP port")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--size", type=int, default=2048, help="approximate message size in bytes")
    parser.add_argument("--recipients", type=int, choices=(1, 2, 3), default=1)
    parser.add_argument("--server-args", default="", help='extra serve flags, e.g. "--durability normal"')
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailgraph-smtp-bench-") as tmp:
        try:
            server, port = _start_server(args, str(Path(tmp) / "data"))
        except SystemExit as exc:
            print(exc, file=sys.stderr)
            return 2
        # Drain the server's output so it never blocks on a full pipe.
        drain = subprocess.Popen(["cat"], stdin=server.stdout, stdout=subprocess.DEVNULL)
        try:
            runs = []
            for i in range(args.runs):
                if args.warmup > 0:
                    _phase(port, server.pid, args, args.warmup)
                result = _phase(port, server.pid, args, args.duration)
                runs.append(result)
                print(
                    f"run {i + 1}: {result['messages_per_s']:.0f} msg/s, p50 {result['p50_ms']:.1f} ms, "
                    f"p99 {result['p99_ms']:.1f} ms, server CPU {result['server_cpu_pct']:.0f} %, "
                    f"errors {len(result['errors'])}",
                    flush=True,
                )
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            drain.wait(timeout=10)
    summary = {
        key: statistics.median(r[key] for r in runs)
        for key in ("messages_per_s", "p50_ms", "p99_ms", "server_cpu_pct")
    }
    print(
        f"median of {len(runs)} runs: {summary['messages_per_s']:.0f} msg/s "
        f"(concurrency {args.concurrency}, {args.size} B, {args.recipients} recipient(s), "
        f"server args {args.server_args or '-'}), p50 {summary['p50_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms, "
        f"server CPU {summary['server_cpu_pct']:.0f} %"
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"config": vars(args) | {"json": str(args.json)}, "runs": runs, "median": summary}, indent=2
            )
        )
    failed = sum(len(r["errors"]) for r in runs)
    if failed:
        print(f"FAILED: {failed} transaction(s) failed, e.g. {runs[0]['errors'][:1]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
