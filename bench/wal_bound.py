"""What bounding the SQLite WAL costs writers: per-unit latency under sustained writes, bound on vs off.

    .venv/bin/python bench/wal_bound.py --rounds 3 --duration 20 --concurrency 16

Each round opens the demo tenant's store (`wiring.build`, durability `full`) and lets `--concurrency`
writers insert one message per unit of work back to back (a delivery-sized unit: the row and its
folder counter delta) for `--duration` seconds, once with the engine's WAL limit (`--limit-mb`,
default the engine's 64 MB) and once without one (a limit of 1 TB), in alternating order per round.
It prints per mode the units/s, p50/p99/p99.9/max latency of a unit, the largest -wal file seen (sampled
every 50 ms) and how many times the writer truncated the WAL; medians over rounds at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from load_store import _message, _targets

from mailgraph.config import Settings
from mailgraph.domain.model import Message
from mailgraph.domain.ports import Tx
from mailgraph.store.engines import sqlite as sqlite_engine
from mailgraph.wiring import build

NO_LIMIT = 1 << 40


async def one_round(data_dir: Path, limit: int, duration: float, concurrency: int) -> dict[str, float]:
    """Sustained single-message units against a fresh store with this WAL limit."""
    sqlite_engine.WAL_LIMIT = limit  # what the engine `build` opens takes as its limit
    runtime = await build(Settings(data_dir=data_dir, durability="full", worker=False))
    engine = runtime.engine
    wal = data_dir / "mailgraph.db-wal"
    latencies: list[float] = []
    largest = 0
    try:
        targets = await _targets(runtime)
        t0 = 1_600_000_000_000_000
        end = time.monotonic() + duration
        counter = iter(range(10**9))

        async def writer() -> None:
            while time.monotonic() < end:
                n = next(counter)
                message = _message(n, *targets[n % len(targets)], t0)

                async def unit(tx: Tx, message: Message = message) -> None:
                    await tx.messages.insert(message)

                start = time.monotonic()
                await engine.write(unit)
                latencies.append(time.monotonic() - start)

        async def sample() -> None:
            nonlocal largest
            while time.monotonic() < end:
                with contextlib.suppress(OSError):
                    largest = max(largest, os.stat(wal).st_size)
                await asyncio.sleep(0.05)

        await asyncio.gather(sample(), *(writer() for _ in range(concurrency)))
        resets = float(getattr(engine, "wal_resets", float("nan")))
    finally:
        await engine.close()
    lat = sorted(latencies)
    return {
        "units_s": len(lat) / duration,
        "p50_ms": 1e3 * lat[len(lat) // 2],
        "p99_ms": 1e3 * lat[int(len(lat) * 0.99)],
        "p999_ms": 1e3 * lat[int(len(lat) * 0.999)],
        "max_ms": 1e3 * lat[-1],
        "wal_max_mb": largest / 1e6,
        "resets": resets,
    }


def main() -> None:
    """Parse arguments, run the paired rounds, print them and their medians."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--limit-mb", type=float, default=sqlite_engine.WAL_LIMIT / 2**20)  # 64
    args = ap.parse_args()
    if not (1 <= args.rounds <= 50 and 0 < args.duration <= 600 and 1 <= args.concurrency <= 256):
        ap.error("rounds 1-50, duration (0, 600], concurrency 1-256")
    modes = {"bounded": int(args.limit_mb * 2**20), "unbounded": NO_LIMIT}
    results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for i in range(args.rounds):
        order = list(modes) if i % 2 == 0 else list(modes)[::-1]
        for mode in order:
            tmp = Path(tempfile.mkdtemp(prefix="mailgraph-wal-"))
            try:
                r = asyncio.run(one_round(tmp / "data", modes[mode], args.duration, args.concurrency))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            results[mode].append(r)
            cells = " ".join(f"{k}={v:.1f}" for k, v in r.items())
            print(f"round {i + 1} {mode:<9} {cells} load={os.getloadavg()[0]:.1f}", flush=True)
    for mode, rs in results.items():
        cells = " ".join(f"{k}={statistics.median(r[k] for r in rs):.1f}" for k in rs[0])
        print(f"MEDIAN {mode:<9} {cells}")


if __name__ == "__main__":
    main()
