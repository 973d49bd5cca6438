"""The official msgraph-sdk creates a subscription unchanged against `mailgraph serve` (a process), and
a receiver on 127.0.0.1 gets the handshake and then the `created` notification of a send."""

from __future__ import annotations

import datetime as dt

import pytest
from msgraph.generated.models.subscription import Subscription

from tests.e2e.conftest import Server
from tests.e2e.test_msgraph_sdk import _client, _user_form
from tests.webhooks.receiver import Receiver

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


async def test_sdk_subscriptions_post_and_notification(server: Server) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        async with (
            _client(server, _user_form("bob@fabrikam.test", "bob-Passw0rd")) as bob,
            _client(server, _user_form("alice@fabrikam.test", "alice-Passw0rd")) as alice,
        ):
            created = await bob.subscriptions.post(
                Subscription(
                    change_type="created,updated",
                    notification_url=f"{receiver.url}/sdk",
                    lifecycle_notification_url=f"{receiver.url}/sdk-life",
                    resource="/me/mailFolders('Inbox')/messages",
                    expiration_date_time=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2),
                    client_state="sdk-state",
                )
            )
            assert created is not None and created.id
            assert created.change_type == "created,updated"
            assert created.expiration_date_time is not None
            assert created.expiration_date_time > dt.datetime.now(dt.UTC)
            assert len(receiver.validations) == 2

            from tests.e2e.test_msgraph_sdk import _create_send_read  # a send delivered to Bob's Inbox

            await _create_send_read(alice, bob)
            items = await receiver.wait_for(lambda i: any(x.get("changeType") == "created" for x in i))
            note = next(x for x in items if x.get("changeType") == "created")
            assert note["subscriptionId"] == created.id and note["clientState"] == "sdk-state"

            listed = await bob.subscriptions.get()
            assert listed is not None and [s.id for s in listed.value or []] == [created.id]
            await bob.subscriptions.by_subscription_id(created.id).delete()
            listed = await bob.subscriptions.get()
            assert listed is not None and listed.value == []
    finally:
        await receiver.stop()
