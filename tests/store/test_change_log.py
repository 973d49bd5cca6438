"""The per-mailbox change log (migrations 0015, 0039): numbered gap-free per mailbox, pruned.

SQLite numbers in the unit's transaction; PostgreSQL after commit (the sequencer), so reads here
sequence first, as delta reads do.
"""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from mailgraph.domain import change_log
from mailgraph.domain.ports import Tx
from mailgraph.store.sql import change_log as sql_change_log
from mailgraph.wiring import Runtime
from tests.api.helpers import create_draft, q
from tests.conftest import Directory, TokenFor


async def _sequenced(runtime: Runtime) -> None:
    """Number what is pending (a no-op where the unit numbers its own changes)."""
    await runtime.engine.write(lambda tx: tx.change_log.sequence())


async def _entries(runtime: Runtime, mailbox_id: str) -> list[change_log.LogEntry]:
    await _sequenced(runtime)
    return await runtime.engine.read(lambda tx: tx.change_log.entries(mailbox_id, 0, 10**12))


async def test_numbers_are_consecutive_per_mailbox_and_rolled_back_units_leave_none(
    runtime: Runtime, directory: Directory, api: AsyncClient, token_for: TokenFor
) -> None:
    alice, bob = directory.users["alice"], directory.users["bob"]
    before = len(await _entries(runtime, alice.id))
    draft = await create_draft(api, token_for("alice", "Mail.ReadWrite"))

    async def failing(tx: Tx) -> None:
        message = await tx.messages.get(alice.id, draft["id"])
        assert message is not None
        message.subject = "never"
        await tx.messages.update(message)
        tx.changes.message("updated", message)
        raise RuntimeError("the unit fails after its write")

    with pytest.raises(RuntimeError):
        await runtime.uow.write(failing)
    r = await api.post(f"/v1.0/me/messages/{q(draft['id'])}/send", headers=token_for("alice", "Mail.Send"))
    assert r.status_code == 202
    entries = await _entries(runtime, alice.id)
    assert [e.seq for e in entries] == list(range(entries[0].seq, entries[0].seq + len(entries)))
    assert [(e.entity, e.kind) for e in entries[before:]] == [("message", "created"), ("message", "moved")]
    moved = entries[-1]
    assert moved.from_rest_id == draft["id"] and moved.rest_id != draft["id"]
    assert moved.folder_before == moved.from_folder_id and moved.rest_id_before == draft["id"]
    bob_entries = await _entries(runtime, bob.id)
    assert [(e.kind, e.item_id != moved.item_id) for e in bob_entries[-1:]] == [("created", True)]
    clock = await runtime.engine.read(lambda tx: tx.change_log.clock(alice.id))
    assert clock is not None and clock.n == entries[-1].seq and len(clock.secret) == 64


async def test_old_entries_are_pruned_and_the_clock_remembers(
    runtime: Runtime,
    directory: Directory,
    api: AsyncClient,
    token_for: TokenFor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = directory.users["alice"]
    headers = token_for("alice", "Mail.ReadWrite")
    await create_draft(api, headers)
    monkeypatch.setattr(change_log, "LOG_RETENTION_S", -1)  # every entry counts as old
    monkeypatch.setattr(sql_change_log, "PRUNE_EVERY", 2)
    for _ in range(3):
        await create_draft(api, headers)
    await _sequenced(runtime)
    clock = await runtime.engine.read(lambda tx: tx.change_log.clock(alice.id))
    assert clock is not None and 0 < clock.pruned_through <= clock.n
    remaining = await _entries(runtime, alice.id)
    assert all(e.seq > clock.pruned_through for e in remaining)
