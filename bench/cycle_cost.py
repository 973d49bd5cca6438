"""Run N create+send cycles in-process, serially, for deterministic cost counting (docs/performance.md).

On a shared 2-core machine wall-clock and CPU-time numbers move by 5-30 % between identical runs,
which hides the 1-3 % changes a hot-path fix makes. Instructions counted under valgrind move by
±0.2 % here, so a change is measured as the difference of two runs:

    PYTHONHASHSEED=0 valgrind --tool=callgrind --separate-threads=yes \\
        --callgrind-out-file=/tmp/cg .venv/bin/python bench/cycle_cost.py 20 --template /tmp/tpl
    (same with 220)  ->  ((cg-01 + cg-02 of the 220 run) - (same of the 20 run)) / 200

`cg-01` is the event loop's thread, `cg-02` the SQLite writer's. Leave out `cg-03`, the WAL
checkpointer: it wakes on a timer, so its work follows the wall clock (valgrind's ~50x slowdown),
not the code, and swings by ±15 % of a cycle between identical runs.

`--template DIR`: a data directory made once with `--make-template` (its signing keys already exist:
RSA key generation does a random amount of work and would swamp the difference). Each run copies it.
The cycle is the one `bench/run.py` measures (JSON draft to bob, then send), through the ASGI app
with `durability=normal` (the fsync is the kernel's work, not ours), without uvicorn and sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from mailgraph.cli.heap import freeze_startup_heap
from mailgraph.config import Settings
from mailgraph.wiring import build

App = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]
DRAFT = orjson.dumps(
    {
        "subject": "bench",
        "body": {"contentType": "Text", "content": "hello"},
        "toRecipients": [{"emailAddress": {"address": "bob@contoso.com"}}],
    }
)


async def call(app: App, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """One POST through the ASGI interface; (status, body)."""
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "scheme": "http",
        "server": ("127.0.0.1", 5000),
    }
    await app(scope, receive, send)
    return int(sent[0]["status"]), bytes(sent[1]["body"])


async def main(
    cycles: int, data_dir: Path, throttle: str = "off", sends: int | None = None, freeze: bool = True
) -> None:
    """Run `cycles` create+send cycles against a runtime on `data_dir`; fail loudly on any error.

    `sends`: the demo tenant with the exchange-online profile and this many sends per minute, so a run
    longer than 30 sends measures sending, not holding (the preset's 30/min would hold the rest)."""
    tenant_file = None
    if sends is not None:
        tenant_file = data_dir.parent / "tenant.toml"
        demo = (Path(__file__).parent.parent / "src/mailgraph/demo_tenant.toml").read_text(encoding="utf-8")
        tenant_file.write_text(f"{demo}\n[throttling]\nprofile = 'exchange-online'\nsends = {sends}\n")
    settings = Settings(data_dir=data_dir, durability="normal", throttle=throttle, tenant_file=tenant_file)
    runtime = await build(settings)
    if freeze:
        freeze_startup_heap()  # as `mailgraph serve` does before its first request (cli/heap.py)
    try:
        app = runtime.app
        registered = await runtime.engine.read(lambda tx: tx.directory.get_app("mailgraph-demo"))
        assert registered is not None, "the demo tenant has no mailgraph-demo app"
        token = app.services.tokens.issue_app_token(runtime.tenant, registered)
        auth = [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")]
        root = "/v1.0/users/alice@contoso.com/messages"
        for _ in range(cycles):
            status, body = await call(app, root, DRAFT, auth)
            assert status == 201, body
            message_id = orjson.loads(body)["id"]
            status, body = await call(app, f"{root}/{quote(message_id, safe='')}/send", b"", auth)
            assert status == 202, body
    finally:
        await runtime.engine.close()


def cli() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cycles", type=int, nargs="?", default=200)
    parser.add_argument("--template", type=Path, help="data directory to copy (made by --make-template)")
    parser.add_argument("--make-template", type=Path, metavar="DIR", help="create a template and exit")
    parser.add_argument("--throttle", default="off", help="throttling profile (issue 13: on vs off)")
    parser.add_argument("--sends", type=int, help="tenant profile exchange-online with this many sends/min")
    parser.add_argument(
        "--no-freeze", action="store_true", help="leave the start-up heap to the collector (cli/heap.py)"
    )
    args = parser.parse_args()
    if args.make_template is not None:
        asyncio.run(main(0, args.make_template))
        return
    with tempfile.TemporaryDirectory(prefix="mailgraph-cost-") as tmp:
        data_dir = Path(tmp) / "data"
        if args.template is not None:
            shutil.copytree(args.template, data_dir)
        asyncio.run(main(args.cycles, data_dir, args.throttle, args.sends, not args.no_freeze))


if __name__ == "__main__":
    cli()
