-- Exchange Online's per-mailbox sending limits (issue 13, domain/send_quota.py): one counter row per
-- mailbox, shared by every server process, and the sends held in the Outbox over the message rate.
-- Portable SQL; times are microseconds since the epoch (BIGINT on PostgreSQL).
CREATE TABLE send_quota (
    mailbox_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    window_start INTEGER NOT NULL,
    window_sends INTEGER NOT NULL,
    day_start INTEGER NOT NULL,
    day_recipients INTEGER NOT NULL,
    blocked_until INTEGER NOT NULL
);

-- A held send goes with its item: deleting the item from the Outbox cancels the send.
CREATE TABLE held_sends (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    mailbox_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    save_copy INTEGER NOT NULL,
    release_at INTEGER NOT NULL,
    lease_until INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX held_sends_due ON held_sends (release_at, id);
CREATE INDEX held_sends_message ON held_sends (message_id);
