"""`$search` (KQL subset) → `ast.Search`.

Graph wants the whole value in double quotes (`$search="pizza"`, search-query-parameter.md); the
quotes are stripped, with `\\"` standing for a quote inside. What remains is KQL: whitespace-separated
terms, implicitly AND-ed; a term is a word, a `"quoted phrase"`, or `field:word` / `field:"phrase"`.

Supported fields: subject, from, to, cc, bcc, body, participants (from+to+cc+bcc), recipients
(to+cc+bcc). The other KQL message properties Graph documents (attachment, hasAttachments, importance,
kind, received, sent, size) and the `OR`/`NOT` operators are refused with `BadRequest` rather than
silently matched as text; `AND` is accepted (it is the default). `name:value` with a name KQL does
not know is plain text, as in KQL.
"""

from __future__ import annotations

import re
from typing import Final

from mailgraph.odata.ast import Search, SearchField, SearchTerm
from mailgraph.odata.errors import ODataError, bad_request, inefficient

_FIELD_PREFIX: Final = re.compile(r"([A-Za-z]+):")
MAX_TERMS: Final = 64
"""Terms per search; each becomes up to five LIKE clauses in SQL."""

_FIELDS: Final[dict[str, SearchField]] = {
    "subject": "subject",
    "from": "from",
    "to": "to",
    "cc": "cc",
    "bcc": "bcc",
    "body": "body",
    "participants": "participants",
    "recipients": "recipients",
}
_UNSUPPORTED_FIELDS: Final = frozenset(
    {
        "attachment",
        "attachments",
        "hasattachment",
        "hasattachments",
        "importance",
        "kind",
        "received",
        "sent",
        "size",
    }
)


def parse_search(value: str) -> Search:
    """Parse one `$search` value.

    Args:
        value: The percent-decoded `$search` value, usually wrapped in double quotes.

    Returns:
        The terms, in order; every one must match.

    Raises:
        ODataError: `BadRequest` for an empty search, an unterminated phrase, or unsupported KQL;
            `InefficientFilter` for more than `MAX_TERMS` terms.
    """
    text = value.strip()
    inner = _whole_quoted(text)
    kql = inner if inner is not None else text
    terms: list[SearchTerm] = []
    i, n = 0, len(kql)
    while i < n:
        if kql[i].isspace():
            i += 1
            continue
        field: SearchField | None = None
        if prefix := _FIELD_PREFIX.match(kql, i):
            written = prefix.group(1)
            if written.lower() in _UNSUPPORTED_FIELDS:
                raise bad_request(f"The KQL property '{written}' is not supported in $search by this server.")
            if written.lower() in _FIELDS:
                field = _FIELDS[written.lower()]
                i = prefix.end()
                if i >= n or kql[i].isspace():
                    raise bad_request(f"The KQL property '{written}' has no value in $search.")
        if kql[i] == '"':
            phrase, i = _quoted(kql, i)
            if phrase.strip():
                terms.append(SearchTerm(phrase, field, phrase=True))
        else:
            end = _word_end(kql, i)
            word, i = kql[i:end], end
            if field is None and word in ("OR", "NOT"):
                raise bad_request(f"The KQL operator '{word}' is not supported in $search by this server.")
            if field is not None or word != "AND":
                terms.append(SearchTerm(word, field))
        if len(terms) > MAX_TERMS:
            raise inefficient()
    if not terms:
        raise bad_request("The $search query option requires a non-empty search string.")
    return Search(tuple(terms))


def _word_end(text: str, i: int) -> int:
    while i < len(text) and not text[i].isspace():
        i += 1
    return i


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The unescaped content of the `"…"` at `start`, and the index after its closing quote."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise bad_request(f"Unterminated quoted phrase at position {start} in $search '{text}'.")


def _whole_quoted(text: str) -> str | None:
    """The content when `text` is exactly one double-quoted string (Graph's wrapper), else None."""
    if not text.startswith('"'):
        return None
    try:
        content, end = _quoted(text, 0)
    except ODataError:
        return None
    return content if end == len(text) else None
