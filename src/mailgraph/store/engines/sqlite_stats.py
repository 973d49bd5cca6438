"""Pinned query-planner statistics for the SQLite engine (`sqlite_stat1`), written at every open.

Without statistics SQLite guesses that every index with one equality column is equally selective.
A folder list (`WHERE folder_id = ? AND mailbox_id = ? ORDER BY received_at DESC LIMIT 51`) then
walks `messages_mailbox_received` instead of `messages_folder_received`, skipping every newer item
of the mailbox's *other* folders one row at a time: measured on the benchmark stores (bench/
load_store.py), the newest 50 unread of an Inbox took 17 ms with 13k newer Sent Items, 9 ms at
1M messages — and 0.3 ms once the planner takes the folder index.

`ANALYZE` would find that out, but sampled (`analysis_limit`) it mis-estimated both indexes as equal
here, and a full one costs seconds at 1M messages and its result drifts with the data. So, as the
SQLite docs allow (sqlite.org/lang_analyze.html, "fixed results"), the engine writes the *shape* of
a mail store instead: a mailbox holds many folders, a folder many items, `is_read` splits nothing
worth a sort. Only relative sizes matter; plans are then the same on every store, big or small.
"""

from __future__ import annotations

import sqlite3

# (index, "rows  rows-per-first-column  rows-per-first-two …"): see the module docstring.
MESSAGE_INDEX_STATS = (
    ("messages_folder_received", "1000000 100 1 1"),
    ("messages_mailbox_received", "1000000 1000 1 1"),
    ("messages_folder_unread", "1000000 100 100"),
    ("messages_internet_message_id", "1000000 1000 1"),
)


def pin_statistics(db: sqlite3.Connection) -> None:
    """Write the pinned statistics (in one write transaction) and make this connection load them."""
    db.execute("ANALYZE sqlite_schema")  # creates sqlite_stat1 if missing; analyses nothing of ours
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'messages'")
        db.executemany(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('messages', ?, ?)", MESSAGE_INDEX_STATS
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("ANALYZE sqlite_schema")  # reload the statistics into the planner
