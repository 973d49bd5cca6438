"""Change notifications end to end on 127.0.0.1: handshake, created/updated/deleted, lifecycle events."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.webhooks.conftest import Served, ServeFn
from tests.webhooks.receiver import Receiver


def expiry(minutes: float = 60) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def subscribe(s: Served, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    payload = {"changeType": "created,updated,deleted", "expirationDateTime": expiry(), **body}
    r = await s.client.post("/v1.0/subscriptions", json=payload, headers=headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def send_to(s: Served, sender: str, to: str, subject: str = "Hi") -> None:
    mail = {"message": {"subject": subject, "body": {"contentType": "Text", "content": "x"},
                        "toRecipients": [{"emailAddress": {"address": to}}]}}  # fmt: skip
    r = await s.client.post("/v1.0/me/sendMail", json=mail, headers=s.token(sender, "Mail.Send"))
    assert r.status_code == 202, r.text


async def test_created_updated_deleted_on_the_subscribed_inbox(serve: ServeFn, receiver: Receiver) -> None:
    s = await serve()
    bob = s.token("bob", "Mail.ReadWrite")
    sub = await subscribe(
        s, bob, notificationUrl=f"{receiver.url}/hook?x=1", resource="/me/mailFolders('inbox')/messages",
        clientState="secret-state",
    )  # fmt: skip
    assert receiver.validations and receiver.validations[0].startswith("Validation: ")
    assert sub["resource"] == "/me/mailFolders('inbox')/messages"
    assert sub["changeType"] == "created,updated,deleted"
    assert sub["clientState"] == "secret-state"
    assert sub["latestSupportedTlsVersion"] == "v1_2"
    assert sub["expirationDateTime"].endswith("Z")

    sent_at = time.monotonic()
    await send_to(s, "alice", "bob@fabrikam.test", "created one")
    items = await receiver.wait_for(lambda i: len(i) >= 1, within=1.0)
    assert receiver.posts[0].at - sent_at < 1.0  # within 1 s of the send
    created = items[0]
    assert receiver.posts[0].path == "/hook"
    assert created["changeType"] == "created"
    assert created["subscriptionId"] == sub["id"]
    assert created["clientState"] == "secret-state"
    assert created["tenantId"] == s.runtime.tenant.id
    message_id = created["resourceData"]["id"]
    assert created["resource"] == f"Users/{s.users['bob'].id}/Messages/{message_id}"
    assert created["resourceData"]["@odata.type"] == "#Microsoft.Graph.Message"
    assert created["resourceData"]["@odata.etag"].startswith('W/"')
    r = await s.client.get(f"/v1.0/me/messages/{message_id}", headers=bob)
    assert r.json()["subject"] == "created one"

    r = await s.client.patch(f"/v1.0/me/messages/{message_id}", json={"isRead": True}, headers=bob)
    assert r.status_code == 200
    items = await receiver.wait_for(lambda i: len(i) >= 2)
    assert items[1]["changeType"] == "updated" and items[1]["resourceData"]["id"] == message_id

    r = await s.client.post(
        f"/v1.0/me/messages/{message_id}/move", json={"destinationId": "archive"}, headers=bob
    )
    assert r.status_code == 201, r.text
    items = await receiver.wait_for(lambda i: len(i) >= 3)
    assert items[2]["changeType"] == "deleted" and items[2]["resourceData"]["id"] == message_id

    # Alice's own mail (another mailbox) and Bob's Sent Items raise nothing on this subscription.
    await send_to(s, "bob", "alice@fabrikam.test")
    await send_to(s, "alice", "bob@fabrikam.test", "second")
    items = await receiver.wait_for(lambda i: len(i) >= 4)
    assert [i["changeType"] for i in items] == ["created", "updated", "deleted", "created"]


async def test_handshake_failures_create_nothing(serve: ServeFn, receiver: Receiver) -> None:
    s = await serve()
    bob = s.token("bob", "Mail.Read")
    body = {"changeType": "created", "expirationDateTime": expiry(), "resource": "me/messages",
            "notificationUrl": f"{receiver.url}/hook"}  # fmt: skip
    for mode in ("wrong", "status500"):
        receiver.validation = mode
        r = await s.client.post("/v1.0/subscriptions", json=body, headers=bob)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "InvalidRequest"
        assert error["message"] == (
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
            "validation request."
        )
    receiver.validation = "echo"
    await receiver.stop()  # nobody listening
    r = await s.client.post("/v1.0/subscriptions", json=body, headers=bob)
    assert r.status_code == 400
    r = await s.client.get("/v1.0/subscriptions", headers=bob)
    assert r.json()["value"] == []
    await receiver.start()
    # The lifecycle URL is validated too.
    body["lifecycleNotificationUrl"] = "http://127.0.0.1:9/nothing-here"
    r = await s.client.post("/v1.0/subscriptions", json=body, headers=bob)
    assert r.status_code == 400


async def test_lifecycle_events(serve: ServeFn, receiver: Receiver) -> None:
    # Tokens live 60 s and reminders go 10 min ahead: reauthorizationRequired is due at once.
    s = await serve(token_lifetime_s=60)
    bob = s.token("bob", "Mail.Read")
    sub = await subscribe(
        s, bob, notificationUrl=f"{receiver.url}/hook", lifecycleNotificationUrl=f"{receiver.url}/life",
        resource="/users/bob@fabrikam.test/messages", clientState="cs",
    )  # fmt: skip
    assert len(receiver.validations) == 2  # both URLs
    items = await receiver.wait_for(lambda i: any(x.get("lifecycleEvent") for x in i), within=5)
    event = next(x for x in items if x.get("lifecycleEvent"))
    assert event == {
        "subscriptionId": sub["id"],
        "subscriptionExpirationDateTime": sub["expirationDateTime"],
        "tenantId": s.runtime.tenant.id,
        "clientState": "cs",
        "lifecycleEvent": "reauthorizationRequired",
    }
    assert receiver.posts[-1].path == "/life"
    r = await s.client.post(f"/v1.0/subscriptions/{sub['id']}/reauthorize", headers=bob)
    assert r.status_code == 204

    # An operator removes it: subscriptionRemoved goes to the lifecycle URL.
    headers = {"Authorization": f"Bearer {s.runtime.admin_token}"}
    r = await s.client.get("/admin/subscriptions", headers=headers)
    assert r.status_code == 200 and r.json()["value"][0]["id"] == sub["id"]
    assert set(r.json()["notifications"]) == {"pending", "failed"}
    r = await s.client.delete(f"/admin/subscriptions/{sub['id']}", headers=headers)
    assert r.status_code == 204
    items = await receiver.wait_for(
        lambda i: any(x.get("lifecycleEvent") == "subscriptionRemoved" for x in i)
    )
    r = await s.client.get(f"/v1.0/subscriptions/{sub['id']}", headers=bob)
    assert r.status_code == 404


async def test_missed_after_the_retry_window(serve: ServeFn, receiver: Receiver) -> None:
    s = await serve(webhook_retry_schedule=(0.2,), webhook_max_age_s=1.0)
    bob = s.token("bob", "Mail.Read")
    await subscribe(
        s, bob, notificationUrl=f"{receiver.url}/hook", lifecycleNotificationUrl=f"{receiver.url}/life",
        resource="/me/messages",
    )  # fmt: skip
    receiver.status = 503  # the change endpoint fails; lifecycle POSTs fail too while it does
    await send_to(s, "alice", "bob@fabrikam.test")
    headers = {"Authorization": f"Bearer {s.runtime.admin_token}"}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        counts = (await s.client.get("/admin/subscriptions", headers=headers)).json()["notifications"]
        if counts["failed"]:
            break
        await asyncio.sleep(0.1)
    receiver.status = 202
    items = await receiver.wait_for(lambda i: any(x.get("lifecycleEvent") == "missed" for x in i))
    assert not [x for x in items if x.get("changeType")]  # the change itself was dropped
    assert counts["failed"] >= 1
