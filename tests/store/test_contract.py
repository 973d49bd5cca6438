"""The store contract: every engine must pass this suite (SQLite now; PostgreSQL will join the fixture)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from mailgraph.domain import ids
from mailgraph.domain.errors import ConflictError
from mailgraph.domain.mailboxes import provision
from mailgraph.domain.model import (
    App,
    EmailAddress,
    Folder,
    FollowupFlag,
    InternetMessageHeader,
    ItemBody,
    Message,
    Page,
    QueueEntry,
    Tenant,
    User,
)
from mailgraph.domain.ports import Tx
from mailgraph.odata.ast import OrderBy, Property
from mailgraph.store.contract import Engine
from mailgraph.store.engines import open_engine

TENANT = Tenant("t1", "Tenant", ("example.test",))


def user(name: str) -> User:
    return User(ids.guid(), TENANT.id, f"{name}@example.test", f"{name}@example.test", name.title(), None)


async def seed(engine: Engine, *names: str) -> list[User]:
    users = [user(n) for n in names]

    async def unit(tx: Tx) -> None:
        await tx.directory.put_tenant(TENANT)
        for u in users:
            await tx.directory.put_user(u)
            await provision(tx, u)

    await engine.write(unit)
    return users


def message(owner: User, folder_id: str, received: int, subject: str = "s") -> Message:
    return Message(
        id=ids.immutable_id(),
        rest_id=ids.message_id(),
        mailbox_id=owner.id,
        folder_id=folder_id,
        change_key=ids.change_key(),
        created_at=received,
        modified_at=received,
        received_at=received,
        sent_at=received,
        is_draft=True,
        is_read=False,
        internet_message_id="<a@b>",
        conversation_id=ids.conversation_id(),
        conversation_index="AQ==",
        subject=subject,
        body=ItemBody("html", "<p>x</p>"),
        from_=EmailAddress("a@example.test", "A"),
        to=[EmailAddress("b@example.test", "B"), EmailAddress("c@x.test", "")],
        categories=["Red"],
        flag=FollowupFlag("flagged"),
        headers=[InternetMessageHeader("x-a", "1")],
    )


async def test_directory_round_trip_and_case_insensitive_lookup(engine: Engine) -> None:
    (alice,) = await seed(engine, "alice")
    found = await engine.read(lambda tx: tx.directory.find_user(TENANT.id, "ALICE@Example.TEST"))
    assert found == alice
    by_address = await engine.read(
        lambda tx: tx.directory.find_users_by_address(TENANT.id, ["Alice@example.test", "x@y.z"])
    )
    assert list(by_address) == ["alice@example.test"]
    assert await engine.read(lambda tx: tx.directory.get_tenant(TENANT.id)) == TENANT
    app = App("cid", TENANT.id, ids.guid(), "App", "hash", True, ("Mail.Send",), ("Mail.Read",))
    await engine.write(lambda tx: tx.directory.put_app(app))
    assert await engine.read(lambda tx: tx.directory.get_app("cid")) == app
    assert await engine.read(lambda tx: tx.directory.list_apps()) == [app]
    assert await engine.write(lambda tx: tx.directory.delete_app("cid")) is True


async def test_duplicate_upn_is_a_conflict(engine: Engine) -> None:
    (alice,) = await seed(engine, "alice")
    clash = replace(user("alice"), id=ids.guid())
    with pytest.raises(ConflictError):
        await engine.write(lambda tx: tx.directory.put_user(clash))
    assert await engine.read(lambda tx: tx.directory.list_users()) == [alice]


async def test_message_round_trip_update_delete(engine: Engine) -> None:
    (alice,) = await seed(engine, "alice")
    folders = await engine.read(lambda tx: tx.folders.well_known_ids(alice.id))
    m = message(alice, folders["drafts"], 1000)
    await engine.write(lambda tx: tx.messages.insert(m))
    assert await engine.read(lambda tx: tx.messages.get(alice.id, m.rest_id)) == m
    assert await engine.read(lambda tx: tx.messages.get_immutable(alice.id, m.id)) == m
    assert await engine.read(lambda tx: tx.messages.get("other", m.rest_id)) is None
    changed = replace(m, subject="new", rest_id=ids.message_id(), folder_id=folders["sentitems"])
    await engine.write(lambda tx: tx.messages.update(changed))
    assert await engine.read(lambda tx: tx.messages.get(alice.id, m.rest_id)) is None
    assert await engine.read(lambda tx: tx.messages.get(alice.id, changed.rest_id)) == changed
    await engine.write(lambda tx: tx.messages.delete(m.id))
    assert await engine.read(lambda tx: tx.messages.get_immutable(alice.id, m.id)) is None


async def test_listing_order_window_and_counts(engine: Engine) -> None:
    (alice,) = await seed(engine, "alice")
    folders = await engine.read(lambda tx: tx.folders.well_known_ids(alice.id))
    items = [message(alice, folders["inbox"], t, f"m{t}") for t in (3, 1, 2, 2)]

    async def unit(tx: Tx) -> None:
        for m in items:
            await tx.messages.insert(m)

    await engine.write(unit)
    newest = await engine.read(lambda tx: tx.messages.list(alice.id, folders["inbox"], Page(top=10)))
    assert [m.received_at for m in newest] == [3, 2, 2, 1]
    oldest = Page(top=2, skip=1, order_by=(OrderBy(Property(("receivedDateTime",)), False),))
    assert [
        m.received_at for m in await engine.read(lambda tx: tx.messages.list(alice.id, None, oldest))
    ] == [2, 2]
    assert await engine.read(lambda tx: tx.messages.count(alice.id, folders["inbox"], Page())) == 4
    inbox = await engine.read(lambda tx: tx.folders.get_well_known(alice.id, "inbox"))
    assert inbox is not None and (inbox.total_item_count, inbox.unread_item_count) == (4, 4)


async def test_find_conversations_by_message_id_per_mailbox(engine: Engine) -> None:
    alice, bob = await seed(engine, "alice", "bob")
    a_inbox = (await engine.read(lambda tx: tx.folders.well_known_ids(alice.id)))["inbox"]
    b_inbox = (await engine.read(lambda tx: tx.folders.well_known_ids(bob.id)))["inbox"]
    old, new = message(alice, a_inbox, 1), message(alice, a_inbox, 2)
    old.internet_message_id, new.internet_message_id = "<root@x>", "<reply@x>"
    other = replace(message(bob, b_inbox, 3), internet_message_id="<root@x>")

    async def unit(tx: Tx) -> None:
        for m in (old, new, other):
            await tx.messages.insert(m)

    await engine.write(unit)
    found = await engine.read(
        lambda tx: tx.messages.find_conversations([alice.id, bob.id], ["<root@x>", "<reply@x>", "<none@x>"])
    )
    assert found == {alice.id: new.conversation_id, bob.id: other.conversation_id}  # newest match wins
    assert await engine.read(lambda tx: tx.messages.find_conversations([alice.id], ["<none@x>"])) == {}
    assert await engine.read(lambda tx: tx.messages.find_conversations([], ["<root@x>"])) == {}


async def test_folders_and_provisioning_are_idempotent(engine: Engine) -> None:
    (alice,) = await seed(engine, "alice")
    before = await engine.read(lambda tx: tx.folders.well_known_ids(alice.id))
    await engine.write(lambda tx: provision(tx, alice))
    assert await engine.read(lambda tx: tx.folders.well_known_ids(alice.id)) == before
    root = before["msgfolderroot"]
    visible = await engine.read(lambda tx: tx.folders.list_children(alice.id, root, False))
    everything = await engine.read(lambda tx: tx.folders.list_children(alice.id, root, True))
    assert len(everything) == len(visible) + 1
    extra = Folder(ids.folder_id(), alice.id, root, None, "Projects", False)
    await engine.write(lambda tx: tx.folders.insert(extra))
    got = await engine.read(lambda tx: tx.folders.get(alice.id, extra.id))
    assert got is not None and got.display_name == "Projects"


async def test_outbox_add_list_claim_record(engine: Engine) -> None:
    (alice,) = await seed(engine, "alice")
    folders = await engine.read(lambda tx: tx.folders.well_known_ids(alice.id))
    m = message(alice, folders["sentitems"], 10)
    entries = [
        QueueEntry(ids.queue_id(), "o1", alice.id, addr, "x.test", "queued", 0, 10, None, None, None, 99, 10)
        for addr in ("a@x.test", "b@x.test")
    ]
    await engine.write(lambda tx: tx.outbox.add("o1", m, entries))
    assert await engine.read(lambda tx: tx.outbox.get_message("o1")) == m
    listed = await engine.read(lambda tx: tx.outbox.list_entries("queued"))
    assert {e.recipient for e in listed} == {"a@x.test", "b@x.test"}
    assert await engine.write(lambda tx: tx.outbox.claim_due(5, 50, 10)) == []
    claimed = await engine.write(lambda tx: tx.outbox.claim_due(20, 50, 1))
    assert len(claimed) == 1 and claimed[0].status == "sending" and claimed[0].lease_until == 50
    # A lease that ran out makes the entry claimable again (a crashed worker's rows are picked up).
    again = await engine.write(lambda tx: tx.outbox.claim_due(60, 90, 10))
    assert {e.id for e in again} == {e.id for e in entries}
    await engine.write(lambda tx: tx.outbox.record(claimed[0].id, "delivered", 60, 250, "2.0.0 OK"))
    done = await engine.read(lambda tx: tx.outbox.list_entries("delivered"))
    assert [(e.attempts, e.last_reply_code, e.lease_until) for e in done] == [(1, 250, None)]


async def test_group_commit_isolates_a_failing_unit(engine: Engine) -> None:
    await seed(engine, "alice")
    good = [user(f"u{i}") for i in range(20)]
    bad = replace(user("alice"), id=ids.guid())

    async def write(u: User) -> None:
        await engine.write(lambda tx: tx.directory.put_user(u))

    results = await asyncio.gather(*(write(u) for u in [*good[:10], bad, *good[10:]]), return_exceptions=True)
    assert [type(r) for r in results if r is not None] == [ConflictError]
    names = {u.user_principal_name for u in await engine.read(lambda tx: tx.directory.list_users())}
    assert names == {"alice@example.test", *(u.user_principal_name for u in good)}


async def test_committed_data_survives_reopening(engine_url: str) -> None:
    first = await open_engine(engine_url)
    await first.write(lambda tx: tx.directory.put_tenant(TENANT))
    await first.close()
    second = await open_engine(engine_url)
    try:
        assert await second.read(lambda tx: tx.directory.get_tenant(TENANT.id)) == TENANT
    finally:
        await second.close()
