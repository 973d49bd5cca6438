-- The version of its mailbox's subscription set at which a subscription was created (issue 12,
-- throughput). A `fanout` outbox row then names its subscriptions by that version and their match
-- classes (`@{version};{class};…`, domain/subscriptions.py `fanout_ref`) instead of listing up to
-- 1,000 ids: the row stays short (its insert, lease and delete stay cheap, and so does its index
-- entry), and the worker resolves it to the live subscriptions created at or before that version.
-- Existing subscriptions get 0: they predate every row written in the new form. Portable SQL.
ALTER TABLE subscriptions ADD COLUMN since_version BIGINT NOT NULL DEFAULT 0;
