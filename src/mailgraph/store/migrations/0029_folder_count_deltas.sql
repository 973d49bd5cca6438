-- Folder item counters without a hot row (issue 11): every message insert, move, read-flag change and
-- delete appends a delta row here instead of `UPDATE folders SET total_count = …` (migration 0005).
-- On PostgreSQL that UPDATE held the folder row's lock from the statement to the flushed commit, so
-- every unit touching the same folder (one sender's Drafts and Sent Items, one recipient's Inbox) ran
-- one after another: 93-97 % of active sessions waited on it (docs/scaling.md). Appends never wait
-- for each other. Readers add the deltas to the folder row (store/sql/folders.py); a background step
-- folds them into the row and deletes them in one short unit (domain/folder_counts.py).
-- No foreign key to folders: the check would lock the folder row (KEY SHARE) on every append, and a
-- folder's deltas are deleted with it (store/sql/folders.py, directory.py, workbench.py).
-- This file is the SQLite one (`id` is the rowid), 0029_folder_count_deltas.postgres.sql differs only
-- in the identity column.
CREATE TABLE folder_count_deltas (
    id INTEGER PRIMARY KEY,
    folder_id TEXT NOT NULL,
    total INTEGER NOT NULL,
    unread INTEGER NOT NULL
);

-- The read side sums a folder's deltas; the fold deletes by id.
CREATE INDEX folder_count_deltas_folder ON folder_count_deltas (folder_id);
