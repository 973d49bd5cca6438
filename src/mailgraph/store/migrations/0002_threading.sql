-- Threading headers (RFC 5322 §3.6.4), kept per item so replies, $value and SMTP keep threads intact.
ALTER TABLE messages ADD COLUMN in_reply_to TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN references_header TEXT NOT NULL DEFAULT '';
