"""Folder item counters (migration 0005): exact after every kind of message mutation.

`folders.total_count` / `unread_count` plus the folder's pending `folder_count_deltas` (migration
0029) replace COUNT(*) on read, so they must equal what the
messages table holds after create, PATCH isRead, move, copy, soft delete and purge, send with local
delivery and user removal, and after the migration's backfill of an existing store. `drift` compares
the columns with the rows themselves, straight from the database file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

from mailgraph.domain import ids
from mailgraph.domain.errors import ConflictError
from mailgraph.domain.mailboxes import provision
from mailgraph.domain.model import ItemBody, Message, Tenant, User
from mailgraph.domain.ports import Tx
from mailgraph.store.contract import Row
from mailgraph.store.engines.sqlite import SqliteConn, SqliteEngine, drive
from mailgraph.store.migrate import migrations, statements
from mailgraph.store.sql.messages import COLUMNS, SqlMessages, to_row
from mailgraph.store.tx import SqlTx
from mailgraph.wiring import Runtime
from tests.api.helpers import JSON, create_draft, folder_items, q
from tests.conftest import Directory, TokenFor

# What a reader sees (the row's counters plus its pending deltas, migration 0029) against the rows.
_ACTUAL = (
    "SELECT f.id,"
    " f.total_count + COALESCE((SELECT SUM(d.total) FROM folder_count_deltas d WHERE d.folder_id = f.id), 0),"
    " f.unread_count + COALESCE((SELECT SUM(d.unread) FROM folder_count_deltas d WHERE d.folder_id = f.id), 0),"
    " (SELECT COUNT(*) FROM messages m WHERE m.folder_id = f.id),"
    " (SELECT COUNT(*) FROM messages m WHERE m.folder_id = f.id AND m.is_read = 0) FROM folders f"
)


def drift(db_path: Path) -> list[tuple[Any, ...]]:
    """Folders whose counters differ from COUNT(*) over their messages (empty when exact)."""
    with closing(sqlite3.connect(db_path)) as db:
        rows = db.execute(_ACTUAL).fetchall()
    assert rows, "no folders at all"
    return [r for r in rows if (r[1], r[2]) != (r[3], r[4])]


async def counts(api: AsyncClient, headers: dict[str, str], folder: str) -> tuple[int, int]:
    """(totalItemCount, unreadItemCount) of a folder as the API reports them."""
    r = await api.get(f"/v1.0/me/mailFolders/{folder}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["totalItemCount"], r.json()["unreadItemCount"]


async def test_create_patch_move_copy_delete_purge(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    db = runtime.data_dir / "mailgraph.db"
    drafts = [await create_draft(api, alice, subject=f"d{i}") for i in range(3)]
    assert await counts(api, alice, "drafts") == (3, 0)  # drafts are created read
    assert drift(db) == []

    first = q(drafts[0]["id"])
    r = await api.patch(f"/v1.0/me/messages/{first}", json={"isRead": False}, headers=alice)
    assert r.status_code == 200, r.text
    assert await counts(api, alice, "drafts") == (3, 1)
    r = await api.patch(f"/v1.0/me/messages/{first}", json={"subject": "only the subject"}, headers=alice)
    assert r.status_code == 200 and await counts(api, alice, "drafts") == (3, 1)

    r = await api.post(f"/v1.0/me/messages/{first}/move", json={"destinationId": "archive"}, headers=alice)
    assert r.status_code == 201, r.text
    moved = r.json()
    assert await counts(api, alice, "drafts") == (2, 0)
    assert await counts(api, alice, "archive") == (1, 1)
    r = await api.post(
        f"/v1.0/me/messages/{q(moved['id'])}/copy", json={"destinationId": "inbox"}, headers=alice
    )
    assert r.status_code == 201, r.text
    assert await counts(api, alice, "inbox") == (1, 1) and await counts(api, alice, "archive") == (1, 1)
    assert drift(db) == []

    # Soft delete moves to Recoverable Items; deleting there purges (spec §2.9).
    r = await api.delete(f"/v1.0/me/messages/{q(moved['id'])}", headers=alice)
    assert r.status_code == 204
    assert await counts(api, alice, "archive") == (0, 0)
    assert await counts(api, alice, "recoverableitemsdeletions") == (1, 1)
    (deleted,) = await folder_items(api, alice, "/v1.0/me", "recoverableitemsdeletions")
    assert (await api.delete(f"/v1.0/me/messages/{q(deleted['id'])}", headers=alice)).status_code == 204
    assert await counts(api, alice, "recoverableitemsdeletions") == (0, 0)
    assert drift(db) == []


async def test_listing_reports_the_same_counters(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    for i in range(2):
        await create_draft(api, alice, subject=f"d{i}")
    r = await api.get("/v1.0/me/mailFolders", headers=alice)
    assert r.status_code == 200, r.text
    by_name = {f["displayName"]: f for f in r.json()["value"]}
    assert by_name["Drafts"]["totalItemCount"] == 2
    assert sum(f["totalItemCount"] for f in by_name.values()) == 2


async def test_send_with_local_delivery(api: AsyncClient, token_for: TokenFor, runtime: Runtime) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    bob = token_for("bob", "Mail.ReadWrite")
    draft = await create_draft(api, alice, to=["bob@fabrikam.test", "alice@fabrikam.test"])
    r = await api.post(f"/v1.0/me/messages/{q(draft['id'])}/send", headers=alice)
    assert r.status_code == 202, r.text
    assert await counts(api, alice, "drafts") == (0, 0)
    assert await counts(api, alice, "sentitems") == (1, 0)
    assert await counts(api, alice, "inbox") == (1, 1)  # self-send lands unread in the own inbox
    assert await counts(api, bob, "inbox") == (1, 1)
    r = await api.post(
        "/v1.0/me/sendMail",
        json={
            "message": {
                "subject": "direct",
                "toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test"}}],
            }
        },
        headers={**alice, **JSON},
    )
    assert r.status_code == 202, r.text
    assert await counts(api, bob, "inbox") == (2, 2)
    assert drift(runtime.data_dir / "mailgraph.db") == []


async def test_removing_a_user_leaves_other_counters_exact(
    api: AsyncClient, token_for: TokenFor, runtime: Runtime, directory: Directory
) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    draft = await create_draft(api, alice, to=["bob@fabrikam.test"])
    assert (await api.post(f"/v1.0/me/messages/{q(draft['id'])}/send", headers=alice)).status_code == 202
    assert await runtime.directory.remove_user("bob@fabrikam.test")
    assert drift(runtime.data_dir / "mailgraph.db") == []
    assert await counts(api, alice, "sentitems") == (1, 0)
    bob_id = directory.users["bob"].id
    assert await runtime.engine.read(lambda tx: tx.folders.well_known_ids(bob_id)) == {}


TENANT = Tenant("t1", "Tenant", ("example.test",))


def _user(name: str) -> User:
    return User(ids.guid(), TENANT.id, f"{name}@example.test", f"{name}@example.test", name, None)


def _message(owner: User, folder_id: str, is_read: bool) -> Message:
    return Message(
        id=ids.immutable_id(),
        rest_id=ids.message_id(),
        mailbox_id=owner.id,
        folder_id=folder_id,
        change_key=ids.change_key(),
        created_at=1,
        modified_at=1,
        received_at=1,
        sent_at=1,
        is_draft=False,
        is_read=is_read,
        internet_message_id=f"<{ids.guid()}@example.test>",
        conversation_id=ids.conversation_id(),
        conversation_index="AQ==",
        subject="s",
        body=ItemBody("text", "x"),
    )


async def test_repository_edge_cases(tmp_path: Path) -> None:
    engine = SqliteEngine(tmp_path / "db.sqlite")
    try:
        alice = _user("alice")

        async def seed(tx: Tx) -> dict[str, str]:
            await tx.directory.put_tenant(TENANT)
            await tx.directory.put_user(alice)
            await provision(tx, alice)
            return await tx.folders.well_known_ids(alice.id)

        folders = await engine.write(seed)
        m = _message(alice, folders["inbox"], False)
        await engine.write(lambda tx: tx.messages.insert(m))
        with pytest.raises(ConflictError):  # a duplicate id changes neither rows nor counters
            await engine.write(lambda tx: tx.messages.insert(m))

        async def failing(tx: Tx) -> None:
            await tx.messages.insert(_message(alice, folders["inbox"], False))
            await tx.messages.delete(m.id)
            raise RuntimeError("unit fails after writing")

        with pytest.raises(RuntimeError):  # the unit's savepoint takes the counter writes back too
            await engine.write(failing)
        ghost = _message(alice, folders["archive"], False)
        await engine.write(lambda tx: tx.messages.update(ghost))  # no such row: nothing to count
        await engine.write(lambda tx: tx.messages.delete(ghost.id))
        inbox = await engine.read(lambda tx: tx.folders.get(alice.id, folders["inbox"]))
        assert inbox is not None and (inbox.total_item_count, inbox.unread_item_count) == (1, 1)
        assert drift(engine.path) == []
    finally:
        await engine.close()


async def test_migration_backfills_counters_of_an_existing_store(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    alice = _user("alice")
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for migration in migrations("sqlite"):
            if migration.version >= 5:
                break
            for statement in statements(migration.sql):
                db.execute(statement)
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (migration.version,))
        tx = SqlTx(SqliteConn(db))
        # The tenant row as the pre-0005 schema has it (today's put_tenant writes the columns of 0008 and 0019 too).
        db.execute(
            "INSERT INTO tenants (id, display_name, domains_json) VALUES (?, ?, ?)",
            (TENANT.id, TENANT.display_name, '["' + TENANT.domains[0] + '"]'),
        )
        # The user row as the pre-0005 schema has it (today's put_user writes profile_json of 0021 too).
        db.execute(
            "INSERT INTO users (id, tenant_id, upn, upn_key, mail, mail_key, display_name, password_hash,"
            " account_enabled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (alice.id, alice.tenant_id, alice.user_principal_name, alice.user_principal_name.casefold(),
             alice.mail, alice.mail.casefold(), alice.display_name, alice.password_hash),
        )  # fmt: skip
        drive(provision(tx, alice))
        folders = drive(tx.folders.well_known_ids(alice.id))
        rows = [to_row(_message(alice, folders["inbox"], i % 3 == 0)) for i in range(7)]
        rows.append(to_row(_message(alice, folders["archive"], True)))
        db.executemany(f"INSERT INTO messages ({COLUMNS}) VALUES ({', '.join('?' * len(rows[0]))})", rows)
    engine = SqliteEngine(path)  # applies 0005
    try:
        assert drift(path) == []
        inbox = await engine.read(lambda tx: tx.folders.get(alice.id, folders["inbox"]))
        assert inbox is not None and (inbox.total_item_count, inbox.unread_item_count) == (7, 4)
    finally:
        await engine.close()


class _Explaining(SqliteConn):
    """A connection that records the query plan of every query it runs."""

    def __init__(self, db: sqlite3.Connection) -> None:
        super().__init__(db)
        self.db, self.plans = db, list[str]()

    async def fetch_all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        self.plans += [str(r[-1]) for r in self.db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
        return await super().fetch_all(sql, params)


@pytest.mark.parametrize("boxes", [1, 3])
async def test_find_conversations_uses_the_message_id_index(tmp_path: Path, boxes: int) -> None:
    engine = SqliteEngine(tmp_path / "db.sqlite")
    await engine.close()
    with closing(sqlite3.connect(engine.path)) as db:
        conn = _Explaining(db)
        await SqlMessages(conn).find_conversations([f"box{i}" for i in range(boxes)], ["<a@x>", "<b@x>"])
    assert conn.plans and all(
        "USING INDEX messages_internet_message_id" in p for p in conn.plans if "SCAN" in p or "SEARCH" in p
    ), conn.plans
