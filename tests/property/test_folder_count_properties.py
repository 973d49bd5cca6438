"""Folder counters stay exact under any sequence of message mutations (migration 0005).

Random units of work — inserts, updates that move and/or flip isRead, plain updates, deletes of live
and missing items, removal of a whole mailbox, units that fail after writing — run through the real
repositories on a real SQLite engine. After every unit, each folder's `total_count`/`unread_count`
must equal COUNT(*) over its messages and the model of what should be there.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from dataclasses import replace
from functools import partial
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailgraph.domain import ids
from mailgraph.domain.mailboxes import provision
from mailgraph.domain.model import Folder, ItemBody, Message, Tenant, User
from mailgraph.domain.ports import Tx
from mailgraph.store.engines.sqlite import SqliteEngine
from tests.store.test_folder_counts import drift

TENANT = Tenant("t1", "Tenant", ("example.test",))
BOUNDED = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# (kind, a, b, c): a picks a mailbox or an item, b a folder, c a read state (None = unchanged).
OP = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 1), st.integers(0, 15), st.booleans()),
    st.tuples(
        st.just("update"), st.integers(0, 99), st.none() | st.integers(0, 15), st.none() | st.booleans()
    ),
    st.tuples(st.just("delete"), st.integers(0, 99), st.none(), st.none()),
    st.tuples(st.just("delete_missing"), st.none(), st.none(), st.none()),
    st.tuples(st.just("remove_user"), st.just(1), st.none(), st.none()),  # alice always stays
)
UNITS = st.lists(st.tuples(st.lists(OP, min_size=1, max_size=3), st.booleans()), max_size=10)
Op = tuple[str, int | None, int | None, bool | None]


class Boom(Exception):
    """A unit that fails after writing."""


def _user(name: str) -> User:
    return User(ids.guid(), TENANT.id, f"{name}@example.test", f"{name}@example.test", name, None)


def _message(owner: str, folder_id: str, is_read: bool) -> Message:
    return Message(
        id=ids.immutable_id(),
        rest_id=ids.message_id(),
        mailbox_id=owner,
        folder_id=folder_id,
        change_key=ids.change_key(),
        created_at=1,
        modified_at=1,
        received_at=1,
        sent_at=1,
        is_draft=False,
        is_read=is_read,
        internet_message_id="<m@example.test>",
        conversation_id=ids.conversation_id(),
        conversation_index="AQ==",
        body=ItemBody("text", "x"),
    )


class Mailboxes:
    """The model: which mailboxes and items should exist; applies one unit's ops to a store and to itself."""

    def __init__(self, users: list[User], folders: dict[str, list[str]]) -> None:
        self.users = users
        self.folders = folders  # mailbox id → its folder ids (a removed mailbox leaves)
        self.items: dict[str, Message] = {}  # immutable id → the item as it should be stored

    async def apply(self, tx: Tx, ops: list[Op], fails: bool) -> tuple[dict[str, Message], set[str]]:
        """Run the ops in `tx`; returns the items and removed mailboxes if the unit commits."""
        staged, removed = dict(self.items), set[str]()
        for kind, a, b, c in ops:
            live = list(staged.values())
            if kind == "insert" and a is not None and b is not None and c is not None:
                owner = self.users[a].id
                if owner in self.folders.keys() - removed:
                    boxes = self.folders[owner]
                    m = _message(owner, boxes[b % len(boxes)], c)
                    await tx.messages.insert(m)
                    staged[m.id] = m
            elif kind == "update" and live and a is not None:
                old = live[a % len(live)]
                boxes = self.folders[old.mailbox_id]
                new = replace(
                    old,
                    folder_id=old.folder_id if b is None else boxes[b % len(boxes)],
                    is_read=old.is_read if c is None else c,
                    subject=ids.change_key(),
                )
                await tx.messages.update(new)
                staged[new.id] = new
            elif kind == "delete" and live and a is not None:
                gone = live[a % len(live)]
                await tx.messages.delete(gone.id)
                del staged[gone.id]
            elif kind == "delete_missing":
                await tx.messages.delete(ids.immutable_id())
            elif (
                kind == "remove_user" and a is not None and self.users[a].id in self.folders.keys() - removed
            ):
                owner = self.users[a].id
                await tx.directory.delete_user(owner)
                removed.add(owner)
                staged = {k: m for k, m in staged.items() if m.mailbox_id != owner}
        if fails:
            raise Boom
        return staged, removed

    def commit(self, items: dict[str, Message], removed: set[str]) -> None:
        self.items = items
        for owner in removed:
            del self.folders[owner]


async def _scenario(path: Path, units: list[tuple[list[Op], bool]]) -> None:
    engine = SqliteEngine(path, durability="normal")
    try:
        users = [_user("alice"), _user("bob")]

        async def seed(tx: Tx) -> dict[str, list[str]]:
            await tx.directory.put_tenant(TENANT)
            folders: dict[str, list[str]] = {}
            for u in users:
                await tx.directory.put_user(u)
                await provision(tx, u)
                folders[u.id] = sorted((await tx.folders.well_known_ids(u.id)).values())
            return folders

        model = Mailboxes(users, await engine.write(seed))
        for ops, fails in units:
            with contextlib.suppress(Boom):  # a failed unit rolled back: the model stays as it was
                model.commit(*await engine.write(partial(model.apply, ops=ops, fails=fails)))
            assert drift(path) == []
            for owner, folder_ids in model.folders.items():
                for folder_id in folder_ids:
                    f = await engine.read(partial(_get_folder, owner=owner, folder_id=folder_id))
                    expected = [m for m in model.items.values() if m.folder_id == folder_id]
                    assert f is not None
                    assert f.total_item_count == len(expected)
                    assert f.unread_item_count == sum(not m.is_read for m in expected)
    finally:
        await engine.close()


async def _get_folder(tx: Tx, owner: str, folder_id: str) -> Folder | None:
    return await tx.folders.get(owner, folder_id)


@BOUNDED
@given(UNITS)
def test_counters_equal_counts_after_any_mutation_sequence(units: list[tuple[list[Op], bool]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_scenario(Path(tmp) / "db.sqlite", units))
