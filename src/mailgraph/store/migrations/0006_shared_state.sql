-- Shared state in the store (issue 10): what one server process kept in memory moves here, so that
-- two processes on one database behave as one server. Portable SQL (SQLite and PostgreSQL).
-- Times are BIGINT microseconds since the epoch, as everywhere; upload offsets are bytes.

-- Authorization codes (RFC 6749 §4.1 + PKCE), keyed by the sha256 of the code; single use.
CREATE TABLE auth_codes (
    code_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    oidc TEXT NOT NULL,
    nonce TEXT,
    redirect_uri TEXT NOT NULL,
    challenge TEXT,
    method TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX auth_codes_expiry ON auth_codes (expires_at);

-- Device authorization requests (RFC 8628): pending, then approved (user_id, scopes) or declined.
CREATE TABLE device_codes (
    device_hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    base TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    user_id TEXT,
    scopes TEXT,
    oidc TEXT
);
CREATE INDEX device_codes_expiry ON device_codes (expires_at);

-- Client-assertion ids already used (RFC 7523 §3 item 7), until their assertions expire.
CREATE TABLE assertion_jtis (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX assertion_jtis_expiry ON assertion_jtis (expires_at);

-- The accepted chunks of an upload session, one blob-store part each, in byte order. Sessions begun
-- before this migration wrote one partial file and have no parts: they are dropped (the client gets
-- 404 on its next chunk and starts a new session; sessions live 30 minutes anyway).
CREATE TABLE upload_parts (
    session_id TEXT NOT NULL,
    start_at BIGINT NOT NULL,
    part TEXT NOT NULL,
    PRIMARY KEY (session_id, start_at)
);
DELETE FROM upload_sessions;
