-- SMTP submission (issue 16): Exchange Online's per-tenant "SMTP AUTH" switch for the password
-- mechanisms (AUTH LOGIN / PLAIN). 0 = disabled, Exchange Online's default for new tenants;
-- XOAUTH2 with an access token is accepted either way. Portable SQL (SQLite and PostgreSQL).
ALTER TABLE tenants ADD COLUMN smtp_password_auth INTEGER NOT NULL DEFAULT 0;
