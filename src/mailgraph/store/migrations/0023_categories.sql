-- Issue 15: the mailbox's master category list (Graph outlookCategory, `…/outlook/masterCategories`)
-- and Focused Inbox overrides (`…/inferenceClassification/overrides`).
-- name_key / address_key hold the case-folded name or address: Exchange compares both case-insensitively,
-- and the unique indexes make a duplicate fail even when two writers race.

CREATE TABLE master_categories (
    id TEXT PRIMARY KEY,
    mailbox_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name_key TEXT NOT NULL,
    display_name TEXT NOT NULL,
    color TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX master_categories_name ON master_categories (mailbox_id, name_key);

CREATE TABLE classification_overrides (
    id TEXT PRIMARY KEY,
    mailbox_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address_key TEXT NOT NULL,
    address TEXT NOT NULL,
    name TEXT NOT NULL,
    classify_as TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX classification_overrides_sender ON classification_overrides (mailbox_id, address_key);
