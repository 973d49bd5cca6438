"""The receiver is down for 30 s, then up again: every notification arrives, exactly once each."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.webhooks.conftest import ServeFn
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_notifications import send_to, subscribe


async def test_receiver_down_30s_then_up(serve: ServeFn, receiver: Receiver) -> None:
    s = await serve(webhook_retry_schedule=(1.0, 2.0, 4.0))  # Graph's is ~10 min; max age stays 4 h
    bob = s.token("bob", "Mail.Read")
    await subscribe(s, bob, notificationUrl=f"{receiver.url}/hook", resource="/me/mailFolders/inbox/messages")
    await receiver.stop()
    for i in range(5):  # sends never wait on the dead receiver
        await asyncio.wait_for(send_to(s, "alice", "bob@fabrikam.test", f"while down {i}"), 2.0)
    await asyncio.sleep(30)
    headers = {"Authorization": f"Bearer {s.runtime.admin_token}"}
    r = await s.client.get("/admin/subscriptions", headers=headers)
    assert r.json()["notifications"] == {"pending": 5, "failed": 0}
    await receiver.start()  # same port
    items = await receiver.wait_for(lambda i: len(i) >= 5, within=10)
    await asyncio.sleep(2)  # nothing more comes: no duplicates
    ids = Counter(i["resourceData"]["id"] for i in receiver.items())
    assert len(ids) == 5 and set(ids.values()) == {1}, ids
    assert {i["changeType"] for i in items} == {"created"}
    r = await s.client.get("/admin/subscriptions", headers=headers)
    assert r.json()["notifications"] == {"pending": 0, "failed": 0}
