"""Composition root: build the store, the services and the ASGI app from Settings.

Only `cli` imports this module. Each component gets the slice of settings it needs.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from mailgraph.api.admin import AdminApi
from mailgraph.api.app import GraphApp
from mailgraph.api.context import Services
from mailgraph.api.control import ControlApi, control_api
from mailgraph.api.control import faults as fault_resources
from mailgraph.api.control import queue as queue_resources
from mailgraph.api.guard import Guard
from mailgraph.api.mounts import admin_mount
from mailgraph.api.openapi import openapi_mount
from mailgraph.api.ops import Metrics, Readiness, ops_mounts
from mailgraph.api.serialize.messages import message_json
from mailgraph.api.throttle import Throttle
from mailgraph.api.ui import ui_mount
from mailgraph.auth.external import ExternalIssuer
from mailgraph.auth.keyring import KeyRing
from mailgraph.auth.oauth import OAuthService
from mailgraph.auth.passwords import hash_secret, verify_secret
from mailgraph.auth.permissions import canonical_permission
from mailgraph.auth.tokens import TokenService
from mailgraph.certs import server_context
from mailgraph.config import Settings, TenantFileError, demo_tenant, load_tenant_file
from mailgraph.config.control import ControlSpec, load_control
from mailgraph.delivery.held import HeldSendReleaser
from mailgraph.delivery.policy import RetryPolicy
from mailgraph.delivery.queue import QueueAdmin
from mailgraph.delivery.relay import RelayClient, parse_relay_url
from mailgraph.delivery.rule_forwards import RuleForwarder
from mailgraph.delivery.subscriptions_admin import SubscriptionAdmin
from mailgraph.delivery.webhook_http import UrlPolicy, WebhookHttp
from mailgraph.delivery.webhooks import NotificationWorker, WebhookConfig
from mailgraph.delivery.worker import DeliveryWorker, WorkerConfig
from mailgraph.domain.attached_forwards import AttachedForwardService
from mailgraph.domain.attachments import AttachmentService
from mailgraph.domain.categories import CategoryService
from mailgraph.domain.change_sequencer import ChangeSequencer
from mailgraph.domain.changes import AfterCommit, Commit, ObservedUnitOfWork
from mailgraph.domain.delta import DeltaService
from mailgraph.domain.directory import DirectoryService, Secrets, TenantSpec
from mailgraph.domain.errors import BadRequestError, ConflictError
from mailgraph.domain.exchange_ids import ExchangeIdService
from mailgraph.domain.extensions import ExtensionService
from mailgraph.domain.faults import FaultService
from mailgraph.domain.folder_counts import FolderCountFolder
from mailgraph.domain.folders import FolderService
from mailgraph.domain.inbound import InboundService
from mailgraph.domain.inference import OverrideService
from mailgraph.domain.mailbox_settings import MailboxSettingsService
from mailgraph.domain.message_rules import MessageRuleService
from mailgraph.domain.messages import MessageService
from mailgraph.domain.mime_items import MimeService
from mailgraph.domain.model import Message, Tenant, now
from mailgraph.domain.moves import MoveService
from mailgraph.domain.periodic import Drain
from mailgraph.domain.ports import BlobStorage, UnitOfWork
from mailgraph.domain.replies import ReplyService
from mailgraph.domain.sending import SendPolicy, SendService
from mailgraph.domain.submission import SubmissionService
from mailgraph.domain.throttling import Profiles, profile
from mailgraph.domain.uploads import UploadService
from mailgraph.domain.users import UserService
from mailgraph.domain.webhooks import NotificationHook, SubscriptionService, WebhookPolicy
from mailgraph.files import PRIVATE_DIR, make_private
from mailgraph.smtpd.handler import InboundHandler
from mailgraph.smtpd.server import SmtpServer, SmtpSettings
from mailgraph.smtpd.submission import SubmissionHandler
from mailgraph.smtpd.throttle import AuthThrottle
from mailgraph.store.contract import Engine, Wakeups, wakeups_of
from mailgraph.store.engines import open_blobs
from mailgraph.store.engines import open_engine as open_database
from mailgraph.store.migrate import migrations
from mailgraph.store.sql.dialect import dialect_of

clock = now  # Timestamps are µs since the epoch (domain/model.py)


@dataclass(slots=True)
class Runtime:
    """A built server: its app, its store and what it seeded."""

    app: GraphApp
    engine: Engine
    directory: DirectoryService
    tenant: Tenant
    seeded_demo: bool
    uow: ObservedUnitOfWork
    """The engine as the services use it: every write unit's changes are published after its commit."""
    smtp: SmtpServer | None = None
    """The SMTP listeners when a port is set (`cli` starts them; the app's shutdown stops them)."""
    worker: DeliveryWorker | None = None
    """The outbound delivery worker (started by the app's lifespan unless `--no-worker`)."""
    admin_token: str = ""
    """The bearer secret of `/admin` (docs/delivery.md)."""
    data_dir: Path = Path()
    """Keys, blobs, certificates and (by default) the SQLite database."""
    notifier: NotificationWorker | None = None
    """The change-notification worker (started with the delivery worker; issue 12)."""
    faults: FaultService | None = None
    """The fault-injection rules (docs/faults.md)."""
    held: HeldSendReleaser | None = None
    """Releases the sends held over Exchange's message rate (docs/batching.md "Throttling")."""
    control: ControlApi | None = None
    """The test-control namespace `/_mailgraph` (its event hub serves the SSE streams)."""
    forwarder: RuleForwarder | None = None
    """Sends the Inbox rules' forwards-as-attachment after their delivery's commit (migration 0032)."""


async def _external_issuer(settings: Settings, engine: Engine, tenant: Tenant) -> ExternalIssuer | None:
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


def schema_version() -> int:
    """The schema version this build migrates databases to."""
    from mailgraph.store.migrate import LATEST

    return LATEST


async def open_engine(settings: Settings) -> Engine:
    """The store of `settings.database_url` (created and migrated on first use); by default an SQLite
    file in the data directory, which is created here (owner-only, issue 17) because keys and blobs
    live there too; `make_private` fixes directories written by older versions."""
    settings.data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    make_private(settings.data_dir)
    return await open_database(settings.database_url, durability=settings.durability)


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
    settings: Settings, engine: UnitOfWork, sending: SendService, blobs: BlobStorage, tokens: TokenService
) -> SmtpServer | None:
    """The inbound and submission SMTP listeners (not yet bound), or None when no SMTP port is set."""
    ports = (settings.smtp_port, settings.smtps_port, settings.submission_port, settings.submission_tls_port)
    if all(port is None for port in ports):
        return None
    secrets = Secrets(hash_secret, verify_secret)
    inbound = InboundService(engine, clock, sending, secrets, blobs, decoy_hash=hash_secret("decoy"))
    hostname = socket.gethostname() or "localhost"
    tls = server_context(settings.data_dir, settings.tls_names, cert=settings.tls_cert, key=settings.tls_key)
    listen = SmtpSettings(
        settings.host,
        settings.smtp_port,
        settings.smtps_port,
        settings.smtp_max_size,
        hostname,
        tls,
        settings.submission_port,
        settings.submission_tls_port,
        settings.submission_allow_plaintext,
        settings.smtp_timeout_s,
        settings.smtp_max_sessions,
    )
    submission = SubmissionHandler(SubmissionService(engine, inbound), tokens, AuthThrottle(), hostname)
    return SmtpServer(InboundHandler(inbound, hostname), listen, submission)


def _closing_smtp(smtp: SmtpServer, then: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        await smtp.close()  # no SMTP session may write once the store is closing
        await then()

    return close


async def build(settings: Settings) -> Runtime:
    """Open the data directory, load or seed the tenant, and assemble the app."""
    engine = await open_engine(settings)
    try:
        blobs = blob_storage(settings, engine)  # --blobs db on SQLite: refused before any tenant is seeded
    except BaseException:
        await engine.close()
        raise
    # Services get the observed engine: the one change-event point and after-commit signal (domain/changes.py).
    uow = observed(engine)
    directory = DirectoryService(uow, Secrets(hash_secret, verify_secret))
    try:
        tenant = await directory.tenant()
        seeded = False
        if settings.tenant_file is not None:
            spec = _check_permissions(load_tenant_file(settings.tenant_file), str(settings.tenant_file))
            try:
                tenant = await directory.apply(spec)
            except ConflictError:  # another process applied it at the same moment: apply over theirs
                tenant = await directory.apply(spec)
        elif tenant is None:
            try:
                tenant = await directory.apply(demo_tenant())
                seeded = True
            except ConflictError:  # processes starting together on a new database: one seeds it
                tenant = await directory.tenant()
        if tenant is None:  # pragma: no cover - apply always returns the tenant
            raise TenantFileError(str(settings.data_dir), ["no tenant"])
    except BaseException:
        await engine.close()
        raise
    keyring = await open_keyring(engine, directory, settings.data_dir, tenant)
    tokens = TokenService(keyring, lifetime_s=settings.token_lifetime_s)
    tokens.external = await _external_issuer(settings, engine, tenant)
    faults = FaultService(uow, clock)
    control_spec = await _control(settings, faults)
    profiles = _profiles(settings, tenant, control_spec)
    send_policy = SendPolicy(round(settings.queue_expiry_s), profiles if profiles.active else None)
    sending = SendService(uow, clock, send_policy)
    notifier = notification_worker(settings, uow, keyring)
    attachments = AttachmentService(uow, blobs, clock)
    await attachments.collect(reconcile=True)  # blobs orphaned by a crash or by deleted mailboxes
    services = Services(
        messages=MessageService(uow, clock),
        folders=FolderService(uow, clock),
        sending=sending,
        tokens=tokens,
        oauth=OAuthService(engine, tokens, home_tenant_id=tenant.id),
        replies=ReplyService(uow, clock, sending),
        moves=MoveService(uow, clock),
        attachments=attachments,
        uploads=UploadService(uow, attachments, clock),
        mime=MimeService(uow, attachments.blobs, clock, sending),
        delta=DeltaService(uow, clock),
        users=UserService(uow),
        rules=MessageRuleService(uow, clock),
        settings=MailboxSettingsService(uow, clock),
        subscriptions=SubscriptionService(uow, clock, notifier.http, webhook_policy(settings)),
        categories=CategoryService(uow, clock),
        exchange_ids=ExchangeIdService(uow),
        overrides=OverrideService(uow, clock),
        extensions=ExtensionService(uow, clock),
    )
    smtp = _smtp(settings, uow, sending, attachments.blobs, tokens)
    shutdown = engine.close if smtp is None else _closing_smtp(smtp, engine.close)
    shutdown = _stopping_collector(attachments, shutdown)
    shutdown = _stopping_keyring(keyring, shutdown)
    worker = delivery_worker(settings, uow, blobs)
    worker.faults = faults
    shutdown = _stopping_faults(faults, shutdown)
    # Folder item counts are appended as deltas (migration 0029); every process folds them (safe at once).
    counts = FolderCountFolder(engine)
    shutdown = _stopping(counts, shutdown)
    # Change numbers assigned after commit (PostgreSQL, migration 0039): every process sequences (safe at once).
    sequencer = ChangeSequencer(engine) if dialect_of(engine.name).numbers_after_commit else None
    if sequencer is not None:
        shutdown = _stopping(sequencer, shutdown)
    held = None
    forwarder = rule_forwarder(settings, uow, attachments.blobs)
    if settings.worker:
        shutdown = _stopping(worker, _stopping(notifier, _stopping(forwarder, shutdown)))
        # Held sends exist only while send limits are on, or were left from a run when they were.
        held = HeldSendReleaser(uow, sending, clock, poll_s=min(settings.queue_poll_s, 0.5))
        if profiles.active or await held.pending():
            shutdown = _stopping(held, shutdown)
        else:
            held = None
    else:
        shutdown = _stopping(notifier, shutdown)  # the handshake client is closed either way
    app = GraphApp(services, on_shutdown=shutdown)
    app.on_startup = _starting(
        keyring,
        worker if settings.worker else None,
        wakeups_of(engine),
        notifier if settings.worker else None,
        faults,
        held,
        forwarder if settings.worker else None,
        counts,
        sequencer,
    )
    app.graph.guard = Guard(Throttle(profiles.server, profiles.tenants, profiles.mailboxes), faults, uow)
    if settings.worker:
        uow.signals.subscribe(worker.on_commit)  # a unit that queued mail wakes the worker after its commit
        uow.signals.subscribe(notifier.on_commit)  # a unit that notified wakes the webhook worker
        uow.signals.subscribe(forwarder.on_commit)  # a delivery that left a forward-as-attachment
    uow.signals.subscribe(waking_other_processes(wakeups_of(engine)))  # and the workers of other processes
    admin_token = settings.admin_token or _admin_token(settings.data_dir)
    queue = QueueAdmin(engine, clock, worker.policy, worker.config.hostname, attachments.blobs)
    # The control namespace /_mailgraph (docs/workbench.md): issue 14's tenants, mail and events, issue
    # 13's queue and fault rules; one mount, one credential (the admin token).
    control = control_api(uow, uow.signals, tokens, queue, attachments, admin_token, clock)
    control.add(queue_resources.ROUTES)
    control.add(fault_resources.routes(faults))
    app.mounts.add(control.mount())
    admin = AdminApi(control, admin_token, SubscriptionAdmin(engine, clock))
    app.mounts.add(admin_mount(admin, admin.describe))  # `/admin/queue…`: alias of `/_mailgraph/queue…`
    for mount in ui_mount(control, app.graph, admin_token):  # the web UI at /ui/ (and / → /ui/)
        app.mounts.add(mount)
    _add_ops(app, uow, engine.name, worker if settings.worker else None)
    app.mounts.add(openapi_mount(app.mounts))  # /openapi.json, generated from the table (api/openapi.py)
    return Runtime(
        app,
        engine,
        directory,
        tenant,
        seeded,
        uow,
        smtp,
        worker if settings.worker else None,
        admin_token,
        settings.data_dir,
        notifier if settings.worker else None,
        faults,
        held,
        control,
        forwarder,
    )


def observed(engine: UnitOfWork) -> ObservedUnitOfWork:
    """The engine observed at THE change-event point (domain/changes.py), with its before-commit steps in
    every unit that recorded changes: the notification outbox (webhooks, issue 12), then the change log
    (delta, always last: it takes the mailbox clock's row lock). `serve` and `mailgraph worker` both
    write through it."""
    uow = ObservedUnitOfWork(engine, AfterCommit())
    uow.add_step(NotificationHook(clock))
    return uow


def _add_ops(app: GraphApp, uow: ObservedUnitOfWork, engine_name: str, worker: DeliveryWorker | None) -> None:
    """Health, readiness and metrics (api/ops.py): every request observed, store-backed gauges."""
    metrics = Metrics(uow.signals)
    app.observe = metrics.observe
    workers = [] if worker is None else [("delivery", lambda: worker.alive)]
    readiness = Readiness(uow, migrations(engine_name)[-1].version, workers)
    for mount in ops_mounts(metrics, readiness):
        app.mounts.add(mount)


async def open_keyring(
    engine: UnitOfWork, directory: DirectoryService, data_dir: Path, home: Tenant
) -> KeyRing:
    """The per-tenant signing keys of the store, each tenant with a current key.

    The home tenant of a data dir from before keys lived in the store imports `data_dir/keys` once,
    so the tokens issued before the upgrade keep verifying.
    """
    keyring = KeyRing(engine)
    await keyring.refresh()
    for tenant in await directory.tenants():
        await keyring.ensure(tenant.id, legacy_dir=data_dir / "keys" if tenant.id == home.id else None)
    return keyring


async def _control(settings: Settings, faults: FaultService) -> ControlSpec:
    """The tenant file's throttling and fault rules (its rules replace the file's earlier ones)."""
    if settings.tenant_file is None:
        await faults.refresh()
        return ControlSpec()
    control, problems = load_control(settings.tenant_file)
    if problems:
        raise TenantFileError(str(settings.tenant_file), problems)
    for rule in await faults.refresh():
        if rule.id.startswith("tenant-file-"):
            await faults.clear(rule.id)
    for rule in control.faults:
        await faults.add(rule)
    return control


def _profiles(settings: Settings, tenant: Tenant, control: ControlSpec) -> Profiles:
    """Server profile (`--throttle`), the tenant file's tenant and mailbox profiles: the request
    throttle (api/throttle.py) and the send limits (domain/send_quota.py) read the same ones."""
    try:
        server = profile(settings.throttle)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None
    tenants = {tenant.id: control.tenant} if control.tenant_set else {}
    return Profiles(server, tenants, dict(control.mailboxes))


def _stopping_faults(
    faults: FaultService, then: Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[None]]:
    async def stop() -> None:
        await faults.stop()
        await then()

    return stop


def _starting(
    keyring: KeyRing,
    worker: DeliveryWorker | None,
    wakeups: Wakeups,
    notifier: NotificationWorker | None = None,
    faults: FaultService | None = None,
    held: HeldSendReleaser | None = None,
    forwarder: RuleForwarder | None = None,
    counts: FolderCountFolder | None = None,
    sequencer: ChangeSequencer | None = None,
) -> Callable[[], Awaitable[None]]:
    async def start() -> None:
        keyring.start()  # periodic reload: rotations made by `mailgraph keys rotate` or another process
        if counts is not None:
            counts.start()
        if sequencer is not None:
            sequencer.start()
        if worker is not None:
            await worker.start()
            wakeups.listen(OUTBOX_CHANNEL, worker.wake)  # a send in another process (serve --processes)
        if notifier is not None:
            await notifier.start()
            wakeups.listen(NOTIFY_CHANNEL, notifier.wake)  # notifications written by another process
        if faults is not None:
            faults.start()  # periodic reload: rules added by `mailgraph faults add` or another process
        if held is not None:
            await held.start()
        if forwarder is not None:
            await forwarder.start()
            wakeups.listen(FORWARD_CHANNEL, forwarder.wake)  # a delivery in another process left a forward
        await wakeups.ready()  # other processes' notifications reach us from here on

    return start


OUTBOX_CHANNEL = "outbox"
NOTIFY_CHANNEL = "notify"  # the webhook outbox (issue 12): notifications written by another process
FORWARD_CHANNEL = "forward"  # the rules' forwards-as-attachment (issue 15) left by another process


def waking_other_processes(wakeups: Wakeups) -> Callable[[Commit], None]:
    """An `AfterCommit` subscriber: a commit that queued outbound mail (or wrote change notifications, or
    left a rule's forward-as-attachment) wakes the delivery (webhook, forward) workers of the other
    processes on this database, once per loop
    iteration however many units of a batch did."""
    pending: set[str] = set()

    def flush() -> None:
        channels = sorted(pending)
        pending.clear()
        for channel in channels:
            wakeups.notify(channel)

    def on_commit(commit: Commit) -> None:
        wanted = {OUTBOX_CHANNEL} if commit.queued else set()
        if commit.notified:
            wanted.add(NOTIFY_CHANNEL)
        if commit.forwards:
            wanted.add(FORWARD_CHANNEL)
        if wanted - pending:
            if not pending:
                asyncio.get_running_loop().call_soon(flush)
            pending.update(wanted)

    return on_commit


def _stopping_keyring(keyring: KeyRing, then: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    async def stop() -> None:
        await keyring.stop()
        await then()

    return stop


def rule_forwarder(settings: Settings, uow: UnitOfWork, blobs: BlobStorage) -> RuleForwarder:
    """The forwarder of the Inbox rules' forwards-as-attachment (delivery/rule_forwards.py)."""
    service = AttachedForwardService(uow, blobs, clock)
    return RuleForwarder(service, clock, poll_s=settings.queue_poll_s)


def blob_storage(settings: Settings, engine: Engine) -> BlobStorage:
    """Where attachment bytes live (`--blobs`): the database on PostgreSQL, the data dir on SQLite.

    Raises:
        EngineUrlError: `--blobs db` on SQLite.
    """
    return open_blobs(engine, settings.data_dir, settings.blobs)


def delivery_worker(
    settings: Settings, engine: UnitOfWork, blobs: BlobStorage | None = None
) -> DeliveryWorker:
    """The queue worker: relaying to `settings.relay`, or capturing when none is set. `blobs`: the
    attachment store (default: `blob_storage` of `engine`, which must then be the `Engine` itself).

    Raises:
        ValueError: the relay URL or the retry settings are not valid.
    """
    policy = RetryPolicy(settings.retry_schedule, settings.queue_expiry_s, settings.queue_lease_s)
    hostname = socket.gethostname() or "localhost"
    relay = None
    if settings.relay:
        relay = RelayClient(parse_relay_url(settings.relay), hostname, settings.worker_concurrency)
    config = WorkerConfig(settings.worker_concurrency, poll_s=settings.queue_poll_s, hostname=hostname)
    if blobs is None:
        if not hasattr(engine, "name"):  # pragma: no cover - a wrapper hides the engine's blob store
            raise TypeError("delivery_worker needs `blobs` when given a wrapped unit of work")
        blobs = blob_storage(settings, cast(Engine, engine))
    return DeliveryWorker(engine, clock, relay, policy, config, blobs)


def webhook_policy(settings: Settings) -> WebhookPolicy:
    """Timing of the lifecycle reminders."""
    return WebhookPolicy(reauth_lead_s=settings.webhook_reauth_lead_s)


def notification_worker(
    settings: Settings, engine: UnitOfWork, keyring: KeyRing | None
) -> NotificationWorker:
    """The change-notification worker (and the HTTP client of the validation handshake)."""
    http = WebhookHttp(
        UrlPolicy(
            https_only=settings.webhooks_https_only,
            allow_link_local=settings.webhooks_allow_link_local,
            verify=settings.webhooks_verify,
            ca_file=settings.webhooks_ca_file,
        )
    )
    config = WebhookConfig(
        poll_s=settings.queue_poll_s,
        # --queue-lease caps the notification lease too (60 s by default): a crash trial's short lease
        # makes a killed worker's notifications due again as quickly as its mail (tests/trials).
        lease_s=min(WebhookConfig().lease_s, settings.queue_lease_s),
        schedule=settings.webhook_retry_schedule,
        max_age_s=settings.webhook_max_age_s,
        batch=max(1, settings.webhook_batch),
    )

    def render(message: Message, select: tuple[str, ...], version: str) -> dict[str, Any]:
        return message_json(message, "https://localhost", version, select or None)

    return NotificationWorker(engine, clock, http, keyring, render, config, webhook_policy(settings))


def _stopping_collector(
    attachments: AttachmentService, then: Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[None]]:
    async def stop() -> None:
        await attachments.close()
        await then()

    return stop


def _stopping(
    worker: DeliveryWorker | NotificationWorker | HeldSendReleaser | RuleForwarder | Drain,
    then: Callable[[], Awaitable[None]],
) -> Callable[[], Awaitable[None]]:
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
