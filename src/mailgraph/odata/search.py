"""`$search` (KQL subset) → `ast.Search`.

Graph wants the whole value in double quotes (`$search="pizza"`, search-query-parameter.md); the
quotes are stripped, with `\\"` standing for a quote inside. What remains is KQL: whitespace-separated
terms, implicitly AND-ed; a term is a word, a `"quoted phrase"`, or a property restriction.

Text properties (`field:word` / `field:"phrase"`): subject, from, to, cc, bcc, body, participants
(from+to+cc+bcc), recipients (to+cc+bcc). Other properties (search-query-parameter.md's KQL table):

- `received` / `sent` with `:` or `=` (that day, or that second for a date-time), `>=`, `>`, `<=`, `<`,
  or a range `a..b` (both ends included). Values: `YYYY-MM-DD`, `M/D/YYYY`, or an ISO 8601 date-time
  (a zone offset or `Z`; none means UTC). Dates are whole UTC days [unconfirmed: Exchange uses the
  mailbox's zone]: `received>2026-01-01` starts on the 2nd.
- `hasAttachment(s)` `:true` / `:false`; `importance` `:low` / `:normal` (also `medium`) / `:high`.

Text properties take `:` (contains, as KQL's default for text); `=` (exact match) on them is refused.

Refused with `BadRequest`, never silently matched as text: `attachment`, `kind`, `size`, the `OR`/`NOT`
operators, a comparison (`>=`, `<`, …) on a text or unknown property, and a value a property cannot
take. `AND` is accepted (it is the default). `name:value` with a name KQL does not know is plain text,
as in KQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from mailgraph.odata.ast import Search, SearchDateRange, SearchField, SearchPart, SearchTerm, SearchValue
from mailgraph.odata.errors import ODataError, bad_request, inefficient

_FIELD_PREFIX: Final = re.compile(r"([A-Za-z]+)(>=|<=|:|=|>|<)")
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
_UNSUPPORTED_FIELDS: Final = frozenset({"attachment", "attachments", "kind", "size"})
_DATE_FIELDS: Final[dict[str, Literal["received", "sent"]]] = {"received": "received", "sent": "sent"}
_VALUE_FIELDS: Final = frozenset({"hasattachment", "hasattachments", "importance"})
_BOOLS: Final = {"true": True, "false": False}
_IMPORTANCE: Final = {"low": "low", "normal": "normal", "medium": "normal", "high": "high"}
_DAY: Final = timedelta(days=1)
_SECOND: Final = timedelta(seconds=1)
_ISO_DATE: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})$")
_US_DATE: Final = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})$")


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
    terms: list[SearchPart] = []
    i, n = 0, len(kql)
    while i < n:
        if kql[i].isspace():
            i += 1
            continue
        field: SearchField | None = None
        if prefix := _FIELD_PREFIX.match(kql, i):
            written, op = prefix.group(1), prefix.group(2)
            name = written.lower()
            if name in _UNSUPPORTED_FIELDS:
                raise bad_request(f"The KQL property '{written}' is not supported in $search by this server.")
            known = name in _FIELDS or name in _DATE_FIELDS or name in _VALUE_FIELDS
            if known and (prefix.end() >= n or kql[prefix.end()].isspace()):
                raise bad_request(f"The KQL property '{written}' has no value in $search.")
            if name in _DATE_FIELDS or name in _VALUE_FIELDS:
                end = _word_end(kql, prefix.end())
                terms.append(_restriction(written, op, kql[prefix.end() : end]))
                i = end
                if len(terms) > MAX_TERMS:
                    raise inefficient()
                continue
            if op != ":" and (name in _FIELDS or op != "="):
                what = "text" if name in _FIELDS else "unknown"
                raise bad_request(
                    f"The KQL operator '{op}' cannot be used on the {what} property '{written}' in $search."
                )
            if name in _FIELDS:
                field = _FIELDS[name]
                i = prefix.end()
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


def _restriction(written: str, op: str, value: str) -> SearchPart:
    """One restriction on a date, flag or enum property."""
    name = written.lower()
    if name in _VALUE_FIELDS:
        if op not in (":", "="):
            raise bad_request(f"The KQL operator '{op}' cannot be used on '{written}' in $search.")
        if name == "importance":
            if value.lower() not in _IMPORTANCE:
                raise bad_request(f"The KQL property 'importance' cannot take the value '{value}'.")
            return SearchValue("importance", _IMPORTANCE[value.lower()])
        if value.lower() not in _BOOLS:
            raise bad_request(f"The KQL property '{written}' takes true or false, not '{value}'.")
        return SearchValue("hasAttachments", _BOOLS[value.lower()])
    field = _DATE_FIELDS[name]
    if ".." in value and op in (":", "="):
        first, _, last = value.partition("..")
        return SearchDateRange(field, _instant(written, first)[0], _instant(written, last)[1])
    start, end = _instant(written, value)
    bounds = {
        ":": (start, end),
        "=": (start, end),
        ">=": (start, None),
        ">": (end, None),
        "<": (None, start),
        "<=": (None, end),
    }
    low, high = bounds[op]
    return SearchDateRange(field, low, high)


def _instant(written: str, value: str) -> tuple[datetime, datetime]:
    """The span a KQL date value names: a whole UTC day, or one second for a date-time."""
    if m := _ISO_DATE.match(value):
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    elif m := _US_DATE.match(value):
        year, month, day = int(m.group(3)), int(m.group(1)), int(m.group(2))
    else:
        try:
            moment = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise bad_request(f"The KQL property '{written}' cannot take the value '{value}'.") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.replace(microsecond=0)
        return moment, moment + _SECOND
    try:
        start = datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        raise bad_request(f"The KQL property '{written}' cannot take the value '{value}'.") from None
    return start, start + _DAY


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
