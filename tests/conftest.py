"""Shared fixtures: a real app on a real SQLite store in a temp dir, real signed tokens, an ASGI client.

Building the test tenant hashes its secrets (scrypt, deliberately slow), so it is built once per
session into a template data directory that each test copies.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mailgraph.config import Settings
from mailgraph.domain.model import App, Tenant, User
from mailgraph.wiring import Runtime, build

TENANT_FILE = Path(__file__).with_name("tenant.toml")
pytest_plugins = ["pytester"]  # tests/workbench runs sample suites that use mailgraph's pytest plugin


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the test tenant applied (built once)."""
    path = tmp_path_factory.mktemp("template") / "data"

    async def make() -> None:
        runtime = await build(Settings(data_dir=path, tenant_file=TENANT_FILE))
        await runtime.engine.close()

    asyncio.run(make())
    return path


@pytest.fixture
def data_dir(template_dir: Path, tmp_path: Path) -> Path:
    """A fresh copy of the template data directory."""
    target = tmp_path / "data"
    shutil.copytree(template_dir, target)
    return target


@pytest.fixture
async def runtime(data_dir: Path) -> AsyncIterator[Runtime]:
    """The built server (app + store) on this test's data directory."""
    rt = await build(Settings(data_dir=data_dir))
    yield rt
    await rt.engine.close()


@dataclass
class Directory:
    """The test tenant's objects, by short name."""

    tenant: Tenant
    users: dict[str, User]
    apps: dict[str, App]


@pytest.fixture
async def directory(runtime: Runtime) -> Directory:
    """Tenant, users (alice, bob, carol) and apps of the test tenant."""
    users = await runtime.engine.read(lambda tx: tx.directory.list_users())
    apps = await runtime.engine.read(lambda tx: tx.directory.list_apps())
    return Directory(
        runtime.tenant,
        {u.user_principal_name.split("@")[0]: u for u in users},
        {a.client_id: a for a in apps},
    )


TokenFor = Callable[..., dict[str, str]]


@pytest.fixture
def token_for(runtime: Runtime, directory: Directory) -> TokenFor:
    """Authorization headers with a real signed token.

    `token_for("alice", "Mail.Read")` is a delegated token; `token_for(app=["Mail.Send"])` an app token.
    """
    tokens = runtime.app.services.tokens

    def make(user: str | None = None, *scopes: str, app: list[str] | None = None) -> dict[str, str]:
        base = directory.apps["full-app"]
        if user is None:
            registered = App(
                base.client_id,
                base.tenant_id,
                base.object_id,
                base.display_name,
                None,
                False,
                tuple(app if app is not None else base.application_permissions),
                (),
            )
            token = tokens.issue_app_token(directory.tenant, registered)
        else:
            token = tokens.issue_user_token(directory.tenant, base, directory.users[user], list(scopes))
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
async def api(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client bound to the ASGI app (no socket), base URL https://graph.test."""
    transport = httpx.ASGITransport(app=runtime.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://graph.test") as client:
        yield client
