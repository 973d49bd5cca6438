"""Every write of a message or folder passes through THE change-event point (domain/changes.py).

The check is derived from the store, not from a list of use cases: every per-item row write the store
makes (`SqlMessages.insert/update/delete`, `SqlFolders.insert/update/delete` — the only per-item writers) is logged,
and after each domain operation the logged writes must equal, one for one, the changes an after-commit
subscriber saw. A new write path that forgets `tx.changes` fails here the first time it is exercised.
On top, each operation must report the expected why (created/updated/moved/deleted).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from mailgraph.delivery import dsn
from mailgraph.delivery.policy import Reply
from mailgraph.domain import ids
from mailgraph.domain.changes import Change, Commit
from mailgraph.domain.directory import UserSpec
from mailgraph.domain.errors import ConflictError
from mailgraph.domain.inbound import InboundMail, InboundService
from mailgraph.domain.model import Folder, InternetMessageHeader
from mailgraph.domain.ports import Tx
from mailgraph.mime.parse import parse
from mailgraph.store.sql.folders import SqlFolders
from mailgraph.store.sql.messages import SqlMessages
from mailgraph.wiring import Runtime
from tests.api.helpers import create_draft, folder_items, q
from tests.conftest import TokenFor

Write = tuple[str, str, str]  # (entity, created|update|deleted, item id)
MIME = (
    b"From: Alice <alice@fabrikam.test>\r\nTo: bob@fabrikam.test\r\nSubject: mime\r\n"
    b"Message-ID: <m1@fabrikam.test>\r\n\r\nbody\r\n"
)


class Observed:
    """The store's per-item writes and the published changes, compared after each operation."""

    def __init__(self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        self.writes: list[Write] = []
        self.commits: list[Commit] = []
        runtime.uow.signals.subscribe(self.commits.append)
        self._log(monkeypatch, SqlMessages, "insert", "message", "created")
        self._log(monkeypatch, SqlMessages, "update", "message", "update")
        self._log(monkeypatch, SqlMessages, "delete", "message", "deleted")
        self._log(monkeypatch, SqlFolders, "insert", "folder", "created")
        self._log(monkeypatch, SqlFolders, "update", "folder", "update")
        self._log(monkeypatch, SqlFolders, "delete", "folder", "deleted")

    def _log(self, monkeypatch: pytest.MonkeyPatch, cls: type, name: str, entity: str, op: str) -> None:
        original: Callable[..., Any] = getattr(cls, name)

        def logged(repo: object, item: Any, *args: Any) -> Any:
            self.writes.append((entity, op, item if isinstance(item, str) else item.id))
            return original(repo, item, *args)

        monkeypatch.setattr(cls, name, logged)

    def take(self, **expected: int) -> list[Change]:
        """Assert writes == changes and the whys (`message_created=1, …`); reset for the next operation."""
        changes = [c for commit in self.commits for c in commit.changes]
        as_writes = [
            (c.entity, "update" if c.kind in ("updated", "moved") else c.kind, c.item_id) for c in changes
        ]
        assert sorted(as_writes) == sorted(self.writes), "a store write without a recorded change (or v.v.)"
        for c in changes:
            assert (c.from_folder_id not in (None, c.folder_id)) == (c.kind == "moved"), c
            assert (
                c.mailbox_id and c.rest_id and (c.folder_id or c.entity == "folder")
            )  # a root has no parent
        whys = Counter(f"{c.entity}_{c.kind}" for c in changes)
        assert whys == Counter({k: v for k, v in expected.items() if v}), whys
        self.writes.clear()
        self.commits.clear()
        return changes


@pytest.fixture
def observed(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Observed:
    return Observed(runtime, monkeypatch)


def _attachment(name: str = "a.txt") -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": name,
        "contentBytes": base64.b64encode(b"hello").decode(),
    }


async def test_every_graph_write_path_records_its_change(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, observed: Observed
) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    me = "/v1.0/me"

    draft = await create_draft(api, alice, to=["bob@fabrikam.test"])
    (created,) = observed.take(message_created=1)
    assert created.rest_id == draft["id"]
    url = f"{me}/messages/{q(draft['id'])}"

    assert (await api.patch(url, json={"subject": "changed"}, headers=alice)).status_code == 200
    observed.take(message_updated=1)

    r = await api.post(f"{url}/attachments", json=_attachment(), headers=alice)
    assert r.status_code == 201, r.text
    observed.take(message_updated=1)
    assert (await api.delete(f"{url}/attachments/{q(r.json()['id'])}", headers=alice)).status_code == 204
    observed.take(message_updated=1)

    item = {"attachmentType": "file", "name": "up.bin", "size": 5}
    r = await api.post(f"{url}/attachments/createUploadSession", json={"AttachmentItem": item}, headers=alice)
    assert r.status_code == 201, r.text
    observed.take()  # a session is no item change
    r = await api.put(r.json()["uploadUrl"], content=b"12345", headers={"Content-Range": "bytes 0-4/5"})
    assert r.status_code == 201, r.text
    observed.take(message_updated=1)  # upload finish: the attachment lands on the draft

    # Send: the draft moves to Sent Items, Bob gets a copy, an unknown local address an NDR, one is queued.
    body = {
        "toRecipients": [
            {"emailAddress": {"address": a}}
            for a in ("bob@fabrikam.test", "nobody@fabrikam.test", "far@example.org")
        ]
    }
    assert (await api.patch(url, json=body, headers=alice)).status_code == 200
    observed.take(message_updated=1)
    assert (await api.post(f"{url}/send", headers=alice)).status_code == 202
    queued = sum(c.queued for c in observed.commits)
    changes = observed.take(message_moved=1, message_created=2)
    assert queued == 1
    moved = next(c for c in changes if c.kind == "moved")
    assert moved.item_id == created.item_id and moved.rest_id != draft["id"]  # new REST id, same immutable

    (sent,) = await folder_items(api, alice, me, "sentitems")
    sent_url = f"{me}/messages/{q(sent['id'])}"
    assert (await api.post(f"{sent_url}/createReply", headers=alice)).status_code == 201
    observed.take(message_created=1)
    r = await api.post(f"{sent_url}/createForward", headers=alice)
    assert r.status_code == 201, r.text
    observed.take(message_created=1, message_updated=1)  # the forward gains the original's attachment
    r = await api.post(f"{sent_url}/reply", json={"comment": "again"}, headers=alice)
    assert r.status_code == 202, r.text
    observed.take(message_created=2, message_moved=1)  # draft, Sent Items, Alice's own Inbox copy

    r = await api.post(f"{sent_url}/copy", json={"destinationId": "inbox"}, headers=alice)
    assert r.status_code == 201, r.text
    observed.take(message_created=1)
    copy_url = f"{me}/messages/{q(r.json()['id'])}"
    r = await api.post(f"{copy_url}/move", json={"destinationId": "archive"}, headers=alice)
    assert r.status_code == 201, r.text
    observed.take(message_moved=1)
    moved_url = f"{me}/messages/{q(r.json()['id'])}"
    assert (await api.delete(moved_url, headers=alice)).status_code == 204
    (soft,) = observed.take(message_moved=1)  # into Recoverable Items
    r = await api.delete(f"{me}/messages/{q(soft.rest_id)}", headers=alice)
    assert r.status_code == 204
    (gone,) = observed.take(message_deleted=1)
    assert gone.item_id == soft.item_id

    mime = {"Content-Type": "text/plain"}
    r = await api.post(f"{me}/messages", content=base64.b64encode(MIME), headers={**alice, **mime})
    assert r.status_code == 201, r.text
    observed.take(message_created=1)
    r = await api.post(f"{me}/sendMail", content=base64.b64encode(MIME), headers={**alice, **mime})
    assert r.status_code == 202, r.text
    observed.take(message_created=2, message_moved=1)  # draft, → Sent Items, Bob's copy

    message = {"subject": "json", "toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test"}}]}
    r = await api.post(f"{me}/sendMail", json={"message": message}, headers=alice)
    assert r.status_code == 202, r.text
    observed.take(message_created=2)  # Sent Items copy, Bob's copy

    # A failing unit rolls back: nothing is published.
    r = await api.post(f"{me}/messages/{q(sent['id'])}/send", headers=alice)
    assert r.status_code == 400
    assert observed.commits == []
    observed.writes.clear()  # a rolled-back unit's writes never became changes


async def test_folder_writes_record_their_change(
    api: httpx.AsyncClient, token_for: TokenFor, observed: Observed
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    r = await api.post("/v1.0/me/mailFolders", json={"displayName": "F"}, headers=alice)
    folder = r.json()
    observed.take(folder_created=1)
    base = f"/v1.0/me/mailFolders/{q(folder['id'])}"
    r = await api.post(f"{base}/childFolders", json={"displayName": "C"}, headers=alice)
    observed.take(folder_created=1)
    await create_draft(api, alice, root=f"/v1.0/me/mailFolders/{q(r.json()['id'])}")
    observed.take(message_created=1)
    assert (await api.patch(base, json={"displayName": "G"}, headers=alice)).status_code == 200
    observed.take(folder_updated=1)
    r = await api.post(f"{base}/copy", json={"destinationId": "archive"}, headers=alice)
    assert r.status_code == 201
    observed.take(folder_created=2, message_created=1)
    r = await api.post(f"{base}/move", json={"destinationId": "inbox"}, headers=alice)
    assert r.status_code == 201
    observed.take(folder_updated=1)
    assert (await api.delete(base, headers=alice)).status_code == 204
    observed.take(folder_updated=1)  # into Deleted Items
    assert (await api.delete(base, headers=alice)).status_code == 204
    observed.take(folder_deleted=2, message_deleted=1)  # for good, with the subtree and its item


async def test_smtp_ndr_and_mailbox_paths_record_their_change(runtime: Runtime, observed: Observed) -> None:
    sending = runtime.app.services.sending
    blobs = runtime.app.services.attachments.blobs
    inbound = InboundService(runtime.uow, lambda: time.time_ns() // 1000, sending, None, blobs, decoy_hash="")  # type: ignore[arg-type]
    trace = InternetMessageHeader("Received", "from mx.example.net by fabrikam.test")
    mail = InboundMail("far@example.net", ["bob@fabrikam.test", "carol@fabrikam.test"], parse(MIME), trace)
    await inbound.receive(mail)
    (bob_copy, _) = observed.take(message_created=2)

    async def report(tx: Tx) -> None:
        original = await tx.messages.get_immutable(bob_copy.mailbox_id, bob_copy.item_id)
        assert original is not None
        failure = dsn.Failure("far@example.net", Reply(550, "5.1.1 no such user"), "rejected")
        assert await dsn.report(tx, original, [failure], original.received_at) is not None

    await runtime.uow.write(report)
    observed.take(message_created=1)  # the delivery worker's non-delivery report

    user = await runtime.directory.add_user(UserSpec("dave@fabrikam.test", "Dave"))
    changes = observed.take(folder_created=len(observed.writes))
    assert len(changes) >= 5 and {c.mailbox_id for c in changes} == {user.id}  # a new mailbox's folders


async def test_units_of_one_batch_publish_their_own_changes_only(runtime: Runtime) -> None:
    """The SQLite engine runs concurrent units in one batch on one Tx: recorders must not leak."""
    uow = runtime.uow
    commits: list[Commit] = []
    uow.signals.subscribe(commits.append)
    waiting = asyncio.ensure_future(uow.signals.next())
    users = await runtime.engine.read(lambda tx: tx.directory.list_users())

    def provision(user_id: str, fail: bool) -> Callable[[Tx], Awaitable[None]]:
        async def unit(tx: Tx) -> None:
            user = await tx.directory.get_user(user_id)
            assert user is not None
            await tx.folders.insert(Folder(ids.folder_id(), user.id, None, None, f"extra {user_id}", False))
            tx.changes.folder("created", Folder(ids.folder_id(), user.id, None, None, "x", False))
            if fail:
                raise ConflictError("this unit rolls back")

        return unit

    results = await asyncio.gather(
        *(uow.write(provision(u.id, fail=i == 1)) for i, u in enumerate(users)), return_exceptions=True
    )
    assert [isinstance(r, ConflictError) for r in results] == [i == 1 for i in range(len(users))]
    assert sorted(c.changes[0].mailbox_id for c in commits) == sorted(
        u.id for i, u in enumerate(users) if i != 1
    )
    assert all(len(c.changes) == 1 for c in commits)
    assert (await waiting) in commits
