-- Smart lockout (issue 17, defect 3): failed sign-ins per user (passwords) and per client (secrets),
-- in the store so that several server processes sharing one database count them together.
-- `subject` is "user:{user id}" or "client:{client id}"; times are microseconds since the epoch.
-- Portable SQL (SQLite and PostgreSQL): TEXT and INTEGER only.

CREATE TABLE sign_in_failures (
    subject TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    lockouts INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The tenant's lockout policy (tenant file: [tenant] lockoutThreshold, lockoutDurationSeconds).
ALTER TABLE tenants ADD COLUMN lockout_threshold INTEGER NOT NULL DEFAULT 10;
ALTER TABLE tenants ADD COLUMN lockout_duration_s INTEGER NOT NULL DEFAULT 60;
