-- Folder item counters: totalItemCount/unreadItemCount were two COUNT(*)
-- subqueries over `messages` on every folder read (≈0.9 ms per folder at 20k items, and every
-- `…/mailFolders/{id}/messages` request resolves its folder first). They are now columns kept exact
-- by store/sql/messages.py in the same transaction as each insert, update and delete of a message.
-- Portable SQL (SQLite and PostgreSQL).

ALTER TABLE folders ADD COLUMN total_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE folders ADD COLUMN unread_count INTEGER NOT NULL DEFAULT 0;

-- Backfill existing stores from the rows themselves (index-only: messages_folder_unread).
UPDATE folders SET
    total_count = (SELECT COUNT(*) FROM messages m WHERE m.folder_id = folders.id),
    unread_count = (SELECT COUNT(*) FROM messages m WHERE m.folder_id = folders.id AND m.is_read = 0);

-- Inbound threading (MessageRepo.find_conversations) looks up a reply's parents by Message-ID
-- within the recipients' mailboxes; without this it read every row of those mailboxes.
CREATE INDEX messages_internet_message_id ON messages (mailbox_id, internet_message_id);
