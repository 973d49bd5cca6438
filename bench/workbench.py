"""Benchmark of the test workbench (issue 14) against a real `mailgraph serve` on 127.0.0.1.

    .venv/bin/python bench/workbench.py [--duration 10] [--concurrency 4] [--json FILE]
    .venv/bin/python bench/workbench.py --phases tenants --runs 3 --duration 5 \\
        --workers 1,4,8,16 --template default --durability full      # the pytest plugin's tenant

`--client plugin` makes the pairs with the pytest plugin's own client (urllib) instead of httpx.
`--workers` (tenants phase only) measures each listed number of concurrent create+delete loops on
the same server, one after the other; `--template` is the tenants' template (`default`: what the
pytest plugin's `mailgraph_tenant` makes); `--durability` is the server's (`full` is its default).

Measures, on one server process:
1. ephemeral tenants created and deleted per second (`POST` + `DELETE /_mailgraph/tenants`);
2. wait-for wake-up: a long-poll `…/messages/wait` is pending, then a seed commits a matching
   message; reported: from the seed's response to the wait's response (negative: the wait answered
   first), and from sending the seed to the wait's response (an upper bound of commit → answer);
3. create+send cycles per second with 0 and with 11 event-stream clients (one "test" SSE client and
   ten "UI" clients, each reading every event of the tenant), and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx

TOKEN = "bench-admin-token"
READY = re.compile(r"mailgraph ready: (http://\S+)")


def start(data: str, durability: str = "full") -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "mailgraph", "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", data,
           "--admin-token", TOKEN, "--log-level", "warning", "--durability", durability]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if found := READY.search(line):
            return proc, found.group(1)
    proc.kill()
    raise SystemExit("server did not start")


async def tenants_per_second(
    c: httpx.AsyncClient, duration: float, concurrency: int, template: str = "single"
) -> float:
    done = 0
    end = time.monotonic() + duration

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < end:
            r = await c.post("/_mailgraph/tenants", json={"template": template})
            assert r.status_code == 201, r.text
            d = await c.delete(f"/_mailgraph/tenants/{r.json()['id']}")
            assert d.status_code == 204
            done += 1

    start_t = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.monotonic() - start_t)


async def plugin_tenants_per_second(url: str, duration: float, concurrency: int, template: str) -> float:
    """As `tenants_per_second`, through the pytest plugin's own client (`MailgraphServer`: the
    standard library's urllib, a new connection per request), `concurrency` threads."""
    from mailgraph.pytest_plugin import MailgraphServer

    server = MailgraphServer(url, TOKEN)
    done = 0
    end = time.monotonic() + duration

    def worker() -> None:
        nonlocal done
        while time.monotonic() < end:
            server.create_tenant(template=template).delete()
            done += 1

    start_t = time.monotonic()
    await asyncio.gather(*(asyncio.to_thread(worker) for _ in range(concurrency)))
    return done / (time.monotonic() - start_t)


async def wake_latency(c: httpx.AsyncClient, tenant: dict[str, Any], rounds: int) -> dict[str, float]:
    after_seed: list[float] = []
    after_send: list[float] = []
    base = f"/_mailgraph/tenants/{tenant['id']}"
    for i in range(rounds):
        subject = f"wake-{i}-{time.monotonic_ns()}"
        wait = asyncio.create_task(
            c.get(f"{base}/messages/wait", params={"subject": subject, "timeout": "10"})
        )
        await asyncio.sleep(0.05)  # the wait is pending on the server
        sent = time.perf_counter()
        seed = await c.post(
            f"{base}/messages", json={"messages": [{"mailbox": "alice", "message": {"subject": subject}}]}
        )
        seeded = time.perf_counter()
        r = await wait
        answered = time.perf_counter()
        assert seed.status_code == 201 and r.status_code == 200, (seed.text, r.text)
        after_seed.append((answered - seeded) * 1000)
        after_send.append((answered - sent) * 1000)
    q = statistics.quantiles
    return {
        "after_seed_response_ms_median": statistics.median(after_seed),
        "after_seed_response_ms_p95": q(after_seed, n=20)[18],
        "from_seed_request_ms_median": statistics.median(after_send),
        "from_seed_request_ms_p95": q(after_send, n=20)[18],
    }


async def cycles_per_second(url: str, tenant: dict[str, Any], duration: float, concurrency: int) -> float:
    app = tenant["apps"][0]
    form = {"grant_type": "client_credentials", "client_id": app["clientId"], "client_secret": app["clientSecret"],
            "scope": "https://graph.microsoft.com/.default"}  # fmt: skip
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        token = (await c.post(tenant["tokenUrl"], data=form)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        alice, bob = tenant["users"][0]["userPrincipalName"], tenant["users"][1]["userPrincipalName"]
        done = 0
        end = time.monotonic() + duration
        draft = {"subject": "cycle", "body": {"contentType": "text", "content": "x"},
                 "toRecipients": [{"emailAddress": {"address": bob}}]}  # fmt: skip

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < end:
                r = await c.post(f"/v1.0/users/{alice}/messages", json=draft, headers=headers)
                s = await c.post(f"/v1.0/users/{alice}/messages/{r.json()['id']}/send", headers=headers)
                assert s.status_code == 202
                done += 1

        start_t = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.monotonic() - start_t)


async def listen(url: str, tenant_id: str, stop: asyncio.Event, counts: list[int], slot: int) -> None:
    """One UI-like stream client: reads the raw stream and counts `event:` frames.

    A lean reader (raw socket, `bytes.count`), not httpx: the 11 clients share the 2 cores with the
    server, so a heavy client would measure itself (a browser's EventSource runs in another process)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"GET /_mailgraph/tenants/{tenant_id}/events HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    tail = b""
    try:
        while not stop.is_set():
            data = await reader.read(65536)
            if not data:
                return
            data = tail + data
            counts[slot] += data.count(b"event: ")
            tail = data[-6:]
            counts[slot] -= tail.count(b"event: ")
    finally:
        writer.close()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed(pid: int, run: Any) -> tuple[float, float]:
    """(ops/s, server CPU ms per op) of one measured phase; `run` returns (ops/s, seconds)."""
    before = cpu_s(pid)
    rate, seconds = await run
    ops = rate * seconds
    return rate, (cpu_s(pid) - before) * 1000 / max(ops, 1)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as data:
        proc, url = start(data, args.durability)
        try:
            async with httpx.AsyncClient(
                base_url=url, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"}
            ) as c:
                if "tenants" in args.phases:
                    for workers in args.workers or [args.concurrency]:

                        def pairs(seconds: float, workers: int = workers) -> Any:
                            if args.client == "plugin":
                                return plugin_tenants_per_second(url, seconds, workers, args.template)
                            return tenants_per_second(c, seconds, workers, args.template)

                        await pairs(1.0)  # warm-up
                        rates = [await timed(proc.pid, _secs(pairs(args.duration), args.duration)) for _ in range(args.runs)]  # fmt: skip
                        suffix = "" if not args.workers else f"_{workers}_workers"
                        result[f"tenants_create_delete_per_s{suffix}"] = [round(r, 1) for r, _ in rates]
                        result[f"tenants_create_delete_per_s{suffix}_median"] = round(
                            statistics.median(r for r, _ in rates), 1
                        )
                        result[f"tenants_server_cpu_ms_per_pair{suffix}"] = [round(m, 2) for _, m in rates]
                    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
                tenant = (await c.post("/_mailgraph/tenants", json={})).json()
                if "wake" in args.phases:
                    wake = await wake_latency(c, tenant, args.rounds)
                    result["wait_wake"] = {k: round(v, 2) for k, v in wake.items()}
            if "stream" in args.phases:
                await cycles_per_second(url, tenant, 1.0, args.concurrency)  # warm-up
                ratios, bare_l, watched_l, seen = [], [], [], []
                for _ in range(args.runs):  # paired runs: noise common to both cancels in the ratio
                    bare = await timed(proc.pid, _secs(cycles_per_second(url, tenant, args.duration, args.concurrency), args.duration))  # fmt: skip
                    stop, counts = asyncio.Event(), [0] * 11
                    listeners = [
                        asyncio.create_task(listen(url, tenant["id"], stop, counts, i)) for i in range(11)
                    ]
                    await asyncio.sleep(0.5)
                    watched = await timed(proc.pid, _secs(cycles_per_second(url, tenant, args.duration, args.concurrency), args.duration))  # fmt: skip
                    await asyncio.sleep(0.5)
                    stop.set()
                    for t in listeners:
                        t.cancel()
                    await asyncio.gather(*listeners, return_exceptions=True)
                    bare_l.append(bare)
                    watched_l.append(watched)
                    ratios.append(watched[0] / bare[0])
                    seen.append(min(counts))
                result["cycles_per_s_no_listeners"] = [round(r, 1) for r, _ in bare_l]
                result["cycles_per_s_11_listeners"] = [round(r, 1) for r, _ in watched_l]
                result["server_cpu_ms_per_cycle_no_listeners"] = [round(m, 2) for _, m in bare_l]
                result["server_cpu_ms_per_cycle_11_listeners"] = [round(m, 2) for _, m in watched_l]
                result["ratio_with_listeners"] = [round(r, 3) for r in ratios]
                result["ratio_with_listeners_median"] = round(statistics.median(ratios), 3)
                result["events_seen_per_listener_min"] = seen
        finally:
            proc.terminate()
            proc.wait(15)
    return result


async def _secs(run: Any, seconds: float) -> tuple[float, float]:
    return await run, seconds


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--runs", type=int, default=1, help="measured runs per phase (stream: paired)")
    parser.add_argument("--rounds", type=int, default=50, help="wait-for wake-up samples")
    parser.add_argument("--phases", default="tenants,wake,stream", help="comma list of tenants, wake, stream")
    parser.add_argument("--workers", default="", help="tenants phase: comma list of concurrencies (1,4,8,16)")
    parser.add_argument("--template", default="single", help="tenants phase: the tenants' template")
    parser.add_argument(
        "--client",
        default="httpx",
        choices=("httpx", "plugin"),
        help="tenants phase: httpx "
        "(keep-alive, asyncio) or the pytest plugin's client (urllib, a connection per request)",
    )
    parser.add_argument("--durability", default="full", choices=("full", "normal"), help="the server's")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    args.phases = set(args.phases.split(","))
    args.workers = [int(w) for w in args.workers.split(",") if w]
    out = asyncio.run(main(args))
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
