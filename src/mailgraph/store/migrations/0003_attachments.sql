-- Attachments (spec §2.11, §2.12, §3.4). Bytes are stored once, content-addressed: `blobs` counts the
-- attachment rows that reference each sha256; the files live in data_dir/blobs/ (store/blobs.py).
-- `attachments.item_id` is a message's immutable id or an outbound snapshot's id, so it has no
-- foreign key; references are released explicitly and reconciled by the collector.

CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    refcount BIGINT NOT NULL,
    released_at BIGINT
);
CREATE INDEX blobs_released ON blobs (refcount, released_at);

CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    item_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    is_inline INTEGER NOT NULL,
    content_id TEXT,
    content_location TEXT,
    modified_at BIGINT NOT NULL,
    blob_hash TEXT REFERENCES blobs(hash),
    reference_json TEXT
);
CREATE INDEX attachments_item ON attachments (item_id, position);
CREATE INDEX attachments_blob ON attachments (blob_hash);

CREATE TABLE upload_sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    mailbox_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT,
    size BIGINT NOT NULL,
    is_inline INTEGER NOT NULL,
    content_id TEXT,
    received BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX upload_sessions_expiry ON upload_sessions (expires_at);
