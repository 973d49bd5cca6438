-- Inbox rules' forwardAsAttachmentTo (issue 15, domain/rule_forwards.py): the outbox of the forwards a
-- delivery decided but cannot send in its own unit (the attached item's MIME must first be written to
-- the blob store, which no unit of work may do). One row per delivered copy and rule action; the
-- forwarder leases it after commit, stages the MIME, and deletes the row in the unit that sends.
-- A row goes with its copy: a copy purged before the forwarder runs cancels the forward.
-- Portable SQL; times are microseconds since the epoch; recipients JSON (store/sql/codec.py).
CREATE TABLE rule_forwards (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    mailbox_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    recipients TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    lease_until INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX rule_forwards_due ON rule_forwards (due_at, id);
CREATE INDEX rule_forwards_message ON rule_forwards (message_id);
