-- mailgraph schema, version 1. Portable SQL: runs unchanged on SQLite and PostgreSQL.
-- Times are BIGINT microseconds since the Unix epoch (UTC); booleans are INTEGER 0/1;
-- lists and small structures are JSON text, decoded by store/sql/codec.py.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    domains_json TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    upn TEXT NOT NULL,
    upn_key TEXT NOT NULL UNIQUE,
    mail TEXT NOT NULL,
    mail_key TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    account_enabled INTEGER NOT NULL
);

CREATE TABLE apps (
    client_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    object_id TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    secret_hash TEXT,
    allow_public_client INTEGER NOT NULL,
    application_permissions_json TEXT NOT NULL,
    delegated_permissions_json TEXT NOT NULL
);

CREATE TABLE folders (
    id TEXT PRIMARY KEY,
    mailbox_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parent_id TEXT REFERENCES folders(id),
    well_known_name TEXT,
    display_name TEXT NOT NULL,
    is_hidden INTEGER NOT NULL
);
CREATE UNIQUE INDEX folders_well_known ON folders (mailbox_id, well_known_name);
CREATE INDEX folders_parent ON folders (parent_id);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,                 -- immutable id
    rest_id TEXT NOT NULL UNIQUE,        -- the default Graph id; changes on every move
    mailbox_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    folder_id TEXT NOT NULL REFERENCES folders(id),
    change_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    sent_at BIGINT NOT NULL,
    is_draft INTEGER NOT NULL,
    is_read INTEGER NOT NULL,
    has_attachments INTEGER NOT NULL,
    importance TEXT NOT NULL,
    inference_classification TEXT NOT NULL,
    internet_message_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    conversation_index TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_type TEXT NOT NULL,
    body TEXT NOT NULL,
    body_preview TEXT NOT NULL,
    from_address TEXT,
    from_name TEXT,
    sender_address TEXT,
    sender_name TEXT,
    to_json TEXT NOT NULL,
    cc_json TEXT NOT NULL,
    bcc_json TEXT NOT NULL,
    reply_to_json TEXT NOT NULL,
    categories_json TEXT NOT NULL,
    flag_status TEXT NOT NULL,
    flag_json TEXT NOT NULL,
    headers_json TEXT NOT NULL,
    is_delivery_receipt_requested INTEGER NOT NULL,
    is_read_receipt_requested INTEGER NOT NULL
);
CREATE INDEX messages_folder_received ON messages (folder_id, received_at, id);
CREATE INDEX messages_mailbox_received ON messages (mailbox_id, received_at, id);
CREATE INDEX messages_folder_unread ON messages (folder_id, is_read);

-- The outbound queue (outbox pattern): written in the send transaction, drained by a worker
-- after commit. One snapshot per sent message, one entry per external recipient.
CREATE TABLE outbound_messages (
    id TEXT PRIMARY KEY,
    mailbox_id TEXT NOT NULL,
    internet_message_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    snapshot_json TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE outbound_queue (
    id TEXT PRIMARY KEY,
    outbound_id TEXT NOT NULL REFERENCES outbound_messages(id) ON DELETE CASCADE,
    mailbox_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    domain TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_reply_code INTEGER,
    last_reply_text TEXT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbound_queue_due ON outbound_queue (status, next_attempt_at);
CREATE INDEX outbound_queue_outbound ON outbound_queue (outbound_id);
