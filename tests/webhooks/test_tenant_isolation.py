"""Isolation of change notifications and the queue between two ephemeral tenants on one server
(issue 14's isolation matrix): tenant A's subscriptions never see tenant B's mail, A's app cannot
subscribe to B's mailboxes, each tenant lists only its own subscriptions, and deleting A removes its
subscriptions while B's keep working."""

from __future__ import annotations

from typing import Any

from tests.webhooks.conftest import Served, ServeFn
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_notifications import expiry

ADMIN = {"Authorization": "Bearer isolation-admin"}


async def _tenant(s: Served, name: str) -> tuple[dict[str, Any], dict[str, str]]:
    r = await s.client.post("/_mailgraph/tenants", json={"displayName": name}, headers=ADMIN)
    assert r.status_code == 201, r.text
    tenant = r.json()
    app = tenant["apps"][0]
    form = {"grant_type": "client_credentials", "client_id": app["clientId"], "client_secret": app["clientSecret"],
            "scope": "https://graph.microsoft.com/.default"}  # fmt: skip
    token = await s.client.post(tenant["tokenUrl"].replace(s.base, ""), data=form)
    assert token.status_code == 200, token.text
    return tenant, {"Authorization": f"Bearer {token.json()['access_token']}"}


async def _send(s: Served, headers: dict[str, str], sender: str, to: str, subject: str) -> None:
    mail = {"message": {"subject": subject, "toRecipients": [{"emailAddress": {"address": to}}]}}
    r = await s.client.post(f"/v1.0/users/{sender}/sendMail", json=mail, headers=headers)
    assert r.status_code == 202, r.text


async def _subscribe(s: Served, headers: dict[str, str], mailbox: str, url: str) -> Any:
    return await s.client.post(
        "/v1.0/subscriptions",
        json={"changeType": "created", "expirationDateTime": expiry(), "notificationUrl": url,
              "resource": f"/users/{mailbox}/mailFolders('inbox')/messages"},
        headers=headers,
    )  # fmt: skip


async def test_notifications_and_queue_stay_in_their_tenant(serve: ServeFn, receiver: Receiver) -> None:
    s = await serve(admin_token="isolation-admin")
    (a, token_a), (b, token_b) = await _tenant(s, "A"), await _tenant(s, "B")
    alice_a, bob_a = (u["userPrincipalName"] for u in a["users"])
    alice_b, bob_b = (u["userPrincipalName"] for u in b["users"])
    bob_a_id, bob_b_id = a["users"][1]["id"], b["users"][1]["id"]

    sub_a = await _subscribe(s, token_a, bob_a, f"{receiver.url}/a")
    sub_b = await _subscribe(s, token_b, bob_b, f"{receiver.url}/b")
    assert sub_a.status_code == 201 and sub_b.status_code == 201, (sub_a.text, sub_b.text)
    handshakes = len(receiver.validations)
    for key in (bob_b, bob_b_id):  # A's app cannot watch B's mailbox, by address or by object id
        refused = await _subscribe(s, token_a, key, f"{receiver.url}/a-spies")
        assert refused.status_code == 404, refused.text
    assert len(receiver.validations) == handshakes  # refused before any handshake

    await _send(s, token_a, alice_a, bob_a, "A inside")
    await _send(s, token_a, alice_a, bob_b, "A to B")  # delivered into B: B's business, not A's
    await _send(s, token_b, alice_b, bob_b, "B inside")
    await _send(s, token_a, alice_a, "far@example.net", "A out")  # queued in A
    await receiver.wait_for(lambda items: len(items) >= 3, within=10)
    on_a, on_b = receiver.items("/a"), receiver.items("/b")
    assert len(on_a) == 1 and len(on_b) == 2
    assert all(i["tenantId"] == a["id"] and i["resource"].startswith(f"Users/{bob_a_id}/") for i in on_a)
    assert all(i["tenantId"] == b["id"] and i["resource"].startswith(f"Users/{bob_b_id}/") for i in on_b)
    assert receiver.items("/a-spies") == []

    # Each tenant's app lists only its own subscriptions.
    listed_a = (await s.client.get("/v1.0/subscriptions", headers=token_a)).json()["value"]
    listed_b = (await s.client.get("/v1.0/subscriptions", headers=token_b)).json()["value"]
    assert [x["id"] for x in listed_a] == [sub_a.json()["id"]]
    assert [x["id"] for x in listed_b] == [sub_b.json()["id"]]
    # The queue: A's external mail is A's only.
    out_a = (await s.client.get(f"/_mailgraph/tenants/{a['id']}/outbound", headers=ADMIN)).json()["value"]
    out_b = (await s.client.get(f"/_mailgraph/tenants/{b['id']}/outbound", headers=ADMIN)).json()["value"]
    assert [o["subject"] for o in out_a] == ["A out"] and out_b == []

    # Deleting A takes its subscription (and what it still owed) with it; B's keeps notifying.
    assert (await s.client.delete(f"/_mailgraph/tenants/{a['id']}", headers=ADMIN)).status_code == 204
    left = await s.runtime.engine.read(lambda tx: tx.subscriptions.list_subscriptions(None))
    assert [x.id for x in left] == [sub_b.json()["id"]]
    await _send(s, token_b, alice_b, bob_b, "B after")
    await receiver.wait_for(lambda items: len(items) >= 4, within=10)
    assert len(receiver.items("/b")) == 3 and len(receiver.items("/a")) == 1
