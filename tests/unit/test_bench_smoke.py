"""A fast smoke test of the benchmark's own code (the benchmark itself is not part of `./dev test`):
the prototype answers the cycle the way the load generator checks it, the loader builds a store that
mailgraph lists, and the summary computes the issue's ratios from per-run numbers."""

from __future__ import annotations

import sys
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(autouse=True)
def bench_on_path() -> Iterator[None]:
    sys.path.insert(0, str(BENCH))
    yield
    sys.path.remove(str(BENCH))


async def _call(
    app: Any, method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, bytes]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    await app(scope, receive, send)
    return int(sent[0]["status"]), bytes(sent[1]["body"])


async def test_prototype_creates_and_sends_durably(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import prototype_app

    monkeypatch.setenv("PROTOTYPE_DB", str(tmp_path / "p.db"))
    monkeypatch.setattr(prototype_app, "_DB", None)
    status, body = await _call(prototype_app.app, "POST", "/contoso.com/oauth2/v2.0/token", b"", [])
    token = orjson.loads(body)["access_token"]
    auth = [(b"authorization", f"Bearer {token}".encode())]
    draft = b'{"subject":"s","body":{"content":"x"},"toRecipients":[{"emailAddress":{"address":"b@x"}}]}'
    status, body = await _call(prototype_app.app, "POST", "/v1.0/users/a@x/messages", draft, auth)
    assert status == 201
    msg_id = orjson.loads(body)["id"]
    assert (await _call(prototype_app.app, "POST", f"/v1.0/users/a@x/messages/{msg_id}/send", b"", auth))[
        0
    ] == 202
    assert (await _call(prototype_app.app, "POST", f"/v1.0/users/a@x/messages/{msg_id}/send", b"", auth))[
        0
    ] == 404
    assert (await _call(prototype_app.app, "POST", "/v1.0/users/a@x/messages", draft, []))[0] == 401
    db = prototype_app._db()
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    rows = db.execute("SELECT mailbox, folder FROM messages ORDER BY folder").fetchall()
    assert rows == [("b@x", "inbox"), ("a@x", "sentitems")]
    db.close()
    monkeypatch.setattr(prototype_app, "_DB", None)


async def test_postgresql_prototype_creates_and_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/prototype_pg_app.py (the PostgreSQL floor of bench/run.py) answers the cycle like the
    SQLite prototype and leaves the draft in Sent Items and one copy in the recipient's Inbox."""
    from tests import pgdb

    if not pgdb.enabled():
        pytest.skip("no PostgreSQL server")
    import asyncpg
    import prototype_pg_app

    name = pgdb.create(prefix="mg_proto")
    monkeypatch.setenv("PROTOTYPE_PG", pgdb.url_of(name))
    monkeypatch.setenv("PROTOTYPE_PG_POOL", "2")
    monkeypatch.setattr(prototype_pg_app, "_POOL", None)
    try:
        app = prototype_pg_app.app
        auth = [(b"authorization", b"Bearer prototype-token")]
        draft = b'{"subject":"s","body":{"content":"x"},"toRecipients":[{"emailAddress":{"address":"b@x"}}]}'
        status, body = await _call(app, "POST", "/v1.0/users/a@x/messages", draft, auth)
        assert status == 201
        msg_id = orjson.loads(body)["id"]
        assert (await _call(app, "POST", f"/v1.0/users/a@x/messages/{msg_id}/send", b"", auth))[0] == 202
        assert (await _call(app, "POST", f"/v1.0/users/a@x/messages/{msg_id}/send", b"", auth))[0] == 404
        assert (await _call(app, "POST", "/v1.0/users/a@x/messages", draft, []))[0] == 401
        con = await asyncpg.connect(pgdb.url_of(name))
        try:
            rows = await con.fetch("SELECT mailbox, folder FROM proto_messages ORDER BY folder")
            assert [tuple(r) for r in rows] == [("b@x", "inbox"), ("a@x", "sentitems")]
            assert await con.fetchval("SHOW synchronous_commit") == "on"  # durable, as mailgraph's default
        finally:
            await con.close()
    finally:
        if prototype_pg_app._POOL is not None:
            await prototype_pg_app._POOL.close()
        monkeypatch.setattr(prototype_pg_app, "_POOL", None)
        pgdb.drop(name)


async def test_loader_builds_a_store_mailgraph_lists(tmp_path: Path) -> None:
    from load_store import load

    from mailgraph.config import Settings
    from mailgraph.wiring import build

    await load(tmp_path / "d", 40, unit=16, quiet=True)
    runtime = await build(Settings(data_dir=tmp_path / "d"))
    try:
        alice = await runtime.directory.tenant()
        assert alice is not None

        async def counts(tx: Any) -> list[tuple[str, int, int]]:
            rows = []
            for user in ("alice", "bob"):
                u = await tx.directory.find_user(alice.id, f"{user}@contoso.com")
                f = await tx.folders.get_well_known(u.id, "inbox")
                rows.append((user, f.total_item_count, f.unread_item_count))
            return rows

        # 40 messages: half in alice's Inbox, a quarter in bob's; one in three read.
        assert await runtime.engine.read(counts) == [("alice", 20, 13), ("bob", 10, 6)]
    finally:
        await runtime.engine.close()


async def test_notification_phase_runs_in_a_fresh_process(tmp_path: Path) -> None:
    """bench/notifications.py measures each send-cost phase in a child interpreter: the child builds a
    runtime on a copy of the template, subscribes one per mailbox, runs the cycles and prints its rate."""
    import argparse

    import notifications

    await notifications.make_template(tmp_path / "template", 4)
    args = argparse.Namespace(cycles=12, concurrency=4, subscriptions=4)
    rate = notifications.phase_in_fresh_process("spread", tmp_path / "template", tmp_path / "r0", args)
    assert rate > 0
    assert (tmp_path / "r0" / "spread" / "mailgraph.db").is_file()  # the child's own copy, not the template


def test_summary_ratios() -> None:
    from run import PhaseStats, RunStats, summarize, summary_table

    def phase(label: str, ops: float) -> PhaseStats:
        return PhaseStats(
            "cycle", label, ops, 1.0, 2.0, 1.0, 3.0, int(ops), {}, [], 5.0, 50.0, 0.5, 0.1, 60.0
        )

    runs = []
    for ops in (1000.0, 1100.0, 1200.0):
        run = RunStats(1, 0.0)
        for label, x in (
            ("cycle", ops),
            ("prototype", ops / 2),
            ("cycle-Np", ops * 1.5),
            ("list-1M", 9000.0),
        ):
            run.phases[label] = phase(label, x)
        runs.append(run)
    s = summarize(runs)
    assert s["ratios"]["mailgraph 1 process / prototype"]["median"] == pytest.approx(2.0)
    assert s["ratios"]["mailgraph N processes / prototype"]["median"] == pytest.approx(3.0)
    assert s["list_1M_req_s_per_core"] == pytest.approx(2000.0)
    assert s["rss_1M_mb"] == 60.0
    table = summary_table(s, 3)
    assert "mailgraph 1 process / prototype" in table and "NOT met" in table  # list per core < 5000
