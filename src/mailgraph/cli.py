"""The `mailgraph` command line: `serve`, and `queue list` to see what waits for delivery."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from mailgraph.config import Settings, TenantFileError
from mailgraph.domain.errors import DomainError
from mailgraph.wiring import Runtime, build, open_engine

DEFAULTS = Settings()


def _help(name: str) -> str:
    meta = {f.name: f.metadata for f in fields(Settings)}[name]
    return f"{meta['help']} (default: {getattr(DEFAULTS, name)})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailgraph", description="A mail server that speaks Microsoft Graph."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the Graph API server")
    serve.add_argument("--host", default=DEFAULTS.host, help=_help("host"))
    serve.add_argument(
        "--port", type=int, default=DEFAULTS.port, help=_help("port") + "; 0 picks a free port"
    )
    serve.add_argument("--data-dir", type=Path, default=DEFAULTS.data_dir, help=_help("data_dir"))
    serve.add_argument("--tenant", type=Path, default=None, help=_help("tenant_file"))
    serve.add_argument(
        "--durability", choices=("full", "normal"), default=DEFAULTS.durability, help=_help("durability")
    )
    serve.add_argument(
        "--token-lifetime", type=int, default=DEFAULTS.token_lifetime_s, help=_help("token_lifetime_s")
    )
    serve.add_argument("--log-level", default=DEFAULTS.log_level, help=_help("log_level"))
    queue = sub.add_parser("queue", help="inspect the outbound queue")
    queue_sub = queue.add_subparsers(dest="queue_command", required=True)
    listing = queue_sub.add_parser("list", help="list queued external recipients")
    listing.add_argument("--data-dir", type=Path, default=DEFAULTS.data_dir, help=_help("data_dir"))
    listing.add_argument("--status", choices=("queued", "sending", "delivered", "deferred", "failed"))
    listing.add_argument("--limit", type=int, default=100)
    return parser


def _banner(runtime: Runtime, url: str) -> str:
    tenant = runtime.tenant
    lines = [
        f"mailgraph ready: {url}",
        f"  Graph API:      {url}/v1.0  and  {url}/beta",
        f"  Token endpoint: {url}/{tenant.domains[0]}/oauth2/v2.0/token   (tenant id {tenant.id})",
        "  Store:          " + str(runtime.engine.path),
    ]
    if runtime.seeded_demo:
        lines += [
            "  Demo tenant seeded: users alice@, bob@, carol@contoso.com (password Passw0rd!),",
            "  app mailgraph-demo / demo-secret (Mail.Send, Mail.ReadWrite, Mail.Read).",
        ]
    lines += [
        "  Get an app token:",
        f"    curl -s -X POST {url}/{tenant.domains[0]}/oauth2/v2.0/token \\",
        "      -d grant_type=client_credentials -d client_id=mailgraph-demo -d client_secret=demo-secret \\",
        "      -d scope=https://graph.microsoft.com/.default",
    ]
    return "\n".join(lines)


async def _serve(settings: Settings) -> int:
    import uvicorn

    runtime = await build(settings)
    config = uvicorn.Config(
        runtime.app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_level=settings.log_level,
        access_log=False,
        http="httptools",
        server_header=False,
        date_header=True,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(600):  # bounded: the socket is bound within a few ms normally
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    if server.started:
        port = server.servers[0].sockets[0].getsockname()[1]
        host = settings.host if ":" not in settings.host else f"[{settings.host}]"
        print(_banner(runtime, f"http://{host}:{port}"), flush=True)
    await task
    return 0 if server.started else 1


async def _queue_list(data_dir: Path, status: Any, limit: int) -> int:
    engine = open_engine(Settings(data_dir=data_dir))
    try:
        entries = await engine.read(lambda tx: tx.outbox.list_entries(status, limit))
    finally:
        await engine.close()
    print(f"{'status':9} {'attempts':>8}  {'recipient':40} {'message-id':44} subject")
    for e in entries:
        print(f"{e.status:9} {e.attempts:>8}  {e.recipient:40} {e.internet_message_id:44} {e.subject}")
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    return 0


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return asyncio.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mailgraph` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "info").upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "serve":
            settings = Settings(
                host=args.host,
                port=args.port,
                data_dir=args.data_dir,
                tenant_file=args.tenant,
                durability=args.durability,
                token_lifetime_s=args.token_lifetime,
                log_level=args.log_level,
            )
            return _run(_serve(settings))
        return _run(_queue_list(args.data_dir, args.status, args.limit))
    except TenantFileError as exc:
        print("mailgraph: invalid tenant file:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"mailgraph: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
