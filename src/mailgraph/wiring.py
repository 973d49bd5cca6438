"""Composition root: build the store, the services and the ASGI app from Settings.

Only `cli` imports this module. Each component gets the slice of settings it needs.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from mailgraph.api.admin import AdminApi
from mailgraph.api.app import GraphApp
from mailgraph.api.context import Services
from mailgraph.auth.external import ExternalIssuer
from mailgraph.auth.keys import KeyRing
from mailgraph.auth.oauth import OAuthService
from mailgraph.auth.passwords import hash_secret, verify_secret
from mailgraph.auth.permissions import canonical_permission
from mailgraph.auth.tokens import TokenService
from mailgraph.certs import server_context
from mailgraph.config import Settings, TenantFileError, demo_tenant, load_tenant_file
from mailgraph.delivery.policy import RetryPolicy
from mailgraph.delivery.queue import QueueAdmin
from mailgraph.delivery.relay import RelayClient, parse_relay_url
from mailgraph.delivery.worker import DeliveryWorker, WorkerConfig
from mailgraph.domain.attachments import AttachmentService
from mailgraph.domain.directory import DirectoryService, Secrets, TenantSpec
from mailgraph.domain.errors import BadRequestError
from mailgraph.domain.folders import FolderService
from mailgraph.domain.inbound import InboundService
from mailgraph.domain.messages import MessageService
from mailgraph.domain.mime_items import MimeService
from mailgraph.domain.model import Tenant, Timestamp
from mailgraph.domain.moves import MoveService
from mailgraph.domain.ports import BlobStorage
from mailgraph.domain.replies import ReplyService
from mailgraph.domain.sending import SendPolicy, SendService
from mailgraph.domain.uploads import UploadService
from mailgraph.files import PRIVATE_DIR, PRIVATE_FILE, make_private
from mailgraph.smtpd.handler import InboundHandler
from mailgraph.smtpd.server import SmtpServer, SmtpSettings
from mailgraph.store.blobs import BlobStore
from mailgraph.store.engines.sqlite import SqliteEngine


def clock() -> Timestamp:
    """Now, in microseconds since the epoch."""
    return time.time_ns() // 1000


@dataclass(slots=True)
class Runtime:
    """A built server: its app, its store and what it seeded."""

    app: GraphApp
    engine: SqliteEngine
    directory: DirectoryService
    tenant: Tenant
    seeded_demo: bool
    smtp: SmtpServer | None = None
    """The SMTP listeners when a port is set (`cli` starts them; the app's shutdown stops them)."""
    worker: DeliveryWorker | None = None
    """The outbound delivery worker (started by the app's lifespan unless `--no-worker`)."""
    admin_token: str = ""
    """The bearer secret of `/admin` (docs/delivery.md)."""


async def _external_issuer(settings: Settings, engine: SqliteEngine, tenant: Tenant) -> ExternalIssuer | None:
    """The external identity provider of `--idp-issuer` (docs/identity.md), its keys fetched once."""
    if settings.idp_issuer is None and settings.idp_jwks_url is None:
        return None
    if settings.idp_issuer is None or settings.idp_jwks_url is None:
        raise BadRequestError("--idp-issuer and --idp-jwks-url go together")
    external = ExternalIssuer(
        engine,
        tenant,
        issuer=settings.idp_issuer,
        jwks_url=settings.idp_jwks_url,
        audiences=settings.idp_audiences,
        user_claim=settings.idp_user_claim,
    )
    await external.refresh()  # a failure is logged; tokens then fail until the JWKS loads
    return external


def open_engine(settings: Settings) -> SqliteEngine:
    """The store of the data directory (created and migrated on first use), owner-only (issue 17).

    The database file is created 0600 before SQLite opens it, because SQLite gives its -wal and -shm
    files the database file's mode; `make_private` fixes directories written by older versions.
    """
    settings.data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    make_private(settings.data_dir)
    db = settings.data_dir / "mailgraph.db"
    os.close(os.open(db, os.O_RDWR | os.O_CREAT, PRIVATE_FILE))
    return SqliteEngine(db, durability=settings.durability)


def _check_permissions(spec: TenantSpec, source: str) -> TenantSpec:
    problems = [
        f"apps[{i}]: unknown permission {name!r}"
        for i, app in enumerate(spec.apps)
        for name in (*app.application_permissions, *app.delegated_permissions)
        if canonical_permission(name) is None
    ]
    if problems:
        raise TenantFileError(source, problems)
    return spec


def _smtp(
    settings: Settings, engine: SqliteEngine, sending: SendService, blobs: BlobStorage
) -> SmtpServer | None:
    """The inbound SMTP listeners (not yet bound), or None when no SMTP port is set."""
    if settings.smtp_port is None and settings.smtps_port is None:
        return None
    secrets = Secrets(hash_secret, verify_secret)
    inbound = InboundService(engine, clock, sending, secrets, blobs, decoy_hash=hash_secret("decoy"))
    hostname = socket.gethostname() or "localhost"
    tls = server_context(settings.data_dir, settings.tls_names, cert=settings.tls_cert, key=settings.tls_key)
    listen = SmtpSettings(
        settings.host, settings.smtp_port, settings.smtps_port, settings.smtp_max_size, hostname, tls
    )
    return SmtpServer(InboundHandler(inbound, hostname), listen)


def _closing_smtp(smtp: SmtpServer, then: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        await smtp.close()  # no SMTP session may write once the store is closing
        await then()

    return close


async def build(settings: Settings) -> Runtime:
    """Open the data directory, load or seed the tenant, and assemble the app."""
    engine = open_engine(settings)
    directory = DirectoryService(engine, Secrets(hash_secret, verify_secret))
    try:
        tenant = await directory.tenant()
        seeded = False
        if settings.tenant_file is not None:
            spec = _check_permissions(load_tenant_file(settings.tenant_file), str(settings.tenant_file))
            tenant = await directory.apply(spec)
        elif tenant is None:
            tenant = await directory.apply(demo_tenant())
            seeded = True
        if tenant is None:  # pragma: no cover - apply always returns the tenant
            raise TenantFileError(str(settings.data_dir), ["no tenant"])
    except BaseException:
        await engine.close()
        raise
    keyring = KeyRing.load_or_create(settings.data_dir / "keys")
    tokens = TokenService(keyring, lifetime_s=settings.token_lifetime_s, tenant_id=tenant.id)
    tokens.external = await _external_issuer(settings, engine, tenant)
    sending = SendService(engine, clock, SendPolicy(queue_expiry_s=round(settings.queue_expiry_s)))
    attachments = AttachmentService(engine, BlobStore(settings.data_dir), clock)
    await attachments.collect(reconcile=True)  # blobs orphaned by a crash or by deleted mailboxes
    services = Services(
        messages=MessageService(engine, clock),
        folders=FolderService(engine),
        sending=sending,
        tokens=tokens,
        oauth=OAuthService(engine, tokens),
        replies=ReplyService(engine, clock, sending),
        moves=MoveService(engine, clock),
        attachments=attachments,
        uploads=UploadService(engine, attachments, clock),
        mime=MimeService(engine, attachments.blobs, clock, sending),
    )
    smtp = _smtp(settings, engine, sending, attachments.blobs)
    shutdown = engine.close if smtp is None else _closing_smtp(smtp, engine.close)
    shutdown = _stopping_collector(attachments, shutdown)
    worker = delivery_worker(settings, engine)
    app = GraphApp(services, on_shutdown=_stopping(worker, shutdown) if settings.worker else shutdown)
    if settings.worker:
        sending.on_queued = worker.wake  # a send that queued mail wakes the worker after its commit
        app.on_startup = worker.start
    admin_token = settings.admin_token or _admin_token(settings.data_dir)
    queue = QueueAdmin(engine, clock, worker.policy, worker.config.hostname, attachments.blobs)
    app.admin = AdminApi(queue, admin_token)
    return Runtime(
        app, engine, directory, tenant, seeded, smtp, worker if settings.worker else None, admin_token
    )


def delivery_worker(settings: Settings, engine: SqliteEngine) -> DeliveryWorker:
    """The queue worker: relaying to `settings.relay`, or capturing when none is set.

    Raises:
        ValueError: the relay URL or the retry settings are not valid.
    """
    policy = RetryPolicy(settings.retry_schedule, settings.queue_expiry_s, settings.queue_lease_s)
    hostname = socket.gethostname() or "localhost"
    relay = None
    if settings.relay:
        relay = RelayClient(parse_relay_url(settings.relay), hostname, settings.worker_concurrency)
    config = WorkerConfig(settings.worker_concurrency, poll_s=settings.queue_poll_s, hostname=hostname)
    return DeliveryWorker(engine, clock, relay, policy, config, BlobStore(settings.data_dir))


def _stopping_collector(
    attachments: AttachmentService, then: Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[None]]:
    async def stop() -> None:
        await attachments.close()
        await then()

    return stop


def _stopping(worker: DeliveryWorker, then: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    async def stop() -> None:
        await worker.stop()
        await then()

    return stop


def _admin_token(data_dir: Path) -> str:
    """The admin bearer secret kept in the data directory (created on first use, owner-only)."""
    path = data_dir / "admin-token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text(encoding="utf-8").strip()
