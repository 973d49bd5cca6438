-- Inbox rules, mailbox settings and the automatic-reply log (issue 15; domain/message_rules.py,
-- domain/mailbox_settings.py, domain/auto_replies.py). Portable SQL; times are BIGINT microseconds.

-- One row per rule of a mailbox's Inbox. The predicates and actions are one JSON text each (Graph's
-- messageRulePredicates has 30 fields, read whole by the delivery path, never queried one by one).
CREATE TABLE message_rules (
    id TEXT PRIMARY KEY,
    mailbox_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    is_enabled INTEGER NOT NULL,
    has_error INTEGER NOT NULL,
    conditions TEXT NOT NULL,
    exceptions TEXT NOT NULL,
    actions TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- Delivery reads the rules of the recipients' mailboxes in sequence order: one indexed read per unit.
CREATE INDEX message_rules_mailbox ON message_rules (mailbox_id, sequence, created_at);

-- A mailbox's settings as one JSON text (absent row: the defaults), and the generation of the
-- automatic-reply settings: every change of them starts a new period of "answered once".
CREATE TABLE mailbox_settings (
    mailbox_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    settings TEXT NOT NULL,
    reply_generation INTEGER NOT NULL,
    modified_at BIGINT NOT NULL
);

-- Who was answered in the current period (Exchange answers each sender once while the settings
-- stay the same). The key includes the generation, so a settings change starts afresh.
CREATE TABLE auto_reply_log (
    mailbox_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    reply_generation INTEGER NOT NULL,
    sender TEXT NOT NULL,
    replied_at BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, reply_generation, sender)
);
