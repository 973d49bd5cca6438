-- Issue 15: per-message extended properties (single- and multi-value) and open extensions.
-- kind: 'single' | 'multi' | 'extension'; prop_key: the case-folded id (or extensionName) that lookups
-- and $filter compare; prop_id: as the client wrote it; value_json: a JSON string, list or object.
-- Keyed by the immutable message id, so a move (or a send: the draft moves to Sent Items) keeps them.
CREATE TABLE message_properties (
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    prop_key TEXT NOT NULL,
    prop_id TEXT NOT NULL,
    value_json TEXT NOT NULL,
    PRIMARY KEY (message_id, kind, prop_key)
);
CREATE INDEX message_properties_key ON message_properties (kind, prop_key);
