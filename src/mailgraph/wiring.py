"""Composition root: build the store, the services and the ASGI app from Settings.

Only `cli` imports this module. Each component gets the slice of settings it needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mailgraph.api.app import GraphApp
from mailgraph.api.context import Services
from mailgraph.auth.keys import KeyRing
from mailgraph.auth.oauth import OAuthService
from mailgraph.auth.passwords import hash_secret, verify_secret
from mailgraph.auth.permissions import canonical_permission
from mailgraph.auth.tokens import TokenService
from mailgraph.config import Settings, TenantFileError, demo_tenant, load_tenant_file
from mailgraph.domain.directory import DirectoryService, Secrets, TenantSpec
from mailgraph.domain.folders import FolderService
from mailgraph.domain.messages import MessageService
from mailgraph.domain.model import Tenant, Timestamp
from mailgraph.domain.sending import SendService
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


def open_engine(settings: Settings) -> SqliteEngine:
    """The store of the data directory (created and migrated on first use)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteEngine(settings.data_dir / "mailgraph.db", durability=settings.durability)


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
    services = Services(
        messages=MessageService(engine, clock),
        folders=FolderService(engine),
        sending=SendService(engine, clock),
        tokens=tokens,
        oauth=OAuthService(engine, tokens),
    )
    return Runtime(GraphApp(services, on_shutdown=engine.close), engine, directory, tenant, seeded)
