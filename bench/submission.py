"""Benchmark: authenticated SMTP submissions/s vs Graph create+send cycles/s, same server, same run.

Usage (see bench/README.md, "SMTP submission")::

    python bench/submission.py [--runs 3] [--duration 8] [--warmup 2] [--connections 4] [--json out.json]

It starts ``mailgraph serve --submission-port 0`` on a fresh temporary data dir with a small tenant
(alice@ and bob@contoso.com, an app with SMTP.SendAsApp and Mail.ReadWrite/Mail.Send), gets two
app-only tokens from the token endpoint (Exchange Online's for SMTP, Graph's), then alternates two
phases per run, each with ``--connections`` concurrent clients for ``--duration`` seconds:

- **SMTP**: aiosmtplib connections, STARTTLS + ``AUTH XOAUTH2`` once per connection (as Django's or
  Rails' SMTP backends keep a connection), then MAIL/RCPT/DATA from alice to bob back to back; a
  submission counts when DATA answered 250 (committed: Sent Items copy + bob's Inbox copy);
- **Graph**: httpx clients over keep-alive connections, ``POST /users/alice/messages`` (a draft to bob)
  then ``POST …/messages/{id}/send`` (202): one create+send cycle, the same work on the store.

The summary is the median over runs of each rate and their ratio (target ≥ 0.8). The server is stopped
by PID. Exit status: 0 clean, 1 if any request failed, 2 if the setup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx

TENANT = """
[tenant]
domains = ["contoso.com"]

[[users]]
userPrincipalName = "alice@contoso.com"
displayName = "Alice"
password = "Passw0rd!"

[[users]]
userPrincipalName = "bob@contoso.com"
displayName = "Bob"
password = "Passw0rd!"

[[apps]]
clientId = "bench-app"
clientSecret = "bench-secret"
applicationPermissions = ["SMTP.SendAsApp", "Mail.ReadWrite", "Mail.Send"]
"""
_HTTP = re.compile(r"mailgraph ready: (http://[^\s]+)")
_SUBMISSION = re.compile(r"mailgraph SMTP submission: smtp://[^:]+:(\d+)")
ALICE, BOB = "alice@contoso.com", "bob@contoso.com"


def message(n: int) -> bytes:
    """A small plain-text message (about 1 KB), as an application sends a notification."""
    body = "The quick brown fox jumps over the lazy dog, again and again.\r\n" * 12
    return (
        f"From: {ALICE}\r\nTo: {BOB}\r\nSubject: submission {n}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


def xoauth2(user: str, token: str) -> str:
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


async def _smtp_client(port: int, tls: ssl.SSLContext, token: str, until: float, out: dict[str, Any]) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=True, tls_context=tls, timeout=60)
    async with client:
        await client.auth_xoauth2(ALICE, token)
        n = 0
        while time.perf_counter() < until:
            n += 1
            try:
                await client.sendmail(ALICE, [BOB], message(n))
                out["done"] += 1
            except aiosmtplib.SMTPException as exc:
                out["errors"].append(repr(exc)[:200])


async def _graph_client(client: httpx.AsyncClient, token: str, until: float, out: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    draft = {
        "subject": "graph cycle",
        "body": {"contentType": "text", "content": "The quick brown fox. " * 40},
        "toRecipients": [{"emailAddress": {"address": BOB}}],
    }
    while time.perf_counter() < until:
        r = await client.post(f"/v1.0/users/{ALICE}/messages", json=draft, headers=headers)
        if r.status_code != 201:
            out["errors"].append(f"create {r.status_code}")
            continue
        s = await client.post(f"/v1.0/users/{ALICE}/messages/{r.json()['id']}/send", headers=headers)
        if s.status_code == 202:
            out["done"] += 1
        else:
            out["errors"].append(f"send {s.status_code}")


async def _phase(kind: str, ctx: dict[str, Any], connections: int, duration: float) -> dict[str, Any]:
    out: dict[str, Any] = {"done": 0, "errors": []}
    until = time.perf_counter() + duration
    if kind == "smtp":
        await asyncio.gather(
            *(
                _smtp_client(ctx["port"], ctx["tls"], ctx["smtp_token"], until, out)
                for _ in range(connections)
            )
        )
    else:
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(base_url=ctx["url"], limits=limits, timeout=60) as client:
            await asyncio.gather(
                *(_graph_client(client, ctx["graph_token"], until, out) for _ in range(connections))
            )
    return {"per_s": out["done"] / duration, "errors": out["errors"]}


async def _token(url: str, scope: str) -> str:
    async with httpx.AsyncClient(base_url=url) as client:
        r = await client.post(
            "/contoso.com/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "bench-app",
                "client_secret": "bench-secret",
                "scope": scope,
            },
        )
        r.raise_for_status()
        return str(r.json()["access_token"])


def _start(data_dir: Path, tenant: Path, server_args: list[str]) -> tuple[subprocess.Popen[str], str, int]:
    exe = Path(sys.executable).with_name("mailgraph")
    cmd = [str(exe), "serve", "--host", "127.0.0.1", "--port", "0", "--submission-port", "0"]
    cmd += ["--data-dir", str(data_dir), "--tenant", str(tenant), *server_args]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert server.stdout is not None
    url, port, deadline = "", 0, time.time() + 90
    while time.time() < deadline and not (url and port):
        line = server.stdout.readline()
        if not line:
            break
        if found := _HTTP.search(line):
            url = found.group(1)
        if found := _SUBMISSION.search(line):
            port = int(found.group(1))
    if not (url and port):
        server.kill()
        raise SystemExit("setup failed: the server printed no HTTP or submission port")
    return server, url, port


async def _runs(args: argparse.Namespace, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    runs = []
    for i in range(args.runs):
        result: dict[str, Any] = {}
        # Alternate which goes first, so a slowly growing store does not favour one side.
        order = ("smtp", "graph") if i % 2 == 0 else ("graph", "smtp")
        for kind in order:
            if args.warmup > 0:
                await _phase(kind, ctx, args.connections, args.warmup)
            result[kind] = await _phase(kind, ctx, args.connections, args.duration)
        ratio = result["smtp"]["per_s"] / max(result["graph"]["per_s"], 1e-9)
        result["ratio"] = ratio
        print(
            f"run {i + 1}: SMTP {result['smtp']['per_s']:.0f} submissions/s, Graph {result['graph']['per_s']:.0f}"
            f" create+send/s, ratio {ratio:.2f}, errors {len(result['smtp']['errors']) + len(result['graph']['errors'])}",
            flush=True,
        )
        runs.append(result)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--server-args", default="", help='extra serve flags, e.g. "--durability normal"')
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailgraph-submission-bench-") as tmp:
        tenant = Path(tmp) / "tenant.toml"
        tenant.write_text(TENANT, encoding="utf-8")
        data_dir = Path(tmp) / "data"
        try:
            server, url, port = _start(data_dir, tenant, args.server_args.split())
        except SystemExit as exc:
            print(exc, file=sys.stderr)
            return 2
        drain = subprocess.Popen(["cat"], stdin=server.stdout, stdout=subprocess.DEVNULL)
        try:
            tls = ssl.create_default_context(cafile=str(data_dir / "tls" / "ca.crt.pem"))

            async def go() -> list[dict[str, Any]]:
                ctx = {
                    "url": url,
                    "port": port,
                    "tls": tls,
                    "smtp_token": await _token(url, "https://outlook.office.com/.default"),
                    "graph_token": await _token(url, "https://graph.microsoft.com/.default"),
                }
                return await _runs(args, ctx)

            runs = asyncio.run(go())
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            drain.wait(timeout=10)
    summary = {
        "smtp_per_s": statistics.median(r["smtp"]["per_s"] for r in runs),
        "graph_per_s": statistics.median(r["graph"]["per_s"] for r in runs),
        "ratio": statistics.median(r["ratio"] for r in runs),
        "connections": args.connections,
        "runs": runs,
    }
    print(
        f"median: SMTP {summary['smtp_per_s']:.0f}/s, Graph {summary['graph_per_s']:.0f}/s,"
        f" ratio {summary['ratio']:.2f} (target >= 0.8)"
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    failed = any(r["smtp"]["errors"] or r["graph"]["errors"] for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
