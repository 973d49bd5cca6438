-- mg_has_member(json_array_text, value): some string member of the JSON array equals the value under
-- mg_fold (the `categories/any(c:c eq '…')` filter, store/sql/filters.py). A JSON function, not LIKE on
-- the text: a pattern over the encoded array can match across members (`["a,",",x"]` holds no ",").
CREATE OR REPLACE FUNCTION mg_has_member(arr text, v text) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT
PARALLEL SAFE
RETURN EXISTS (SELECT 1 FROM jsonb_array_elements_text(arr::jsonb) AS m(t) WHERE mg_fold(m.t) = mg_fold(v));
