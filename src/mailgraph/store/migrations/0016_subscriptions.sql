-- Change notifications (issue 12): Graph subscriptions on message resources, and the durable
-- notification outbox written in the same transaction as the change it reports. Portable SQL.
-- Times are BIGINT microseconds since the epoch, as everywhere.

CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    mailbox_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    creator_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    folder_id TEXT,
    change_types TEXT NOT NULL,
    notification_url TEXT NOT NULL,
    lifecycle_url TEXT,
    client_state TEXT,
    expires_at BIGINT NOT NULL,
    token_expires_at BIGINT NOT NULL,
    include_resource_data INTEGER NOT NULL,
    encryption_certificate TEXT,
    encryption_certificate_id TEXT,
    select_props TEXT NOT NULL,
    immutable_ids INTEGER NOT NULL,
    version TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    reauth_at BIGINT NOT NULL
);
-- The in-unit match reads the live subscriptions of the changed mailboxes: one indexed read per unit.
CREATE INDEX subscriptions_mailbox ON subscriptions (mailbox_id, expires_at);
CREATE INDEX subscriptions_expiry ON subscriptions (expires_at);
CREATE INDEX subscriptions_reauth ON subscriptions (reauth_at);
CREATE INDEX subscriptions_app ON subscriptions (tenant_id, app_id);

-- One row per notification to POST: a change (kind 'change': event created/updated/deleted of one
-- item) or a lifecycle event (kind 'lifecycle'). Delivered rows are deleted; rows given up after the
-- retry window stay with status 'failed' (counted by /admin) until purged.
CREATE TABLE notification_outbox (
    id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    mailbox_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    client_state TEXT,
    subscription_expires_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_error TEXT
);
CREATE INDEX notification_outbox_due ON notification_outbox (status, next_attempt_at);
CREATE INDEX notification_outbox_subscription ON notification_outbox (subscription_id);
