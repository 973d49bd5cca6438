-- Issue 17, defect 5: what happens to anonymous mail claiming one of the tenant's own domains
-- (domain/spoofing.py): 'junk' (Exchange Online's spoof handling, the default), 'inbox' or 'reject'.
-- Portable SQL (SQLite and PostgreSQL).
ALTER TABLE tenants ADD COLUMN spoofed_mail TEXT NOT NULL DEFAULT 'junk';
