-- Change numbers assigned after commit (issue 11). On PostgreSQL a write unit no longer numbers its
-- changes: numbering took the mailbox clock's row lock (0015), held until the commit was flushed, so
-- every unit of one mailbox (one sender's creates and sends) ran one after another. A unit appends its
-- changes here instead (insert-only: no lock another unit waits for, like the folder count deltas of
-- 0029), and a short sequencer unit (store/sql/change_log.py `sequence`) takes committed rows with
-- DELETE … RETURNING, advances the clocks and writes the numbered `change_log` rows. `id` orders the
-- changes of one item: a later change to an item waited for the earlier unit's row lock before it
-- appended here, so it has the higher id (the identity sequence has CACHE 1, so ids are handed out in
-- call order across connections).
-- SQLite keeps numbering inside the unit (its single writer has no hot row): the table stays empty
-- there, and exists only so both engines share one schema.
-- No foreign key to users: the check would lock the mailbox's user row (KEY SHARE, a MultiXact once
-- several units hold it) on every append; a mailbox's pending rows are deleted with it, and the
-- sequencer drops rows of a mailbox that is gone. No index on mailbox_id: the table holds well under
-- a second of writes (the background sequencer), and an index is one more insert per change.
-- This file is the SQLite one (`id` is the rowid); 0039_change_log_pending.postgres.sql differs only in
-- the identity column.
CREATE TABLE change_log_pending (
    id INTEGER PRIMARY KEY,
    mailbox_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    kind TEXT NOT NULL,
    item_id TEXT NOT NULL,
    rest_id TEXT NOT NULL,
    folder_id TEXT NOT NULL,
    from_folder_id TEXT,
    from_rest_id TEXT
);
