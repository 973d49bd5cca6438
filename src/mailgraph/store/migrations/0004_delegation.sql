-- Identity (issue 3): mailbox delegation, application access policies, certificate credentials.
-- Portable SQL (SQLite and PostgreSQL). All three are declarative: the tenant file (or the admin CLI)
-- replaces them as a whole, so they are plain rows without history.

-- Exchange's mailbox permissions between users (spec §4.4): FullAccess (open the mailbox),
-- SendAs, SendOnBehalf. Both sides are users of the tenant; removing either removes the grant.
CREATE TABLE mailbox_permissions (
    mailbox_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    delegate_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    access_right TEXT NOT NULL,
    PRIMARY KEY (mailbox_id, delegate_id, access_right)
);
CREATE INDEX mailbox_permissions_delegate ON mailbox_permissions (delegate_id);

-- Application access policies (spec §4.5): per app, RestrictAccess (only these mailboxes) or
-- DenyAccess (all but these). One row per mailbox of the policy's group; one access right per app.
CREATE TABLE app_access_policies (
    client_id TEXT NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    access_right TEXT NOT NULL,
    mailbox_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, mailbox_id)
);

-- Certificates registered on an app (client_assertion, RFC 7523); PEM, named by SHA-256 thumbprint.
CREATE TABLE app_certificates (
    client_id TEXT NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    thumbprint TEXT NOT NULL,
    pem TEXT NOT NULL,
    PRIMARY KEY (client_id, thumbprint)
);
