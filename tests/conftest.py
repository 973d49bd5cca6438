"""Shared fixtures: a real app on a real store, real signed tokens, an ASGI client.

The store is SQLite in a temp dir, or PostgreSQL with `MAILGRAPH_TEST_DATABASE=postgres` (`./dev test`
runs every suite that goes through a server a second time that way; tests/pgdb.py). Building the test tenant hashes its
secrets (scrypt, deliberately slow), so it is built once per session into a template data directory
(and, on PostgreSQL, a template database) that each test copies.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mailgraph.config import Settings
from mailgraph.domain.model import App, Tenant, User
from mailgraph.wiring import Runtime, build
from tests import pgdb

TENANT_FILE = Path(__file__).with_name("tenant.toml")
ON_POSTGRES = os.environ.get("MAILGRAPH_TEST_DATABASE", "sqlite") == "postgres"
pytest_plugins = ["pytester"]  # tests/workbench runs sample suites that use mailgraph's pytest plugin


@pytest.fixture(autouse=True)
def _no_stray_log_handlers() -> Iterator[None]:
    """A test that runs the CLI in-process (`cli.main([...])`) gets a root StreamHandler from
    `cli/logs.configure`, bound to that test's captured stderr; once the capture is closed, records from
    threads that outlive the test (aiosmtpd sinks) would hit the closed stream ("--- Logging error ---")."""
    root = logging.getLogger()
    before = set(root.handlers)
    yield
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler and handler not in before:
            root.removeHandler(handler)


def session_database(prefix: str) -> Iterator[str | None]:
    """A session's own database on PostgreSQL (None on SQLite), dropped at its end (a fixture body)."""
    if not ON_POSTGRES:
        yield None
        return
    if not pgdb.enabled():
        pytest.skip("MAILGRAPH_TEST_DATABASE=postgres but no PostgreSQL at 127.0.0.1:5432")
    name = pgdb.create(prefix=prefix)
    yield name
    pgdb.drop(name)


def build_template(path: Path, tenant_file: Path, template_database: str | None) -> Path:
    """A data directory (and, on PostgreSQL, `template_database`, snapshotted for `pgdb.reset`) with
    `tenant_file` applied."""
    database = None if template_database is None else pgdb.url_of(template_database)

    async def make() -> None:
        runtime = await build(Settings(data_dir=path, tenant_file=tenant_file, database=database))
        await runtime.engine.close()

    if template_database is None:
        asyncio.run(make())
    else:
        # One template per database: a `template_dir` override paired with another suite's database
        # would snapshot that suite's tenant and whatever its tests left behind into it.
        if pgdb.has_snapshot(template_database):
            raise RuntimeError(
                f"{template_database} holds a template already: override `template_database` together"
                " with `template_dir` (tests/submission/conftest.py)"
            )
        pgdb.run(make)
        pgdb.snapshot(template_database)
    return path


@pytest.fixture(scope="session")
def template_database() -> Iterator[str | None]:
    """On PostgreSQL: the session's database; the template data directory's tenant goes into it."""
    yield from session_database("mg_tmpl")


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory, template_database: str | None) -> Path:
    """A data directory (and database) with the test tenant applied (built once)."""
    return build_template(tmp_path_factory.mktemp("template") / "data", TENANT_FILE, template_database)


@pytest.fixture
def database(
    template_dir: Path, template_database: str | None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str | None]:
    """This test's database URL: None on SQLite (the file in the data dir); on PostgreSQL the session's
    database put back to the template's rows, also in `MAILGRAPH_DATABASE` for CLI commands tests run."""
    if template_database is None:
        yield None
        return
    pgdb.reset(template_database)
    monkeypatch.setenv("MAILGRAPH_DATABASE", pgdb.url_of(template_database))
    yield pgdb.url_of(template_database)


@pytest.fixture
def data_dir(template_dir: Path, tmp_path: Path, database: str | None) -> Path:
    """A fresh copy of the template data directory (and database)."""
    target = tmp_path / "data"
    shutil.copytree(template_dir, target)
    return target


@pytest.fixture
async def runtime(data_dir: Path, database: str | None) -> AsyncIterator[Runtime]:
    """The built server (app + store) on this test's data directory."""
    rt = await build(Settings(data_dir=data_dir, database=database))
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
