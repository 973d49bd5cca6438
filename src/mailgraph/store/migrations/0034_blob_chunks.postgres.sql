-- Attachment blobs in the database (issue 11, store/engines/pg_blobs.py): with PostgreSQL, N hosts
-- share nothing but the database. `blobs` (0003) keeps counting references by sha256; these tables
-- hold the bytes. A blob's bytes are a `content`: rows of `blob_chunks` keyed by byte offset (`seq`),
-- 256 KiB each (the last shorter). A content becomes a blob in the transaction that inserts its
-- `blob_contents` row, together with its chunks, so a blob that has a row always has all its bytes.
-- Upload-session parts are contents too, recorded in `blob_writes` (their session, their size) until
-- joined; a crash leaves rows the collector removes (no session any more, older than its grace).
-- Times are microseconds since the epoch on the database server's clock (one clock for every host).

CREATE TABLE blob_contents (
    hash TEXT PRIMARY KEY,
    content TEXT NOT NULL UNIQUE,
    size BIGINT NOT NULL,
    written_at BIGINT NOT NULL
);
CREATE INDEX blob_contents_written ON blob_contents (written_at);

CREATE TABLE blob_chunks (
    content TEXT NOT NULL,
    seq BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (content, seq)
);
-- Out of line, uncompressed: attachments are mostly compressed already (JPEG, PDF, ZIP, Office), and
-- pglz would cost CPU on every chunk for little; EXTERNAL stores them as they are.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE blob_writes (
    content TEXT PRIMARY KEY,
    upload TEXT NOT NULL,
    size BIGINT NOT NULL,
    started_at BIGINT NOT NULL
);
CREATE INDEX blob_writes_upload ON blob_writes (upload);
