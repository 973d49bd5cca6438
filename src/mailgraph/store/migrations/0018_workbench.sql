-- The test workbench (issue 14): ephemeral tenants made through the control API, and the indexes its
-- tenant-wide look-ups (wait-for, outbound inspection, tenant deletion) need.
-- Portable SQL (SQLite and PostgreSQL): TEXT/INTEGER only.
--
-- ephemeral: 1 for tenants made by `POST /_mailgraph/tenants` (listed apart, deletable in bulk).
-- seed_json: the seed messages the tenant was created with, opaque to the store (the control API's
-- JSON), so `reset?to=seed` works from any process on the database.
ALTER TABLE tenants ADD COLUMN ephemeral INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN seed_json TEXT;

CREATE INDEX outbound_messages_mailbox ON outbound_messages (mailbox_id, created_at);
CREATE INDEX outbound_queue_mailbox ON outbound_queue (mailbox_id, status);
CREATE INDEX upload_sessions_mailbox ON upload_sessions (mailbox_id);
