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
The background tasks run as in `serve` (the server's startup hook: delivery and webhook workers, the
folder-count fold, the change sequencer); their units are counted apart (`background`).

CPU per cycle (issue 11, "the next bottleneck"): this process's CPU time over the cycles (mailgraph:
the ASGI app without HTTP, plus its background tasks) and the CPU time of the database's backends
serving it (`/proc/PID/stat` of every backend of the throw-away database, plus PostgreSQL's WAL
writer, checkpointer and background writer, which the server shares with anything else running on
it), and the ceiling they put on cycles/s: cores ÷ CPU seconds per cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import contextvars
import os
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
IN_CYCLE = contextvars.ContextVar("in_cycle", default=False)
"""True in the cycle workers' tasks (not in background tasks started before them)."""
_TICK = os.sysconf("SC_CLK_TCK")


def _instrument() -> None:
    """Count the engine's calls (by kind, and by statement text) while a cycle runs."""
    conn = postgres.PgConn
    for name in ("execute", "fetch_one", "fetch_all", "execute_many"):
        original = getattr(conn, name)

        def counted(self: Any, sql: str, params: Any = (), _orig: Any = original, _name: str = name) -> Any:
            key = "cycle" if IN_CYCLE.get() else "background"
            COUNTS[f"{key}.{_name}"] += 1
            if _name == "execute_many":
                COUNTS[f"{key}.execute_many_rows"] += len(params)
            if IN_CYCLE.get():
                SQL[" ".join(sql.split())[:90]] += 1
            return _orig(self, sql, params)

        setattr(conn, name, counted)
    engine = postgres.PostgresEngine
    for name in ("write", "read"):
        original = getattr(engine, name)

        def unit(self: Any, fn: Any, _orig: Any = original, _name: str = name) -> Any:
            COUNTS[f"{'cycle' if IN_CYCLE.get() else 'background'}.{_name}_units"] += 1
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


async def _backends(admin: asyncpg.Connection, database: str) -> dict[int, str]:
    """The processes to charge: the database's backends ("db") and the server's WAL writer,
    checkpointer and background writer ("aux")."""
    rows = await admin.fetch(
        "SELECT pid, datname, backend_type FROM pg_stat_activity WHERE datname = $1"
        " OR backend_type IN ('walwriter', 'checkpointer', 'background writer')",
        database,
    )
    return {int(r["pid"]): "db" if r["datname"] == database else "aux" for r in rows}


def _cpu(pids: dict[int, str]) -> dict[str, float]:
    """User + system CPU seconds of these processes so far, by kind (a process gone counts 0)."""
    out = {"db": 0.0, "aux": 0.0}
    for pid, kind in pids.items():
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[kind] += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)
    return out


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
                assert app.on_startup is not None
                await app.on_startup()  # the background tasks of `serve`, outside the cycles' context
                _instrument()
                COUNTS.clear()
                IN_CYCLE.set(True)
                todo = iter(range(args.cycles))

                async def worker() -> None:
                    for _ in todo:
                        status, body = await call(app, root, DRAFT, auth)
                        assert status == 201, body
                        message_id = orjson.loads(body)["id"]
                        status, body = await call(app, f"{root}/{quote(message_id, safe='')}/send", b"", auth)
                        assert status == 202, body

                backends = await _backends(admin, name)  # before the sampler: one query at a time on `admin`
                sampling = asyncio.create_task(_sample_waits(admin, name))
                pg0, mg0, t0 = _cpu(backends), time.process_time(), time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(args.concurrency)))
                wall = time.perf_counter() - t0
                mg_cpu = time.process_time() - mg0
                pg1 = _cpu(backends)
                sampling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampling
                # Backends the pool opened during the cycles: all of their CPU was the cycles'.
                pg_cpu = {k: pg1[k] - pg0[k] for k in ("db", "aux")}
                new = {p: k for p, k in (await _backends(admin, name)).items() if p not in backends}
                pg_cpu["db"] += _cpu(new)["db"]
                IN_CYCLE.set(False)
            finally:
                await app._on_shutdown() if app._on_shutdown else await runtime.engine.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
    n = args.cycles
    print(
        f"cycles={n} concurrency={args.concurrency}: {n / wall:.0f} cycles/s ({1000 * wall / n:.2f} ms/cycle)"
    )
    mg, db, aux = (1000 * x / n for x in (mg_cpu, pg_cpu["db"], pg_cpu["aux"]))
    cores = os.cpu_count() or 1
    print(f"  CPU per cycle: mailgraph {mg:.2f} ms + PostgreSQL backends {db:.2f} ms"
          f" + WAL writer/checkpointer/bgwriter {aux:.2f} ms = {mg + db + aux:.2f} ms;"
          f" ceiling on {cores} cores: {1000 * cores / (mg + db + aux):.0f} cycles/s")  # fmt: skip
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
