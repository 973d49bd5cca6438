"""The control API: ephemeral tenants, seed, reset, wait-for, outbound, send inspection, its credential."""

from __future__ import annotations

import asyncio
import hashlib
from urllib.parse import quote

import httpx

from mailgraph.domain.attachments import AttachmentService
from mailgraph.wiring import Runtime, clock
from tests.conftest import TokenFor
from tests.workbench.helpers import admin, app_token, new_tenant, send_mail


async def test_create_gives_working_credentials_and_wait_for_sees_the_send(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await new_tenant(api, runtime)
    assert tenant["ephemeral"] is True and tenant["tokenUrl"].endswith(f"/{tenant['id']}/oauth2/v2.0/token")
    alice, bob = (u["userPrincipalName"] for u in tenant["users"])
    assert alice.startswith("alice@") and all(u["password"] for u in tenant["users"])
    token = await app_token(api, tenant)
    await send_mail(api, token, alice, [bob], "Hello Bob")
    r = await api.get(
        f"/_mailgraph/tenants/{tenant['id']}/messages/wait",
        params={"mailbox": bob, "folder": "inbox", "subject": "hello", "from": alice, "timeout": "5"},
        headers=admin(runtime),
    )
    assert r.status_code == 200, r.text
    (found,) = r.json()["value"]
    assert found["subject"] == "Hello Bob" and found["body"]["content"] == "body of Hello Bob"
    # The same message is readable through Graph with the tenant's token.
    graph = await api.get(f"/v1.0/users/{bob}/messages/{found['id']}", headers=token)
    assert graph.status_code == 200 and graph.json()["internetMessageId"] == found["internetMessageId"]


async def test_wait_times_out_with_408_and_is_woken_by_a_commit(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await new_tenant(api, runtime, template="single")
    url = f"/_mailgraph/tenants/{tenant['id']}/messages/wait"
    r = await api.get(url, params={"subject": "never", "timeout": "0.2"}, headers=admin(runtime))
    assert r.status_code == 408 and r.json()["error"]["code"] == "RequestTimeout"
    waiting = asyncio.create_task(
        api.get(url, params={"subject": "later", "timeout": "10"}, headers=admin(runtime))
    )
    await asyncio.sleep(0.1)
    assert not waiting.done()
    seeded = await api.post(
        f"/_mailgraph/tenants/{tenant['id']}/messages",
        json={"messages": [{"mailbox": "alice", "message": {"subject": "Later on"}}]},
        headers=admin(runtime),
    )
    assert seeded.status_code == 201, seeded.text
    r = await asyncio.wait_for(waiting, 5)
    assert r.status_code == 200 and r.json()["value"][0]["subject"] == "Later on"


async def test_seed_json_and_mime_with_dates_flags_and_folders(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await new_tenant(api, runtime)
    mime = (
        "From: Far Away <far@example.net>\r\nTo: alice@x.test\r\nSubject: From MIME\r\n"
        "Message-ID: <seeded-1@example.net>\r\nDate: Tue, 02 Jan 2024 03:04:05 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHello from MIME\r\n"
    )
    body = {
        "messages": [
            {
                "mailbox": "alice",
                "folder": "archive",
                "isRead": True,
                "receivedDateTime": "2023-05-01T10:00:00Z",
                "message": {
                    "subject": "Old news",
                    "from": {"emailAddress": {"address": "news@example.org"}},
                    "attachments": [
                        {
                            "@odata.type": "#microsoft.graph.fileAttachment",
                            "name": "a.txt",
                            "contentBytes": "aGk=",
                        }
                    ],
                },
            },
            {"mailbox": "alice", "mime": mime},
        ]
    }
    r = await api.post(f"/_mailgraph/tenants/{tenant['id']}/messages", json=body, headers=admin(runtime))
    assert r.status_code == 201, r.text
    old, from_mime = r.json()["value"]
    assert old["receivedDateTime"] == "2023-05-01T10:00:00Z" and old["isRead"] and old["hasAttachments"]
    assert from_mime["internetMessageId"] == "<seeded-1@example.net>"
    assert from_mime["receivedDateTime"] == "2024-01-02T03:04:05Z" and not from_mime["isRead"]
    listed = await api.get(
        f"/_mailgraph/tenants/{tenant['id']}/messages",
        params={"mailbox": "alice@" + tenant["domains"][0], "folder": "archive"},
        headers=admin(runtime),
    )
    assert [m["subject"] for m in listed.json()["value"]] == ["Old news"]
    raw = await api.post(
        f"/_mailgraph/tenants/{tenant['id']}/messages?mailbox=bob&folder=junkemail",
        content=mime.replace("seeded-1", "seeded-2").encode(),
        headers={**admin(runtime), "Content-Type": "message/rfc822"},
    )
    assert raw.status_code == 201 and raw.json()["value"][0]["subject"] == "From MIME"


async def test_reset_empties_and_reseeds(api: httpx.AsyncClient, runtime: Runtime) -> None:
    seed = [{"mailbox": "alice", "message": {"subject": "Welcome"}}]
    tenant = await new_tenant(api, runtime, messages=seed)
    assert [m["subject"] for m in tenant["seeded"]] == ["Welcome"]
    base = f"/_mailgraph/tenants/{tenant['id']}"
    token = await app_token(api, tenant)
    alice, bob = (u["userPrincipalName"] for u in tenant["users"])
    await send_mail(api, token, alice, [bob, "far@example.net"], "Before reset")
    rule = {"displayName": "r", "sequence": 1, "actions": {"markAsRead": True}}
    r = await api.post(f"/v1.0/users/{bob}/mailFolders/inbox/messageRules", json=rule, headers=token)
    assert r.status_code == 201, r.text
    replies = {"automaticRepliesSetting": {"status": "alwaysEnabled"}}
    assert (
        await api.patch(f"/v1.0/users/{bob}/mailboxSettings", json=replies, headers=token)
    ).status_code == 200
    r = await api.post(f"{base}/reset", json={}, headers=admin(runtime))
    assert r.status_code == 200 and r.json()["deletedMessages"] == 3 and r.json()["deletedOutbound"] == 1
    assert (await api.get(f"{base}/messages", headers=admin(runtime))).json()["value"] == []
    assert (await api.get(f"{base}/outbound", headers=admin(runtime))).json()["value"] == []
    inbox = await api.get(f"/v1.0/users/{bob}/mailFolders/inbox", headers=token)
    assert inbox.json()["totalItemCount"] == 0
    # A reset mailbox files and answers nothing the previous test set up.
    rules = await api.get(f"/v1.0/users/{bob}/mailFolders/inbox/messageRules", headers=token)
    assert rules.json()["value"] == []
    settings = await api.get(f"/v1.0/users/{bob}/mailboxSettings/automaticRepliesSetting", headers=token)
    assert settings.json()["status"] == "disabled"
    r = await api.post(f"{base}/reset", json={"to": "seed"}, headers=admin(runtime))
    assert r.json()["seeded"] == 1
    assert [
        m["subject"] for m in (await api.get(f"{base}/messages", headers=admin(runtime))).json()["value"]
    ] == ["Welcome"]


async def test_send_inspection_and_outbound(api: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await new_tenant(api, runtime)
    token = await app_token(api, tenant)
    alice, bob = (u["userPrincipalName"] for u in tenant["users"])
    domain = tenant["domains"][0]
    await send_mail(api, token, alice, [bob, "far@example.net", f"nobody@{domain}"], "Inspect me")
    base = f"/_mailgraph/tenants/{tenant['id']}"
    waited = await api.get(
        f"{base}/outbound/wait", params={"to": "far@example.net", "timeout": "5"}, headers=admin(runtime)
    )
    assert waited.status_code == 200, waited.text
    (out,) = waited.json()["value"]
    assert [r["recipient"] for r in out["recipients"]] == ["far@example.net"]
    mime = await api.get(f"{base}/outbound/{out['id']}/mime", headers=admin(runtime))
    assert mime.status_code == 200 and b"Subject: Inspect me" in mime.content
    report = await api.get(
        f"{base}/sends/" + quote(out["internetMessageId"], safe=""), headers=admin(runtime)
    )
    assert report.status_code == 200, report.text
    shown = report.json()
    assert shown["sentItem"]["subject"] == "Inspect me"
    assert [d["mailboxId"] for d in shown["deliveries"]] == [tenant["users"][1]["id"]]
    assert shown["outbound"][0]["recipients"][0]["status"] in ("queued", "sending", "captured")
    assert [r["subject"] for r in shown["reports"]] == ["Undeliverable: Inspect me"]
    by_id = await api.get(f"{base}/sends/{shown['sentItem']['id']}", headers=admin(runtime))
    assert by_id.json()["sentItem"]["immutableId"] == shown["sentItem"]["immutableId"]


async def test_delete_removes_every_row_and_the_credentials(api: httpx.AsyncClient, runtime: Runtime) -> None:
    async def counts() -> dict[str, int]:
        from tests.workbench.rows import row_counts

        return await row_counts(runtime)

    before = await counts()
    tenant = await new_tenant(api, runtime, messages=[{"mailbox": "bob", "message": {"subject": "x", "attachments": [
        {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.bin", "contentBytes": "AAEC"}]}}])  # fmt: skip
    token = await app_token(api, tenant)
    alice, bob = (u["userPrincipalName"] for u in tenant["users"])
    await send_mail(api, token, alice, [bob, "far@example.net"], "Going away")
    # Rows of other issues that belong to the tenant: fault rules naming its mailbox or app (issue 13),
    # a failed client sign-in counted by smart lockout (issue 17).
    client_id = tenant["apps"][0]["clientId"]
    for rule in ({"mailbox": bob.upper(), "status": 503}, {"app": client_id, "status": 429}):
        added = await api.post("/_mailgraph/faults", json={"method": "PATCH", **rule}, headers=admin(runtime))
        assert added.status_code == 201, added.text
    wrong = await api.post(
        tenant["tokenUrl"].replace("https://graph.test", ""),
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "wrong",
              "scope": "https://graph.microsoft.com/.default"},
    )  # fmt: skip
    assert wrong.status_code == 401
    grown = await counts()
    assert grown["fault_rules"] == before["fault_rules"] + 2
    assert grown["sign_in_failures"] == before["sign_in_failures"] + 1
    r = await api.delete(f"/_mailgraph/tenants/{tenant['id']}", headers=admin(runtime))
    assert r.status_code == 204
    after = await counts()
    # Blob rows (and, on PostgreSQL, the bytes: blob_contents, blob_chunks) stay for the collector's
    # grace period with no reference; the collector then removes them.
    held = ("blobs", "blob_contents", "blob_chunks")
    assert {t: n for t, n in after.items() if t not in held} == {
        t: n for t, n in before.items() if t not in held
    }
    service = runtime.app.services.attachments
    for blob_hash in (hashlib.sha256(b"\x00\x01\x02").hexdigest(),):
        await service.blobs.backdate(blob_hash, 3600)  # type: ignore[attr-defined]
    later = AttachmentService(runtime.engine, service.blobs, lambda: clock() + 3600 * 1_000_000)
    await later.collect()
    assert await counts() == before  # every row of the tenant gone, its attachment bytes too
    assert (
        await api.delete(f"/_mailgraph/tenants/{tenant['id']}", headers=admin(runtime))
    ).status_code == 404
    gone = await api.get(f"/v1.0/users/{alice}/messages", headers=token)
    assert gone.status_code == 401  # the tenant's signing key went with it


async def test_credential_errors_and_unknown_routes(
    api: httpx.AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    assert (await api.get("/_mailgraph/tenants")).status_code == 401
    graph_token = await api.get("/_mailgraph/tenants", headers=token_for())
    assert (
        graph_token.status_code == 401 and graph_token.json()["error"]["code"] == "InvalidAuthenticationToken"
    )
    assert (await api.get("/_mailgraph/nothing", headers=admin(runtime))).status_code == 404
    r = await api.put("/_mailgraph/tenants", headers=admin(runtime))
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    bad = await api.post("/_mailgraph/tenants", json={"template": "nope"}, headers=admin(runtime))
    assert bad.status_code == 400 and "unknown template" in bad.json()["error"]["message"]
    perms = await api.post(
        "/_mailgraph/tenants",
        json={"apps": [{"applicationPermissions": ["Mail.Fly"]}]},
        headers=admin(runtime),
    )
    assert perms.status_code == 400
    listed = (await api.get("/_mailgraph/tenants", headers=admin(runtime))).json()["value"]
    assert [t["ephemeral"] for t in listed] == [False]  # the failed creations left nothing
    assert (await api.get("/_mailgraph/tenants/nope/messages", headers=admin(runtime))).status_code == 404
