"""Run N ephemeral tenant create + delete pairs in-process, serially, for cost counting (issue 14).

The workbench benchmark (`bench/workbench.py`) measures tenants/s over HTTP on a shared machine; this
counts what one `POST /_mailgraph/tenants` + `DELETE /_mailgraph/tenants/{id}` costs the server,
through the ASGI app without uvicorn and sockets, like `bench/cycle_cost.py` for the send cycle:

    .venv/bin/python bench/tenant_cost.py 200                 # CPU ms per pair (process time)
    .venv/bin/python bench/tenant_cost.py 200 --profile       # + the top of a cProfile
    PYTHONHASHSEED=0 valgrind --tool=callgrind --separate-threads=yes \\
        --callgrind-out-file=/tmp/cg .venv/bin/python bench/tenant_cost.py 20 --template /tmp/tpl
    (same with 220)  ->  difference of the sums of the thread files / 200, as in cycle_cost.py

`--template DIR` (made once with `--make-template DIR`) copies a data dir whose signing keys exist.
`--durability full` (serve's default; here `normal` by default, to count CPU, not fsync waits) and
`--concurrency N` (N create+delete loops at once) show group commit at work: on SQLite it prints
the write batches and the units committed in them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from mailgraph.config import Settings
from mailgraph.wiring import build

ADMIN = "bench-admin-token"


async def call(app: Any, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """One request through the ASGI interface; (status, body)."""
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {ADMIN}".encode()),
                    (b"content-type", b"application/json")],
        "scheme": "http", "server": ("127.0.0.1", 5000),
    }  # fmt: skip
    await app(scope, receive, send)  # type: ignore[arg-type]
    return int(sent[0]["status"]), bytes(sent[1].get("body", b"")) if len(sent) > 1 else b""  # type: ignore[call-overload]


async def main(
    pairs: int, data_dir: Path, template: str, profile: bool, durability: str = "normal", concurrency: int = 1
) -> None:
    """Create and delete `pairs` ephemeral tenants; print CPU ms per pair."""
    settings = Settings(data_dir=data_dir, durability=durability, admin_token=ADMIN)  # type: ignore[arg-type]
    runtime = await build(settings)
    body = orjson.dumps({"template": template})
    try:
        app = runtime.app

        async def one() -> None:
            status, created = await call(app, "POST", "/_mailgraph/tenants", body)
            assert status == 201, created
            status, _ = await call(app, "DELETE", f"/_mailgraph/tenants/{orjson.loads(created)['id']}", b"")
            assert status == 204

        async def loop(n: int) -> None:
            for _ in range(n):
                await one()

        await one()  # warm: the donor key, imports, statement caches
        engine = runtime.engine
        batches, units = getattr(engine, "batches", 0), getattr(engine, "units", 0)
        prof = cProfile.Profile() if profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if prof:
            prof.enable()
        await asyncio.gather(*(loop(pairs // concurrency) for _ in range(concurrency)))
        pairs = pairs // concurrency * concurrency
        if prof:
            prof.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{pairs} pairs: {cpu / pairs * 1000:.2f} ms CPU/pair, {wall / pairs * 1000:.2f} ms wall/pair,"
              f" {pairs / wall:.0f} pairs/s ({durability}, {concurrency} at once)")  # fmt: skip
        if hasattr(engine, "batches"):
            batches, units = engine.batches - batches, engine.units - units
            print(f"write batches: {batches}, units: {units} ({units / max(batches, 1):.2f} per batch)")
        db = data_dir / "mailgraph.db"
        if db.exists():  # deleted tenants' pages are reused: the file stays flat under create/delete churn
            print(f"database file after the run: {db.stat().st_size / 1024:.0f} KiB")
        if prof:
            pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
    finally:
        await runtime.engine.close()


def cli() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", type=int, nargs="?", default=200)
    parser.add_argument("--tenant-template", default="single", help="workbench template of each tenant")
    parser.add_argument("--template", type=Path, help="data directory to copy (made by --make-template)")
    parser.add_argument("--make-template", type=Path, metavar="DIR", help="create a template and exit")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--durability", choices=("full", "normal"), default="normal")
    parser.add_argument("--concurrency", type=int, default=1, help="create+delete loops at once")
    args = parser.parse_args()
    if args.make_template is not None:
        asyncio.run(main(0, args.make_template, args.tenant_template, False))
        return
    with tempfile.TemporaryDirectory(prefix="mailgraph-tenants-") as tmp:
        data_dir = Path(tmp) / "data"
        if args.template is not None:
            shutil.copytree(args.template, data_dir)
        asyncio.run(
            main(args.pairs, data_dir, args.tenant_template, args.profile, args.durability, args.concurrency)
        )


if __name__ == "__main__":
    cli()
