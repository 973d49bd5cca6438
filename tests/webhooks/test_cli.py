"""`mailgraph subscriptions list|show|delete` on a data directory."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mailgraph.cli import main
from mailgraph.config import Settings
from mailgraph.domain.model import now
from mailgraph.domain.subscriptions import Subscription
from mailgraph.wiring import open_engine


def _seed(data_dir: Path, database: str | None) -> str:
    async def run() -> str:
        engine = await open_engine(Settings(data_dir=data_dir, database=database))
        users = await engine.read(lambda tx: tx.directory.list_users())
        bob = next(u for u in users if u.user_principal_name.startswith("bob"))
        t = now()
        sub = Subscription("sub-1", bob.tenant_id, bob.id, "full-app", bob.id, "/me/messages", None,
                           ("created", "updated"), "http://127.0.0.1:9/hook", "http://127.0.0.1:9/life",
                           "cs", t + 3_600_000_000, t + 3_600_000_000, False, None, None, (), False,
                           "v1.0", t, t + 10**12)  # fmt: skip
        await engine.write(lambda tx: tx.subscriptions.insert(sub))
        await engine.close()
        return sub.id

    return asyncio.run(run())


def _outbox(data_dir: Path, database: str | None) -> list[str]:
    async def run() -> list[str]:
        engine = await open_engine(Settings(data_dir=data_dir, database=database))
        rows = await engine.write(lambda tx: tx.subscriptions.claim(now(), now() + 1, 100))
        await engine.close()
        return [r.event for r in rows]

    return asyncio.run(run())


def test_list_show_delete(data_dir: Path, database: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    # `database`: the PostgreSQL one under MAILGRAPH_TEST_DATABASE=postgres (the CLI finds it in the env)
    sub_id = _seed(data_dir, database)
    assert main(["subscriptions", "list", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert sub_id in out and "created,updated" in out and "1 subscription(s); notifications pending 0" in out
    assert main(["subscriptions", "show", sub_id, "--data-dir", str(data_dir)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["notificationUrl"] == "http://127.0.0.1:9/hook" and shown["resource"] == "/me/messages"
    assert main(["subscriptions", "delete", sub_id, "--data-dir", str(data_dir)]) == 0
    assert main(["subscriptions", "show", sub_id, "--data-dir", str(data_dir)]) == 1
    assert _outbox(data_dir, database) == ["subscriptionRemoved"]  # the app is told through its lifecycle URL
    assert main(["subscriptions", "delete", sub_id, "--data-dir", str(data_dir)]) == 1
