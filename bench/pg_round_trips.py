"""Round trips, statements and transactions per create+send cycle on PostgreSQL (issue 11).

Usage::

    python bench/pg_round_trips.py [--server postgresql://postgres@127.0.0.1:5432] [--cycles 200]

Makes a throw-away database on `--server` (dropped at the end), builds the server on it exactly as
`mailgraph serve --database …` does (default durability), runs `--cycles` create+send cycles (JSON
draft to bob, then send) through the ASGI app — the same cycle as bench/run.py and
bench/cycle_cost.py — and counts, per cycle, what the PostgreSQL engine sends: statements
(`PgConn.execute/fetch_one/fetch_all` calls; one `execute_many` counts as one pipelined round trip
plus its rows), transactions (write and read units), the cycles/s with `--concurrency` cycles in
flight, and what the database's active sessions wait for meanwhile (pg_stat_activity, sampled:
`Lock:transactionid` = a row lock held by another unit until it commits, `IO:WALSync` = the commit's
flush). Round trips are
the latency floor of a unit on PostgreSQL (each statement waits for its answer), so these counts are
the machine-independent side of the throughput figures, which are noisy on a shared machine.
The notification and relay workers run as in `serve`; their units are counted apart (`background`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import orjson

sys.path.insert(0, str(Path(__file__).parent))
from cycle_cost import DRAFT, call

from mailgraph.config import Settings
from mailgraph.store.engines import postgres
from mailgraph.wiring import build

COUNTS: collections.Counter[str] = collections.Counter()
SQL: collections.Counter[str] = collections.Counter()
IN_CYCLE = [False]


def _instrument() -> None:
    """Count the engine's calls (by kind, and by statement text) while a cycle runs."""
    conn = postgres.PgConn
    for name in ("execute", "fetch_one", "fetch_all", "execute_many"):
        original = getattr(conn, name)

        def counted(self: Any, sql: str, params: Any = (), _orig: Any = original, _name: str = name) -> Any:
            key = "cycle" if IN_CYCLE[0] else "background"
            COUNTS[f"{key}.{_name}"] += 1
            if _name == "execute_many":
                COUNTS[f"{key}.execute_many_rows"] += len(params)
            if IN_CYCLE[0]:
                SQL[" ".join(sql.split())[:90]] += 1
            return _orig(self, sql, params)

        setattr(conn, name, counted)
    engine = postgres.PostgresEngine
    for name in ("write", "read"):
        original = getattr(engine, name)

        def unit(self: Any, fn: Any, _orig: Any = original, _name: str = name) -> Any:
            COUNTS[f"{'cycle' if IN_CYCLE[0] else 'background'}.{_name}_units"] += 1
            return _orig(self, fn)

        setattr(engine, name, unit)


WAITS: collections.Counter[str] = collections.Counter()
BLOCKED: collections.Counter[str] = collections.Counter()  # statements waiting for a lock


async def _sample_waits(admin: asyncpg.Connection, database: str) -> None:
    """What the database's sessions wait for, sampled every 20 ms (pg_stat_activity)."""
    while True:
        for r in await admin.fetch(
            "SELECT state, wait_event_type, wait_event, left(query, 60) AS q FROM pg_stat_activity WHERE datname = $1",
            database,
        ):
            if r["state"] == "active" or r["wait_event_type"] == "Lock":
                WAITS[f"{r['wait_event_type']}:{r['wait_event']}"] += 1
                if r["wait_event_type"] == "Lock":
                    BLOCKED[r["q"]] += 1
        await asyncio.sleep(0.02)


async def main(args: argparse.Namespace) -> None:
    name = f"mg_rt_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(args.server.rstrip("/") + "/postgres")
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        with tempfile.TemporaryDirectory(prefix="mg-pg-rt-") as tmp:
            settings = Settings(data_dir=Path(tmp), database=args.server.rstrip("/") + "/" + name)
            runtime = await build(settings)
            try:
                app = runtime.app
                registered = await runtime.engine.read(lambda tx: tx.directory.get_app("mailgraph-demo"))
                assert registered is not None
                token = app.services.tokens.issue_app_token(runtime.tenant, registered)
                auth = [
                    (b"authorization", f"Bearer {token}".encode()),
                    (b"content-type", b"application/json"),
                ]
                root = "/v1.0/users/alice@contoso.com/messages"
                _instrument()
                COUNTS.clear()
                IN_CYCLE[0] = True
                todo = iter(range(args.cycles))

                async def worker() -> None:
                    for _ in todo:
                        status, body = await call(app, root, DRAFT, auth)
                        assert status == 201, body
                        message_id = orjson.loads(body)["id"]
                        status, body = await call(app, f"{root}/{quote(message_id, safe='')}/send", b"", auth)
                        assert status == 202, body

                sampling = asyncio.create_task(_sample_waits(admin, name))
                t0 = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(args.concurrency)))
                wall = time.perf_counter() - t0
                sampling.cancel()
                IN_CYCLE[0] = False
            finally:
                await runtime.engine.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
    n = args.cycles
    print(
        f"cycles={n} concurrency={args.concurrency}: {n / wall:.0f} cycles/s ({1000 * wall / n:.2f} ms/cycle)"
    )
    total = sum(WAITS.values()) or 1
    print("  active sessions by wait event (sampled):", ", ".join(
        f"{k} {100 * v / total:.0f}%" for k, v in WAITS.most_common(6)))  # fmt: skip
    blocked = sum(BLOCKED.values()) or 1
    for sql, count in BLOCKED.most_common(4):
        print(f"  waiting for a lock in: {100 * count / blocked:3.0f}%  {sql}")
    for key in sorted(COUNTS):
        print(f"  {key:32s} {COUNTS[key] / n:7.2f} per cycle")
    statements = sum(
        v for k, v in COUNTS.items() if k.startswith("cycle.") and not k.endswith(("_units", "_rows"))
    )
    print(f"  round trips in the cycle (statements + BEGIN/COMMIT of each unit): "
          f"{(statements + 2 * (COUNTS['cycle.write_units'] + COUNTS['cycle.read_units'])) / n:.1f}")  # fmt: skip
    if args.statements:
        for sql, count in SQL.most_common():
            print(f"  {count / n:5.2f}  {sql}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--statements", action="store_true", help="list the statements of a cycle")
    parser.add_argument("--concurrency", type=int, default=1, help="cycles in flight (as bench/run.py: 16)")
    asyncio.run(main(parser.parse_args()))
