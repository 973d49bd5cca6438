"""The SQLite engine pins planner statistics (store/engines/sqlite_stats.py): a folder's newest items
are read through the folder index, never by walking the whole mailbox, on any store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mailgraph.store.engines.sqlite import SqliteEngine
from mailgraph.store.engines.sqlite_stats import MESSAGE_INDEX_STATS

LIST = (
    "EXPLAIN QUERY PLAN SELECT id FROM messages WHERE folder_id = ? AND mailbox_id = ? AND (is_read = 0)"
    " ORDER BY received_at DESC, id DESC LIMIT 51 OFFSET 0"
)


async def test_folder_lists_use_the_folder_index_and_reopening_keeps_one_copy(tmp_path: Path) -> None:
    for _ in range(2):  # written at every open, never duplicated
        engine = SqliteEngine(tmp_path / "m.db")
        await engine.close()
    db = sqlite3.connect(tmp_path / "m.db")
    try:
        plan = " ".join(row[3] for row in db.execute(LIST, ("f", "m")))
        assert "messages_folder_received" in plan and "TEMP B-TREE" not in plan, plan
        rows = db.execute("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'messages' ORDER BY idx").fetchall()
        assert rows == sorted(MESSAGE_INDEX_STATS)
        without = db.execute("SELECT COUNT(*) FROM messages").fetchone()
        assert without == (0,)
    finally:
        db.close()
