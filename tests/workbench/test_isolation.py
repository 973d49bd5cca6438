"""Isolation between two tenants on one server: tokens, routes, delivery, queue, events, UI — no leaks.

Mail from one hosted tenant to another's domain is delivered locally, as two Exchange organisations
on one host would (docs/workbench.md): into the recipient's Inbox in its own tenant, never queued.
Change notifications (webhooks) and the queue across two tenants: tests/webhooks/test_tenant_isolation.py
(it needs the served app with its notification worker).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import httpx

from mailgraph.api.control.events import change_events
from mailgraph.api.control.fanout import EventHub
from mailgraph.wiring import Runtime
from tests.workbench.helpers import admin, app_token, new_tenant, send_mail


def _hub(runtime: Runtime) -> EventHub:
    assert runtime.control is not None
    return runtime.control.control.events


async def _ui_session(api: httpx.AsyncClient, runtime: Runtime) -> None:
    login = await api.get("/ui/login")
    pre = login.cookies["mg_login"]
    api.cookies.set("mg_login", pre)
    r = await api.post("/ui/login", data={"token": runtime.admin_token, "csrf": pre})
    assert r.status_code == 303
    api.cookies.set("mg_session", r.cookies["mg_session"])


async def test_two_tenants_share_nothing(api: httpx.AsyncClient, runtime: Runtime) -> None:
    a, b = await new_tenant(api, runtime, displayName="A"), await new_tenant(api, runtime, displayName="B")
    token_a, token_b = await app_token(api, a), await app_token(api, b)
    alice_a, bob_a = (u["userPrincipalName"] for u in a["users"])
    alice_b, bob_b = (u["userPrincipalName"] for u in b["users"])
    seen_by_b: list[bytes] = []
    b_ids = frozenset(u["id"] for u in b["users"])

    async def watch_b() -> None:
        async for frame in change_events(_hub(runtime), b_ids, lifetime_s=2.0):
            if frame.startswith(b"event:"):
                seen_by_b.append(frame)

    watcher = asyncio.create_task(watch_b())
    await asyncio.sleep(0)

    # Tokens and routes: A's token cannot reach B's mailboxes, by UPN or by object id.
    for key in (alice_b, b["users"][0]["id"]):
        r = await api.get(f"/v1.0/users/{key}/messages", headers=token_a)
        assert r.status_code == 404 and r.json()["error"]["code"] == "ErrorInvalidUser"
    # Delivery inside A, and out to the world, leave B untouched.
    await send_mail(api, token_a, alice_a, [bob_a, "far@example.net"], "Inside A")
    # Mail from A to B's domain: delivered into B's Inbox (local delivery), not queued.
    await send_mail(api, token_a, alice_a, [bob_b], "A to B")
    await asyncio.wait_for(watcher, 5)
    got = await api.get(
        f"/_mailgraph/tenants/{b['id']}/messages/wait",
        params={"mailbox": bob_b, "subject": "A to B", "timeout": "5"},
        headers=admin(runtime),
    )
    assert got.status_code == 200
    # B's events show only that delivery (no change of A's mailboxes).
    assert seen_by_b and all(b'"mailboxId":"' + b["users"][1]["id"].encode() in f for f in seen_by_b)

    async def subjects(tenant: dict[str, Any], kind: str = "messages") -> set[str]:
        r = await api.get(f"/_mailgraph/tenants/{tenant['id']}/{kind}", headers=admin(runtime))
        return {m["subject"] for m in r.json()["value"]}

    assert await subjects(b) == {"A to B"}
    assert await subjects(a) == {"Inside A", "A to B"}  # A's Sent Items copies
    assert await subjects(a, "outbound") == {"Inside A"} and await subjects(b, "outbound") == set()
    # B reads its copy with its own token; A cannot read it.
    inbox_b = (await api.get(f"/v1.0/users/{bob_b}/mailFolders/inbox/messages", headers=token_b)).json()[
        "value"
    ]
    assert [m["subject"] for m in inbox_b] == ["A to B"]
    assert (
        await api.get(f"/v1.0/users/{bob_a}/messages/{inbox_b[0]['id']}", headers=token_a)
    ).status_code == 404
    # Inspection of A's send shows no delivery in B (B's copy is B's business).
    imid = inbox_b[0]["internetMessageId"]
    report = (
        await api.get(f"/_mailgraph/tenants/{a['id']}/sends/" + quote(imid, safe=""), headers=admin(runtime))
    ).json()
    assert (
        report["sentItem"]["subject"] == "A to B" and report["deliveries"] == [] and report["outbound"] == []
    )
    # Control API: a mailbox of B named under A is unknown; B's outbound MIME is not A's.
    r = await api.get(
        f"/_mailgraph/tenants/{a['id']}/messages", params={"mailbox": bob_b}, headers=admin(runtime)
    )
    assert r.status_code == 404
    out_a = (await api.get(f"/_mailgraph/tenants/{a['id']}/outbound", headers=admin(runtime))).json()[
        "value"
    ][0]
    assert (
        await api.get(f"/_mailgraph/tenants/{b['id']}/outbound/{out_a['id']}/mime", headers=admin(runtime))
    ).status_code == 404
    seeded = await api.post(
        f"/_mailgraph/tenants/{a['id']}/messages",
        json={"messages": [{"mailbox": bob_b, "message": {}}]},
        headers=admin(runtime),
    )
    assert seeded.status_code == 400
    # UI: B's mailbox under A's tenant is not found; B's message under A's tenant is not shown.
    await _ui_session(api, runtime)
    assert (await api.get(f"/ui/tenants/{a['id']}/mailboxes/{b['users'][1]['id']}")).status_code == 404
    assert (
        await api.get(f"/ui/tenants/{a['id']}/mailboxes/{b['users'][1]['id']}/messages/{inbox_b[0]['id']}")
    ).status_code == 404
    page = await api.get(f"/ui/tenants/{b['id']}/mailboxes/{b['users'][1]['id']}")
    assert "A to B" in page.text and "Inside A" not in page.text
    # Deleting A leaves B whole.
    assert (await api.delete(f"/_mailgraph/tenants/{a['id']}", headers=admin(runtime))).status_code == 204
    assert await subjects(b) == {"A to B"}
    assert (await api.get(f"/v1.0/users/{bob_b}/messages", headers=token_b)).status_code == 200
