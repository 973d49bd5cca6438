"""Exchange's per-mailbox send limits through the real app (spec §6 "behaviour over the send rate").

A short window stands in for Exchange's minute (3 sends per 2 s): the 4th send is accepted (202), waits
in the Outbox, and is delivered (Inbox copy and relay queue entry) only once the window has passed;
another mailbox is unaffected; a restart in between keeps the held send, released exactly once.
Over the recipient limit the mailbox is blocked and its sender gets non-delivery reports.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailgraph.config import Settings
from mailgraph.delivery.held import HeldSendReleaser
from mailgraph.domain.model import SECOND
from mailgraph.store.sql.send_quota import SqlSendQuota
from mailgraph.wiring import Runtime, build, clock
from tests.delivery.helpers import entries, inbox, mail

TENANT = Path(__file__).parent.parent / "tenant.toml"
RATE = "[throttling]\nprofile = 'exchange-online'\nsends = 3\nsends_window_s = 2\n"
DAILY = "[throttling]\nprofile = 'exchange-online'\nrecipients = 3\nrecipients_window_s = 60\n"
Open = Callable[[str], Awaitable[Runtime]]


@pytest.fixture
async def open_server(data_dir: Path, database: str | None, tmp_path: Path) -> AsyncIterator[Open]:
    """`await open_server(throttling_toml)` → a runtime with that tenant file, its held-send releaser
    started (the ASGI lifespan does it in `serve`); closed at teardown."""
    made: list[Runtime] = []

    async def open_(extra: str) -> Runtime:
        tenant = tmp_path / "tenant.toml"
        tenant.write_text(TENANT.read_text(encoding="utf-8") + "\n" + extra, encoding="utf-8")
        settings = Settings(data_dir=data_dir, database=database, tenant_file=tenant, queue_poll_s=0.05)
        runtime = await build(settings)
        made.append(runtime)
        assert runtime.held is not None
        await runtime.held.start()
        return runtime

    yield open_
    for runtime in made:
        await close(runtime)


async def close(runtime: Runtime) -> None:
    if runtime.held is not None:
        await runtime.held.stop()
    await runtime.engine.close()


def client(runtime: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.app), base_url="https://graph.test")


async def headers(runtime: Runtime, user: str) -> dict[str, str]:
    users = await runtime.engine.read(lambda tx: tx.directory.list_users())
    apps = await runtime.engine.read(lambda tx: tx.directory.list_apps())
    found = next(u for u in users if u.user_principal_name.startswith(user + "@"))
    app = next(a for a in apps if a.client_id == "full-app")
    scopes = ["Mail.ReadWrite", "Mail.Send"]
    return {
        "Authorization": f"Bearer {runtime.app.services.tokens.issue_user_token(runtime.tenant, app, found, scopes)}"
    }


async def items(api: httpx.AsyncClient, h: dict[str, str], folder: str, user: str = "alice") -> list[Any]:
    r = await api.get(f"/v1.0/users/{user}@fabrikam.test/mailFolders/{folder}/messages?$top=100", headers=h)
    assert r.status_code == 200, r.text
    return list(r.json()["value"])


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 8.0) -> float:
    """Poll `check` (bounded); the time.time() at which it first held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return time.time()
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def send_four(api: httpx.AsyncClient, alice: dict[str, str]) -> float:
    """Alice sends 4 messages to bob and one external address: the 4th is over 3 per 2 s."""
    started = time.time()
    for i in range(4):
        body = mail(["bob@fabrikam.test", "x@example.net"], subject=f"m{i}")
        r = await api.post("/v1.0/me/sendMail", json=body, headers=alice)
        assert r.status_code == 202, r.text  # accepted, even over the rate
    return started


async def test_fourth_send_in_a_window_is_accepted_and_delivered_after_it(open_server: Open) -> None:
    runtime = await open_server(RATE)
    alice, bob = await headers(runtime, "alice"), await headers(runtime, "bob")
    async with client(runtime) as api:
        started = await send_four(api, alice)
        assert sorted(m["subject"] for m in await inbox(api, bob, "bob")) == ["m0", "m1", "m2"]
        (waiting,) = await items(api, alice, "outbox")  # the held send waits in the Outbox
        assert waiting["subject"] == "m3" and waiting["isDraft"] is False
        assert len(await entries(runtime)) == 3  # nor is it queued for the relay yet
        # Another mailbox is unaffected: bob's send goes at once.
        r = await api.post("/v1.0/me/sendMail", json=mail(["carol@fabrikam.test"], "from bob"), headers=bob)
        assert r.status_code == 202
        carol = await headers(runtime, "carol")
        assert [m["subject"] for m in await inbox(api, carol, "carol")] == ["from bob"]

        async def delivered() -> bool:
            return len(await inbox(api, bob, "bob")) == 4  # m0..m3

        at = await until(delivered)
        assert at - started >= 2.0 - 0.05  # not before the window (clock granularity aside)
        assert "m3" in {m["subject"] for m in await inbox(api, bob, "bob")}
        assert await items(api, alice, "outbox") == []
        sent = sorted(m["subject"] for m in await items(api, alice, "sentitems"))
        assert sent == ["m0", "m1", "m2", "m3"]
        assert sorted(e.recipient for e in await entries(runtime)) == ["x@example.net"] * 4  # relay too


async def test_with_the_preset_the_31st_send_in_a_minute_waits_for_the_next_minute(open_server: Open) -> None:
    runtime = await open_server("[throttling]\nprofile = 'exchange-online'\n")
    alice, bob = await headers(runtime, "alice"), await headers(runtime, "bob")
    async with client(runtime) as api:
        started = clock()
        for i in range(31):
            r = await api.post("/v1.0/me/sendMail", json=mail(["bob@fabrikam.test"], f"m{i}"), headers=alice)
            assert r.status_code == 202, r.text
        assert len(await inbox(api, bob, "bob")) == 30
        assert [m["subject"] for m in await items(api, alice, "outbox")] == ["m30"]
        (held,) = await runtime.engine.read(lambda tx: tx.send_quota.held())
        assert started + 60 * SECOND <= held.release_at <= clock() + 60 * SECOND


async def test_a_restart_keeps_the_held_send_and_releases_it_once(open_server: Open) -> None:
    first = await open_server(RATE)
    async with client(first) as api:
        await send_four(api, await headers(first, "alice"))
    assert first.held is not None
    await first.held.stop()  # the server goes down before the window has passed
    held = await first.engine.read(lambda tx: tx.send_quota.held())
    assert len(held) == 1 and held[0].release_at > clock()
    await close(first)

    second = await open_server(RATE)
    # A second releaser on the same store (another process): leases keep the release single.
    other = HeldSendReleaser(second.uow, second.app.services.sending, clock, poll_s=0.05)
    await other.start()
    try:
        bob = await headers(second, "bob")
        async with client(second) as api:

            async def released() -> bool:
                return not await second.engine.read(lambda tx: tx.send_quota.held())

            await until(released)
            await asyncio.sleep(0.3)  # a duplicate release would have landed by now
            subjects = sorted(m["subject"] for m in await inbox(api, bob, "bob"))
            assert subjects == ["m0", "m1", "m2", "m3"]  # neither lost nor doubled
            assert len(await entries(second)) == 4
    finally:
        await other.stop()


async def test_deleting_a_held_send_from_the_outbox_cancels_it(open_server: Open) -> None:
    runtime = await open_server(RATE)
    alice, bob = await headers(runtime, "alice"), await headers(runtime, "bob")
    async with client(runtime) as api:
        await send_four(api, alice)
        (waiting,) = await items(api, alice, "outbox")
        # DELETE soft-deletes it (Recoverable Items): out of the Outbox, so at its turn nothing is sent.
        assert (await api.delete(f"/v1.0/me/messages/{waiting['id']}", headers=alice)).status_code == 204

        async def dropped() -> bool:
            return not await runtime.engine.read(lambda tx: tx.send_quota.held())

        await until(dropped)
        assert len(await inbox(api, bob, "bob")) == 3
        assert await items(api, alice, "sentitems") != [] and await items(api, alice, "outbox") == []
        assert "m3" not in {m["subject"] for m in await items(api, alice, "sentitems")}


async def test_over_the_daily_recipients_the_mailbox_is_blocked_with_reports(open_server: Open) -> None:
    runtime = await open_server(DAILY)
    alice, bob = await headers(runtime, "alice"), await headers(runtime, "bob")
    both = ["bob@fabrikam.test", "carol@fabrikam.test"]
    async with client(runtime) as api:
        for subject, to in (("first", both), ("over", both), ("small", ["bob@fabrikam.test"])):
            r = await api.post("/v1.0/me/sendMail", json=mail(to, subject), headers=alice)
            assert r.status_code == 202, r.text  # accepted; the report tells the sender
        assert [m["subject"] for m in await inbox(api, bob, "bob")] == ["first"]
        reports = await inbox(api, alice)
        assert sorted(m["subject"] for m in reports) == ["Undeliverable: over", "Undeliverable: small"]
        r = await api.get(f"/v1.0/me/messages/{reports[0]['id']}?$select=body", headers=alice)
        text = r.json()["body"]["content"]
        assert "SubmissionQuotaExceeded" in text and "3 recipients per minute" in text
        # Bob's mailbox has its own quota.
        r = await api.post("/v1.0/me/sendMail", json=mail(["carol@fabrikam.test"], "bob's"), headers=bob)
        assert r.status_code == 202
        carol = await headers(runtime, "carol")
        assert "bob's" in {m["subject"] for m in await inbox(api, carol, "carol")}


async def test_limits_off_by_default_touch_no_counter(
    api: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never(self: SqlSendQuota, mailbox_id: str) -> None:
        raise AssertionError("the send path read the send counters with every profile off")

    monkeypatch.setattr(SqlSendQuota, "lock", never)
    alice = await headers(runtime, "alice")
    for i in range(5):
        r = await api.post("/v1.0/me/sendMail", json=mail(["bob@fabrikam.test"], f"m{i}"), headers=alice)
        assert r.status_code == 202
    assert len(await inbox(api, await headers(runtime, "bob"), "bob")) == 5
    assert runtime.held is None  # no releaser either
