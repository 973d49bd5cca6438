-- Fault injection (issue 13): rules shared by every server process on the database, with their
-- occurrence and firing counts, so "the 3rd send" is the 3rd across processes. Portable SQL.
-- Times are BIGINT microseconds since the epoch; probability is stored in millionths (INTEGER).
CREATE TABLE fault_rules (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    method TEXT,
    route TEXT,
    mailbox TEXT,
    app TEXT,
    nth INTEGER,
    probability_ppm INTEGER,
    seed BIGINT NOT NULL,
    times INTEGER,
    expires_at BIGINT,
    status INTEGER,
    code TEXT,
    message TEXT,
    retry_after_s INTEGER,
    latency_ms INTEGER NOT NULL,
    reset INTEGER NOT NULL,
    seen INTEGER NOT NULL,
    fired INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);
