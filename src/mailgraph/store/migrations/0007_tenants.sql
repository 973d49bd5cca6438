-- Tenant context (issue 10): more than one tenant per server, and token signing keys in the store.
-- Portable SQL (SQLite and PostgreSQL): TEXT/INTEGER only, no engine-specific syntax.
--
-- Addresses stay globally unique (users.upn_key / mail_key are UNIQUE since 0001): a verified domain
-- belongs to exactly one tenant, as in Entra. Lookups are nevertheless always filtered by tenant_id.
CREATE INDEX users_tenant ON users (tenant_id, upn_key);
CREATE INDEX apps_tenant ON apps (tenant_id, client_id);

-- Each tenant signs its tokens with its own RSA keys. The current key is the one with no retire_at
-- (one per tenant); a rotation sets retire_at on it (old tokens keep verifying until then) and
-- inserts the new one. Private keys are PKCS#8 PEM: the database file is as secret as keys/ was.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    private_key_pem TEXT NOT NULL,
    certificate_pem TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    retire_at INTEGER
);
CREATE INDEX signing_keys_tenant ON signing_keys (tenant_id, retire_at);
