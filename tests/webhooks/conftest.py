"""Fixtures of the change-notification tests: mailgraph served by uvicorn on 127.0.0.1 (its lifespan
starts the notification worker), a receiver on 127.0.0.1, and real signed tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from mailgraph.config import Settings
from mailgraph.domain.model import App
from mailgraph.wiring import Runtime, build
from tests.webhooks.receiver import Receiver

# Graph's timings, shortened by settings (never monkeypatched): retries every 0.5 s.
FAST = {"webhook_retry_schedule": (0.5,), "queue_poll_s": 0.2}


@dataclass
class Served:
    """mailgraph listening on 127.0.0.1, with an HTTP client and token helpers."""

    runtime: Runtime
    client: httpx.AsyncClient
    base: str

    def token(self, user: str | None = None, *scopes: str, app: list[str] | None = None) -> dict[str, str]:
        """Authorization headers: delegated for `user` with `scopes`, else an app token."""
        tokens = self.runtime.app.services.tokens
        tenant = self.runtime.tenant
        base = self._apps["full-app"]
        if user is None:
            registered = App(base.client_id, base.tenant_id, base.object_id, base.display_name, None, False,
                             tuple(app if app is not None else base.application_permissions), ())  # fmt: skip
            return {"Authorization": f"Bearer {tokens.issue_app_token(tenant, registered)}"}
        token = tokens.issue_user_token(tenant, base, self.users[user], list(scopes))
        return {"Authorization": f"Bearer {token}"}

    _apps: dict[str, App]
    users: dict[str, Any]


ServeFn = Callable[..., Any]


@pytest.fixture
async def serve(data_dir: Path, database: str | None) -> AsyncIterator[ServeFn]:
    """`await serve(**settings)` → mailgraph on 127.0.0.1 with those settings (stopped at teardown), on
    this test's store (SQLite in `data_dir`, or the PostgreSQL database of `MAILGRAPH_TEST_DATABASE`)."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None], httpx.AsyncClient]] = []

    async def start(**overrides: Any) -> Served:
        settings = Settings(data_dir=data_dir, database=database, **{**FAST, **overrides})
        runtime = await build(settings)
        config = uvicorn.Config(runtime.app, host="127.0.0.1", port=0, lifespan="on", log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
            if task.done():
                task.result()
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        client = httpx.AsyncClient(base_url=base, timeout=30)
        servers.append((server, task, client))
        users = await runtime.engine.read(lambda tx: tx.directory.list_users())
        apps = await runtime.engine.read(lambda tx: tx.directory.list_apps())
        return Served(runtime, client, base, {a.client_id: a for a in apps},
                      {u.user_principal_name.split("@")[0]: u for u in users})  # fmt: skip

    yield start
    for server, task, client in servers:
        await client.aclose()
        server.should_exit = True
        await task


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on 127.0.0.1."""
    r = Receiver()
    await r.start()
    yield r
    await r.stop()
