"""Run N list requests in-process, serially, for deterministic cost counting (docs/performance.md).

The request is `bench/client.py`'s `LIST_PATH` (the newest 50 unread of alice's Inbox with a `$filter`
and a five-property `$select`) through the ASGI app, without uvicorn and sockets. A change is
measured as the difference of two runs under callgrind, like bench/cycle_cost.py:

    .venv/bin/python bench/list_cost.py --make-template /tmp/lc-tpl           # demo tenant + 2,000 messages
    PYTHONHASHSEED=0 valgrind --tool=callgrind --separate-threads=yes \\
        --callgrind-out-file=/tmp/lc .venv/bin/python bench/list_cost.py 20 --template /tmp/lc-tpl
    (same with 220)  ->  ((all threads of the 220 run) - (same of the 20 run)) / 200

A read runs on the event loop thread and one reader thread of the engine; count both (`cg-01` and the
reader's file), leave out the WAL checkpointer's. `--profile` prints a cProfile of the run instead;
`--path` lists something else (for example without `$select`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import shutil
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from client import LIST_PATH
from cycle_cost import App
from load_store import load

from mailgraph.config import Settings
from mailgraph.wiring import build


async def get(app: App, target: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """One GET through the ASGI interface; (status, body)."""
    path, _, query = target.partition("?")
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "scheme": "http",
        "server": ("127.0.0.1", 5000),
    }
    await app(scope, receive, send)
    return int(sent[0]["status"]), b"".join(bytes(m.get("body", b"")) for m in sent[1:])


async def main(requests: int, data_dir: Path, target: str, profile: bool) -> None:
    """Answer `requests` list requests against a runtime on `data_dir`; fail loudly on any error."""
    runtime = await build(Settings(data_dir=data_dir, durability="normal", throttle="off", worker=False))
    try:
        app = runtime.app
        registered = await runtime.engine.read(lambda tx: tx.directory.get_app("mailgraph-demo"))
        assert registered is not None, "the demo tenant has no mailgraph-demo app"
        token = app.services.tokens.issue_app_token(runtime.tenant, registered)
        auth = [(b"authorization", f"Bearer {token}".encode())]
        status, body = await get(app, target, auth)  # warm: folder ids, token cache, statements
        assert status == 200, body
        prof = cProfile.Profile() if profile else None
        if prof is not None:
            prof.enable()
        for _ in range(requests):
            status, body = await get(app, target, auth)
            assert status == 200, body
        if prof is not None:
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(40)
    finally:
        await runtime.engine.close()


def cli() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests", type=int, nargs="?", default=200)
    parser.add_argument("--template", type=Path, help="data directory to copy (made by --make-template)")
    parser.add_argument("--make-template", type=Path, metavar="DIR", help="create a template and exit")
    parser.add_argument("--messages", type=int, default=2000, help="messages in a new template")
    parser.add_argument("--path", default=LIST_PATH, help="the request target (default: client.LIST_PATH)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the timed requests")
    args = parser.parse_args()
    if args.make_template is not None:
        asyncio.run(load(args.make_template, args.messages, quiet=True))
        return
    with tempfile.TemporaryDirectory(prefix="mailgraph-list-cost-") as tmp:
        data_dir = Path(tmp) / "data"
        if args.template is not None:
            shutil.copytree(args.template, data_dir)
        else:
            asyncio.run(load(data_dir, args.messages, quiet=True))
        asyncio.run(main(args.requests, data_dir, args.path, args.profile))


if __name__ == "__main__":
    cli()
