"""The `/subscriptions` resource: CRUD, limits, permissions and shared-mailbox rules, URL policy."""

from __future__ import annotations

import asyncio
from typing import Any

from mailgraph.domain.subscriptions import Subscription
from tests.webhooks.conftest import Served, ServeFn
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_notifications import expiry, send_to, subscribe


def body(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    return {"changeType": "created", "notificationUrl": f"{receiver.url}/hook", "resource": "/me/messages",
            "expirationDateTime": expiry(), **extra}  # fmt: skip


async def error(
    s: Served, payload: dict[str, Any], headers: dict[str, str], status: int = 400
) -> dict[str, Any]:
    r = await s.client.post("/v1.0/subscriptions", json=payload, headers=headers)
    assert r.status_code == status, r.text
    err: dict[str, Any] = r.json()["error"]
    return err


async def test_crud_and_reauthorize_on_v1_and_beta(serve: ServeFn, receiver: Receiver) -> None:
    s = await serve()
    bob, alice = s.token("bob", "Mail.Read"), s.token("alice", "Mail.Read")
    sub = await subscribe(s, bob, notificationUrl=f"{receiver.url}/hook", resource="/me/messages")
    assert sub["@odata.context"].endswith("/v1.0/$metadata#subscriptions/$entity")
    assert sub["applicationId"] == "full-app" and sub["creatorId"] == s.users["bob"].id
    r = await s.client.get("/beta/subscriptions", headers=bob)
    assert [x["id"] for x in r.json()["value"]] == [sub["id"]]
    r = await s.client.get("/v1.0/subscriptions", headers=alice)
    assert r.json()["value"] == []  # another user's subscription is not visible
    r = await s.client.get(f"/v1.0/subscriptions/{sub['id']}", headers=alice)
    assert r.status_code == 404
    app = s.token(app=["Mail.Read"])
    r = await s.client.get("/v1.0/subscriptions", headers=app)
    assert [x["id"] for x in r.json()["value"]] == [sub["id"]]  # the app sees all of its own

    new = expiry(120)
    r = await s.client.patch(
        f"/v1.0/subscriptions/{sub['id']}", json={"expirationDateTime": new}, headers=bob
    )
    assert r.status_code == 200, r.text
    assert r.json()["expirationDateTime"][:19] == new[:19]
    r = await s.client.patch(
        f"/v1.0/subscriptions/{sub['id']}", json={"lifecycleNotificationUrl": receiver.url}, headers=bob
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequest"
    r = await s.client.patch(
        f"/v1.0/subscriptions/{sub['id']}", json={"expirationDateTime": expiry(20000)}, headers=bob
    )
    assert r.status_code == 400
    r = await s.client.post(f"/beta/subscriptions/{sub['id']}/reauthorize", headers=bob)
    assert r.status_code == 204 and not r.content
    r = await s.client.delete(f"/v1.0/subscriptions/{sub['id']}", headers=bob)
    assert r.status_code == 204
    r = await s.client.get(f"/v1.0/subscriptions/{sub['id']}", headers=bob)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    r = await s.client.delete(f"/v1.0/subscriptions/{sub['id']}", headers=bob)
    assert r.status_code == 404


async def test_limits(serve: ServeFn, receiver: Receiver) -> None:
    s = await serve()
    bob = s.token("bob", "Mail.Read")
    err = await error(s, {**body(receiver), "expirationDateTime": None}, bob)
    assert err == {**err, "code": "InvalidRequest"}
    assert err["message"] == "expirationDateTime is a required property for subscription creation."
    err = await error(s, body(receiver, expirationDateTime=expiry(10_100)), bob)
    assert "10080 minutes" in err["message"]
    err = await error(s, body(receiver, expirationDateTime=expiry(-1)), bob)
    assert "future" in err["message"]
    err = await error(s, body(receiver, clientState="x" * 129), bob)
    assert "128" in err["message"]
    await subscribe(
        s, bob, notificationUrl=f"{receiver.url}/hook", resource="/me/messages", clientState="x" * 128
    )
    err = await error(s, body(receiver, changeType="created,moved"), bob)
    assert "moved" in err["message"]
    for resource in ("/me/events", "/me/mailFolders/inbox/childFolders", "/users", "/me/messages?$top=3"):
        await error(s, body(receiver, resource=resource), bob)
    err = await error(s, body(receiver, resource="/me/mailFolders('nope')/messages"), bob, 404)
    # 1,000 live subscriptions per mailbox (across apps): the next one is refused.
    owner = s.users["bob"]
    now = s.runtime.app.services.subscriptions._clock()  # type: ignore[union-attr]
    existing = await s.runtime.engine.read(lambda tx: tx.subscriptions.list_subscriptions(None))

    async def fill(tx: Any) -> None:
        for i in range(1000 - len(existing)):
            await tx.subscriptions.insert(
                Subscription(
                    f"fill-{i}",
                    owner.tenant_id,
                    owner.id,
                    "other-app",
                    owner.id,
                    "/me/messages",
                    None,
                    ("created",),
                    "http://127.0.0.1:9/",
                    None,
                    None,
                    now + 3_600_000_000,
                    now + 3_600_000_000,
                    False,
                    None,
                    None,
                    (),
                    False,
                    "v1.0",
                    now,
                    now + 10**12,
                )
            )

    await s.runtime.engine.write(fill)
    err = await error(s, body(receiver), bob)
    assert "1000" in err["message"]
    await subscribe(
        s, s.token("alice", "Mail.Read"), notificationUrl=f"{receiver.url}/hook", resource="/me/messages"
    )


async def test_permissions_and_shared_mailboxes(serve: ServeFn, receiver: Receiver) -> None:
    s = await serve()
    # Mail.ReadBasic may subscribe; the .Shared scopes cannot, not even on the caller's own mailbox.
    await subscribe(
        s, s.token("bob", "Mail.ReadBasic"), notificationUrl=f"{receiver.url}/h", resource="/me/messages"
    )
    err = await error(s, body(receiver), s.token("bob", "Mail.Read.Shared"), 403)
    assert err["code"] == "ErrorAccessDenied"
    await error(s, body(receiver), s.token("bob", "Mail.Send"), 403)
    # Delegated: only the caller's own mailbox, even with FullAccess-style scopes.
    shared = s.token("bob", "Mail.Read", "Mail.Read.Shared")
    await error(s, body(receiver, resource="/users/alice@fabrikam.test/messages"), shared, 403)
    # Application: any mailbox of the tenant by id or UPN; /me is a delegated-only path.
    app = s.token(app=["Mail.Read"])
    await subscribe(
        s, app, notificationUrl=f"{receiver.url}/h", resource=f"users('{s.users['alice'].id}')/messages"
    )
    await subscribe(
        s,
        app,
        notificationUrl=f"{receiver.url}/h",
        resource="/users/carol@fabrikam.test/mailFolders/inbox/messages",
    )
    await error(s, body(receiver), app, 400)
    await error(s, body(receiver, resource="/users/nobody@fabrikam.test/messages"), app, 404)
    await error(s, body(receiver), s.token(app=["Mail.Send"]), 403)


async def test_url_policy(serve: ServeFn, receiver: Receiver) -> None:
    s = await serve()
    bob = s.token("bob", "Mail.Read")
    for url in ("http://169.254.169.254/latest/meta-data", "http://[fd00:ec2::254]/", "http://[fe80::1]/x"):
        err = await error(s, body(receiver, notificationUrl=url), bob)
        assert "link-local" in err["message"]
    for url in ("ftp://127.0.0.1/x", "/relative", "http://user:pw@127.0.0.1/"):
        await error(s, body(receiver, notificationUrl=url), bob)
    strict = await serve(webhooks_https_only=True)
    err = await error(strict, body(receiver), strict.token("bob", "Mail.Read"))
    assert "https" in err["message"]


async def test_expired_subscriptions_stop(serve: ServeFn, receiver: Receiver) -> None:
    s = await serve()
    bob = s.token("bob", "Mail.Read")
    await subscribe(s, bob, notificationUrl=f"{receiver.url}/h", resource="/me/messages",
                    expirationDateTime=expiry(1.5 / 60))  # fmt: skip
    await asyncio.sleep(2)
    await send_to(s, "alice", "bob@fabrikam.test")
    await asyncio.sleep(1)
    assert receiver.items() == []
    r = await s.client.get("/v1.0/subscriptions", headers=bob)
    assert r.json()["value"] == []
