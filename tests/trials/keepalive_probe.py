"""The keep-alive race under load, counted (issue 17; docs/reliability.md, the soak's `ReadError`s).

`python -m tests.trials.keepalive_probe [--seconds S] [--server-keepalive K] [--client-expiry E]`:
a `mailgraph serve` (SQLite) kept busy by the crash trials' load (harness.Load), and `--probes`
clients that each send `sendMail`, let their one pooled connection idle for just under their pool's
expiry (`--client-expiry`, as httpx reuses it), then send `sendMail` on it again. A request whose
connection was closed or reset under it (no answer) is counted; nothing is re-sent.

With the server's keep-alive equal to the client's expiry (5 s, the old default and httpx's) the
server could close a connection with the client's POST already in its socket; the server now does
not close over a request that has arrived (cli/http_limits.py), and its default keep-alive (30 s)
is above the pools' expiry. Run it against another tree with PYTHONPATH=<tree>/src.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.delivery.sink import Sink
from tests.trials.harness import Load, ServerProcess, token


async def _probe(url: str, auth: dict[str, str], expiry: float, until: float, counts: dict[str, int]) -> None:
    limits = httpx.Limits(max_connections=1, keepalive_expiry=expiry)
    body = {"message": Load._message("probe")}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        while time.monotonic() < until:
            try:
                await client.post("/v1.0/users/alice@fabrikam.test/sendMail", json=body, headers=auth)
                await asyncio.sleep(expiry * random.uniform(0.9, 0.999))  # the pool still trusts it
                r = await client.post("/v1.0/users/alice@fabrikam.test/sendMail", json=body, headers=auth)
                counts["answered"] += 1
                counts["5xx"] += r.status_code >= 500
            except httpx.HTTPError as e:
                counts[f"no answer ({type(e).__name__})"] = (
                    counts.get(f"no answer ({type(e).__name__})", 0) + 1
                )


async def main(seconds: float, server_keepalive: int, expiry: float, probes: int) -> dict[str, int]:
    blocking = asyncio.to_thread
    with tempfile.TemporaryDirectory(prefix="mg-kaprobe-") as tmp:
        sink = await blocking(Sink)
        server = ServerProcess(Path(tmp) / "data", None, 1, sink.url)
        server.args[server.args.index("--http-keepalive") + 1] = str(server_keepalive)
        try:
            if not await blocking(server.start, 120):
                raise RuntimeError(server.log.read_text()[-2000:])
            auth = await blocking(token, server.url)
            load = Load(server, "kaprobe")
            background = asyncio.create_task(load.run(auth))
            counts = {"answered": 0, "5xx": 0}
            until = time.monotonic() + seconds
            await asyncio.gather(*(_probe(server.url, auth, expiry, until, counts) for _ in range(probes)))
            load.stopping = True
            await background
            return counts
        finally:
            await blocking(server.stop)
            await blocking(sink.stop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.trials.keepalive_probe")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--server-keepalive", type=int, default=5)
    parser.add_argument("--client-expiry", type=float, default=5.0)
    parser.add_argument("--probes", type=int, default=16)
    a = parser.parse_args()
    print(asyncio.run(main(a.seconds, a.server_keepalive, a.client_expiry, a.probes)))
    sys.exit(0)
