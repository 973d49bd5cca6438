"""The `mailgraph` command line: `serve`; identity (cli/identity.py) and delivery (cli/delivery.py) commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from mailgraph.cli.banner import banner
from mailgraph.cli.db import BACKUP_COMMANDS, add_db_commands, run_backup, run_db
from mailgraph.cli.delivery import (
    add_blobs_option,
    add_database_option,
    add_delivery_commands,
    add_delivery_options,
    delivery_settings,
    run_delivery,
)
from mailgraph.cli.faults import add_fault_commands, run_faults
from mailgraph.cli.heap import freeze_startup_heap
from mailgraph.cli.http_limits import add_limit_options, limit_settings, limited_protocol
from mailgraph.cli.identity import AdminError, add_admin_commands, run_admin, tls_banner, tls_options
from mailgraph.cli.logs import configure as configure_logs
from mailgraph.cli.logs import uvicorn_config
from mailgraph.cli.processes import Slot, Supervisor
from mailgraph.cli.subscriptions import (
    add_subscription_commands,
    add_webhook_options,
    run_subscriptions,
    webhook_settings,
)
from mailgraph.cli.workbench import COMMANDS as WORKBENCH_COMMANDS
from mailgraph.cli.workbench import add_workbench_commands, run_workbench
from mailgraph.config import Settings, TenantFileError
from mailgraph.domain.errors import DomainError
from mailgraph.store.contract import DatabaseUnusableError, EngineUrlError
from mailgraph.wiring import Runtime, build

DEFAULTS = Settings()


def _help(name: str) -> str:
    meta = {f.name: f.metadata for f in fields(Settings)}[name]
    return f"{meta['help']} (default: {getattr(DEFAULTS, name)})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailgraph", description="A mail server that speaks Microsoft Graph."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_db_commands(sub, add_database_option, DEFAULTS.data_dir)
    add_fault_commands(sub)  # issue 13: `mailgraph faults add|list|clear`
    serve = sub.add_parser("serve", help="run the Graph API server")
    serve.add_argument("--host", default=DEFAULTS.host, help=_help("host"))
    serve.add_argument(
        "--port", type=int, default=DEFAULTS.port, help=_help("port") + "; 0 picks a free port"
    )
    serve.add_argument("--data-dir", type=Path, default=DEFAULTS.data_dir, help=_help("data_dir"))
    add_database_option(serve)
    add_blobs_option(serve)
    serve.add_argument("--tenant", type=Path, default=None, help=_help("tenant_file"))
    serve.add_argument(
        "--durability", choices=("full", "normal"), default=DEFAULTS.durability, help=_help("durability")
    )
    serve.add_argument(
        "--token-lifetime", type=int, default=DEFAULTS.token_lifetime_s, help=_help("token_lifetime_s")
    )
    serve.add_argument("--log-level", default=DEFAULTS.log_level, help=_help("log_level"))
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=os.environ.get("MAILGRAPH_LOG_FORMAT") or DEFAULTS.log_format,
        help=_help("log_format"),
    )
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("MAILGRAPH_ACCESS_LOG", "").lower() in ("1", "true", "yes"),
        help=_help("access_log"),
    )
    serve.add_argument("--no-http", dest="http", action="store_false", help="serve https only (with --tls)")
    serve.add_argument("--tls", action="store_true", help=_help("tls"))
    serve.add_argument("--tls-port", type=int, default=DEFAULTS.tls_port, help=_help("tls_port"))
    serve.add_argument(
        "--tls-name", action="append", default=[], dest="tls_names", help="extra certificate name (repeat)"
    )
    serve.add_argument("--tls-cert", type=Path, default=None, help=_help("tls_cert"))
    serve.add_argument("--tls-key", type=Path, default=None, help=_help("tls_key"))
    serve.add_argument("--idp-issuer", default=None, help=_help("idp_issuer"))
    serve.add_argument("--idp-jwks-url", default=None, help=_help("idp_jwks_url"))
    serve.add_argument(
        "--idp-audience", action="append", default=None, dest="idp_audiences", help=_help("idp_audiences")
    )
    serve.add_argument("--idp-user-claim", default=DEFAULTS.idp_user_claim, help=_help("idp_user_claim"))
    serve.add_argument(
        "--smtp-port", type=int, default=None, help=_help("smtp_port") + "; 0 picks a free port"
    )
    serve.add_argument("--smtps-port", type=int, default=None, help=_help("smtps_port"))
    serve.add_argument(
        "--smtp-max-size", type=int, default=DEFAULTS.smtp_max_size, help=_help("smtp_max_size")
    )
    serve.add_argument(
        "--submission-port", type=int, default=None, help=_help("submission_port") + "; 0 picks a free port"
    )
    serve.add_argument("--submission-tls-port", type=int, default=None, help=_help("submission_tls_port"))
    serve.add_argument(
        "--submission-allow-plaintext", action="store_true", help=_help("submission_allow_plaintext")
    )
    serve.add_argument(
        "--throttle", choices=("off", "exchange-online"), default=DEFAULTS.throttle, help=_help("throttle")
    )
    add_delivery_options(serve, serve=True)
    serve.add_argument(
        "--processes", "--workers", type=int, default=DEFAULTS.processes, help=_help("processes")
    )
    add_webhook_options(serve)  # change notifications (issue 12)
    add_limit_options(serve, DEFAULTS)  # per-connection limits (issue 17)
    add_admin_commands(sub)
    add_delivery_commands(sub)  # worker, queue list|show|retry|purge
    add_subscription_commands(sub)  # subscriptions list|show|delete
    add_workbench_commands(sub)  # tenants, seed, reset, messages, wait, outbound, inspect (issue 14)
    return parser


def _say(text: str, log_format: str) -> None:
    """Print banner lines; with JSON logs, one JSON log line per banner line, like every other line."""
    if log_format == "json":
        for line in text.splitlines():
            logging.getLogger("mailgraph.banner").info(line)
    else:
        print(text, flush=True)


async def _start_smtp(runtime: Runtime, host: str, log_format: str) -> bool:
    """Bind the SMTP listeners and print where they are; on failure close the store and say why."""
    if runtime.smtp is None:
        return True
    try:
        await runtime.smtp.start()
    except OSError as exc:
        print(f"mailgraph: cannot listen for SMTP: {exc}", file=sys.stderr)
        await runtime.engine.close()
        return False
    for name, port in runtime.smtp.ports.items():
        if name.startswith("submission"):
            continue
        kind = "STARTTLS, AUTH after TLS" if name == "smtp" else "implicit TLS, AUTH"
        _say(f"mailgraph SMTP: {name}://{host}:{port}   ({kind}; mail for the tenant's domains)", log_format)
    for line in submission_banner(runtime.smtp.ports, host, runtime.smtp.settings.submission_allow_plaintext):
        _say(line, log_format)
    return True


def submission_banner(ports: dict[str, int], host: str, plaintext: bool) -> list[str]:
    """The submission listeners' lines of the start-up banner (docs/smtp-submission.md)."""
    lines = []
    if "submission" in ports:
        auth = "AUTH also before STARTTLS" if plaintext else "STARTTLS, then AUTH"
        lines.append(
            f"mailgraph SMTP submission: smtp://{host}:{ports['submission']}   ({auth} XOAUTH2, or LOGIN/PLAIN"
            " where the tenant allows it; token scope https://outlook.office.com/SMTP.Send)"
        )
    if "submissions" in ports:
        lines.append(
            f"mailgraph SMTP submission: smtps://{host}:{ports['submissions']}   (implicit TLS, AUTH)"
        )
    return lines


async def _serve(settings: Settings, slot: Slot | None = None) -> int:
    import uvicorn

    runtime = await build(settings)
    if not await _start_smtp(runtime, settings.host, settings.log_format):
        return 1
    listeners: list[tuple[str, int, dict[str, Any]]] = []
    if settings.http or not settings.tls:
        listeners.append(("http", settings.port, {}))
    if settings.tls:
        listeners.append(("https", settings.tls_port, tls_options(settings)))
    servers = []
    for i, (_, port, extra) in enumerate(listeners):
        config = uvicorn.Config(
            runtime.app,
            host=settings.host,
            port=port,
            # One server per socket on the same app; only the first runs the lifespan (store close).
            lifespan="on" if i == 0 else "off",
            log_level=settings.log_level,
            log_config=uvicorn_config(settings.log_level, settings.log_format),
            access_log=settings.access_log,
            # httptools with a head deadline, head size cap and body deadline (cli/http_limits.py)
            http=limited_protocol(
                settings.http_head_timeout_s, settings.http_body_timeout_s, settings.http_max_head_bytes
            ),
            timeout_keep_alive=settings.http_keepalive_s,
            limit_concurrency=settings.http_max_connections,
            server_header=False,
            date_header=True,
            **extra,
        )
        servers.append(uvicorn.Server(config))
    sockets = [[slot.sockets[scheme]] if slot else None for scheme, _, _ in listeners]
    tasks = [asyncio.create_task(s.serve(sockets=k)) for s, k in zip(servers, sockets, strict=True)]
    for _ in range(600):  # bounded: the socket is bound within a few ms normally
        if all(s.started for s in servers) or any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)
    started = all(s.started for s in servers)
    if started:
        frozen = freeze_startup_heap()  # before the first request: cli/heap.py says why
        logging.getLogger("mailgraph").debug("start-up heap frozen: %d objects", frozen)
    if started and slot is not None:
        _supervised(slot, servers)
    if started and (slot is None or slot.index == 0):
        host = settings.host if ":" not in settings.host else f"[{settings.host}]"
        for i, ((scheme, _, _), server) in enumerate(zip(listeners, servers, strict=True)):
            port = server.servers[0].sockets[0].getsockname()[1]
            text = await banner(runtime, settings, f"{scheme}://{host}:{port}")
            shown = text if i == 0 else "\n".join(text.splitlines()[:3])
            if scheme == "https":
                shown += "\n" + tls_banner(settings)
            _say(shown, settings.log_format)
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for server, task in reversed(list(zip(servers, tasks, strict=True))):  # the lifespan server last
        server.should_exit = True
        await task
    return 0 if started else 1


def _supervised(slot: Slot, servers: list[Any]) -> None:
    """Tell the supervisor this process listens; stop when the supervisor's lifeline pipe closes."""
    loop = asyncio.get_running_loop()

    def orphaned() -> None:
        loop.remove_reader(slot.lifeline_fd)
        for server in servers:
            server.should_exit = True

    loop.add_reader(slot.lifeline_fd, orphaned)
    slot.ready()


def _serve_child(settings: Settings, slot: Slot) -> int:
    return _run(_serve(settings, slot))


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return asyncio.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mailgraph` console script."""
    args = _parser().parse_args(argv)
    configure_logs(getattr(args, "log_level", "info"), getattr(args, "log_format", "text"))
    try:
        if args.command == "serve":
            settings = Settings(
                host=args.host,
                port=args.port,
                data_dir=args.data_dir,
                database=args.database,
                blobs=args.blobs,
                tenant_file=args.tenant,
                durability=args.durability,
                token_lifetime_s=args.token_lifetime,
                log_level=args.log_level,
                log_format=args.log_format,
                access_log=args.access_log,
                http=args.http,
                tls=args.tls or args.tls_cert is not None,
                tls_port=args.tls_port,
                tls_names=tuple(args.tls_names),
                tls_cert=args.tls_cert,
                tls_key=args.tls_key,
                idp_issuer=args.idp_issuer,
                idp_jwks_url=args.idp_jwks_url,
                idp_audiences=tuple(args.idp_audiences or DEFAULTS.idp_audiences),
                idp_user_claim=args.idp_user_claim,
                smtp_port=args.smtp_port,
                smtps_port=args.smtps_port,
                smtp_max_size=args.smtp_max_size,
                processes=max(1, args.processes),
                submission_port=args.submission_port,
                submission_tls_port=args.submission_tls_port,
                submission_allow_plaintext=args.submission_allow_plaintext,
                throttle=args.throttle,
                **delivery_settings(args),
                **webhook_settings(args),
                **limit_settings(args),
            )
            if settings.processes > 1:
                return Supervisor(settings, settings.processes, _serve_child).run()
            return _run(_serve(settings))
        if args.command == "faults":
            return _run(run_faults(args))
        if args.command in ("token", "users", "apps", "keys"):
            return _run(run_admin(args))
        if args.command == "db":
            return _run(run_db(args))
        if args.command in BACKUP_COMMANDS:
            return run_backup(args)
        if args.command == "subscriptions":
            return _run(run_subscriptions(args))
        if args.command in WORKBENCH_COMMANDS:
            return run_workbench(args)  # the control API over HTTP (cli/workbench.py)
        return _run(run_delivery(args))  # worker, queue
    except TenantFileError as exc:
        print("mailgraph: invalid tenant file:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"mailgraph: {exc.message}", file=sys.stderr)
        return 2
    except AdminError as exc:
        print(f"mailgraph: {exc}", file=sys.stderr)
        return 2
    except EngineUrlError as exc:  # an unknown database URL, or `--blobs db` on SQLite
        print(f"mailgraph: cannot start: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnusableError as exc:  # a corrupt or foreign data dir: say so, touch nothing
        print(f"mailgraph: cannot start: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
