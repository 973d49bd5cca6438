-- Change tracking (issue 12): a per-mailbox change number and the change log delta queries read.
-- Portable SQL (SQLite and PostgreSQL). Times are BIGINT microseconds since the epoch.

-- One row per mailbox: `n` is the number of the mailbox's latest change. Every unit that changes the
-- mailbox runs `UPDATE mailbox_clock SET n = n + k … RETURNING n` in its own transaction, so the row
-- lock serialises the writers of one mailbox and change numbers become visible in commit order (a
-- global sequence would not: a reader could see 7 committed while 6 commits later, and skip 6).
-- `secret` signs the mailbox's delta tokens (a new row, e.g. a recreated mailbox, voids old tokens);
-- `pruned_through` is the highest number whose log row may already be gone (retention).
CREATE TABLE mailbox_clock (
    mailbox_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    n BIGINT NOT NULL,
    pruned_through BIGINT NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One row per recorded change (domain/changes.py `Change`), numbered by the mailbox clock.
-- entity: 'message' | 'folder'; kind: created | updated | moved | deleted. `rest_id` is the REST id
-- after the change (the one it had, for a deletion); `from_rest_id` the one before a move.
CREATE TABLE change_log (
    mailbox_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    entity TEXT NOT NULL,
    kind TEXT NOT NULL,
    item_id TEXT NOT NULL,
    rest_id TEXT NOT NULL,
    folder_id TEXT NOT NULL,
    from_folder_id TEXT,
    from_rest_id TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, seq)
);
