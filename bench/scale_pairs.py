"""Create+send at 10k vs 1M stored messages in back-to-back pairs, with each server thread's CPU.

    .venv/bin/python bench/scale_pairs.py --pairs 3 --duration 8

Starts `mailgraph serve` on the two cached stores of `bench/run.py --scale` (built at need, see
`run.cached_store`), then measures `--pairs` pairs of cycle phases, 10k first in even pairs and 1M
first in odd ones, so a drift in machine load hits both sides alike. Per phase it prints cycles/s,
server CPU per cycle, and user/system CPU per cycle of the server's busiest threads (the event loop,
the SQLite writer, the WAL checkpointer, in that order of busyness as a rule); per pair the ratio 1M /
10k of cycles/s and of CPU per cycle; medians at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from pathlib import Path

import run

CLK = os.sysconf("SC_CLK_TCK")


def thread_times(pid: int) -> dict[int, tuple[int, int]]:
    """(utime, stime) clock ticks of every thread of a process."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(tid)] = (int(fields[11]), int(fields[12]))
    return out


async def main(args: argparse.Namespace) -> None:
    """Start both servers, measure the pairs, stop them."""
    tmp = Path(tempfile.mkdtemp(prefix="mailgraph-pairs-"))
    servers: dict[str, run.Server] = {}
    for label, n in (("10k", 10_000), ("1M", args.scale_messages)):
        port = run.free_port()
        data = run.cached_store(args.store_cache, n)
        argv = run.mailgraph_argv(None, "127.0.0.1", port, data, [])
        servers[label] = run.Server(label, argv, port, tmp / f"{label}.log")
        servers[label].start()
    ratios: list[tuple[float, float]] = []
    try:
        for server in servers.values():
            await run.wait_ready(server, "127.0.0.1", server.port, probe_token=True)
        for i in range(args.pairs):
            pair: dict[str, run.PhaseStats] = {}
            for label in ("10k", "1M") if i % 2 == 0 else ("1M", "10k"):
                server = servers[label]
                token = await run.fetch_token("127.0.0.1", server.port)
                before = thread_times(server.pid)
                stats = await run.run_phase("cycle", server.port, token, args, i * 10**9, server, label)
                after = thread_times(server.pid)
                busy = sorted(
                    (
                        (u - before.get(t, (0, 0))[0], s - before.get(t, (0, 0))[1])
                        for t, (u, s) in after.items()
                    ),
                    key=sum,
                    reverse=True,
                )[:3]
                per = ", ".join(
                    f"{1e3 * u / CLK / stats.ops:.3f}+{1e3 * s / CLK / stats.ops:.3f}" for u, s in busy
                )
                print(
                    f"pair {i + 1} {label:<3} cycles/s={stats.ops_s:7.1f} srv ms/cycle={stats.server_cpu_ms_per_op:.3f}"
                    f"  threads user+sys ms/cycle: {per}  load={os.getloadavg()[0]:.1f}",
                    flush=True,
                )
                pair[label] = stats
            ops = pair["1M"].ops_s / pair["10k"].ops_s
            cpu = pair["10k"].server_cpu_ms_per_op / pair["1M"].server_cpu_ms_per_op
            ratios.append((ops, cpu))
            print(f"pair {i + 1} ratio 1M/10k: cycles/s {ops:.3f}, by CPU per cycle {cpu:.3f}", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    print(
        f"MEDIAN of {len(ratios)} pairs: cycles/s 1M/10k = {statistics.median(r[0] for r in ratios):.3f}"
        f" (goal >= 0.9), by CPU per cycle = {statistics.median(r[1] for r in ratios):.3f}"
    )


def cli() -> None:
    """Parse arguments and run."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--scale-messages", type=int, default=1_000_000)
    ap.add_argument(
        "--store-cache", type=Path, default=Path(tempfile.gettempdir()) / "mailgraph-bench-stores"
    )
    args = ap.parse_args()
    if not (1 <= args.pairs <= 50 and 0 < args.duration <= 600 and 1 <= args.concurrency <= 1024):
        ap.error("pairs 1-50, duration (0, 600], concurrency 1-1024")
    args.client_procs = 1
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
