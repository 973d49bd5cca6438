"""Queued-message snapshots are versioned and read by field name (store/sql/snapshot.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from mailgraph.domain import ids
from mailgraph.domain.model import Message, QueueEntry
from mailgraph.store.engines.sqlite import SqliteEngine
from mailgraph.store.sql import codec, snapshot
from mailgraph.store.sql.messages import from_row, to_row
from tests.store.test_contract import message, seed, user

M = message(user("alice"), "f1", 10, subject="Grüße")


def _v0(m: Message) -> str:
    """Exactly what the outbox wrote before snapshots had a version."""
    return codec.dump(to_row(m))


def test_current_format_round_trips_and_says_its_version() -> None:
    text = snapshot.dump(M)
    assert codec.load(text)["v"] == snapshot.CURRENT == 1
    assert snapshot.load(text) == M


def test_an_old_unversioned_row_still_decodes() -> None:
    assert snapshot.load(_v0(M)) == M


def test_a_column_reorder_between_write_and_read_cannot_corrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:  # a build whose messages columns come in another order
        m.setattr(snapshot, "FIELDS", tuple(reversed(snapshot.FIELDS)))
        m.setattr(snapshot, "to_row", lambda msg: tuple(reversed(to_row(msg))))
        text = snapshot.dump(M)
    assert snapshot.load(text) == M


def test_a_column_added_later_reads_old_snapshots_with_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    text = snapshot.dump(M)
    seen: list[object] = []

    def newer_from_row(row: Sequence[Any]) -> Message:
        seen.append(row[-1])
        return from_row(row[:-1])

    monkeypatch.setattr(snapshot, "FIELDS", (*snapshot.FIELDS, "priority"))
    monkeypatch.setattr(snapshot, "from_row", newer_from_row)
    with pytest.raises(snapshot.SnapshotFormatError, match="'priority'"):
        snapshot.load(text)  # no default: refused, not filled with a neighbour's value
    monkeypatch.setattr(snapshot, "ADDED_DEFAULTS", {"priority": 3})
    assert snapshot.load(text) == M and seen == [3]
    assert snapshot.load(_v0(M)) == M and seen == [3, 3]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"v": 2, "m": {}}', "newer than this mailgraph reads"),
        ('{"m": {}}', "not a queued-message snapshot"),
        ("[1, 2, 3]", "v0 snapshot has 3 values"),
    ],
)
def test_unknown_formats_are_refused_clearly(text: str, says: str) -> None:
    with pytest.raises(snapshot.SnapshotFormatError, match=says):
        snapshot.load(text)


async def test_an_old_row_in_the_database_is_delivered_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    engine = SqliteEngine(path)
    try:
        (alice,) = await seed(engine, "alice")
        m = message(alice, "f1", 10, subject="queued before the upgrade")
        entry = QueueEntry(
            ids.queue_id(), "o1", alice.id, "a@x.test", "x.test", "queued", 0, 10, None, None, None, 99, 10
        )
        await engine.write(lambda tx: tx.outbox.add("o1", m, [entry]))
        with closing(sqlite3.connect(path, isolation_level=None)) as db:
            db.execute("UPDATE outbound_messages SET snapshot_json = ? WHERE id = 'o1'", (_v0(m),))
        assert await engine.read(lambda tx: tx.outbox.get_message("o1")) == m
    finally:
        await engine.close()
