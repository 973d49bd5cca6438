-- A version number per mailbox of its set of subscriptions (issue 12, throughput). Every write that
-- changes a subscription (insert, renew, delete) bumps it in the same transaction, so a server process
-- may keep the set in memory and reread it only when the version moved: the unit of a change reads
-- one short row instead of the subscriptions, and stays correct when another process (or host)
-- subscribes. No row: the mailbox never had a subscription. Portable SQL.
CREATE TABLE subscription_versions (
    mailbox_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO subscription_versions (mailbox_id, version) SELECT DISTINCT mailbox_id, 1 FROM subscriptions;
