"""Tokens of a `$filter` expression (already percent-decoded), with OData literal decoding.

Literal forms follow OData ABNF as Graph clients write them (client-wire fact 7): strings in single
quotes with `''` for a quote, unquoted datetimes with `Z` or a numeric offset, `true`/`false`/`null`,
integers, and qualified enum literals (`microsoft.graph.importance'high'`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from mailgraph.odata.errors import bad_request

TokenKind = Literal[
    "ident", "string", "int", "datetime", "enum", "lparen", "rparen", "comma", "slash", "colon", "end"
]

INT64_MAX = 2**63 - 1

_WS = re.compile(r"[ \t\r\n]+")
# Date, optional time, optional zone. A space before the offset is a `+` that the query-string
# decoding turned into a space (O365 sends `+00:00` form-encoded as `%2B`, but hand-written URLs
# often send a raw `+`); nothing else may follow a datetime literal, so reading it back is safe.
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?(?:([Zz])|([+\- ])(\d{2}):(\d{2}))?)?"
    r"(?![\w:.])",
    re.ASCII,
)
_INT = re.compile(r"-?\d+(?![\w.])", re.ASCII)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_STRING_BODY = re.compile(r"(?:[^']|'')*'")
_PUNCT: dict[str, TokenKind] = {"(": "lparen", ")": "rparen", ",": "comma", "/": "slash", ":": "colon"}


@dataclass(frozen=True, slots=True)
class Token:
    """One token; `value` holds the decoded literal (str, int, datetime, or `(enum type, member)`)."""

    kind: TokenKind
    text: str
    pos: int
    value: object = None


def tokenize(text: str) -> list[Token]:
    """Split a `$filter` into tokens, ending with an `end` token.

    Args:
        text: The decoded `$filter` value.

    Returns:
        The tokens in order; positions are 0-based offsets into `text`.

    Raises:
        ODataError: `BadRequest` for a character or literal OData does not allow.
    """
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ws = _WS.match(text, i)
        if ws:
            i = ws.end()
            continue
        c = text[i]
        if c in _PUNCT:
            tokens.append(Token(_PUNCT[c], c, i))
            i += 1
        elif c == "'":
            end = _string_end(text, i)
            tokens.append(Token("string", text[i:end], i, text[i + 1 : end - 1].replace("''", "'")))
            i = end
        elif c.isascii() and (c.isdigit() or c == "-"):
            token = _number(text, i)
            tokens.append(token)
            i += len(token.text)
        elif ident := _IDENT.match(text, i):
            word, i = ident.group(), ident.end()
            if "." in word and text.startswith("'", i):
                # Qualified enum literal: the type name is checked against the property by the parser.
                end = _string_end(text, i)
                member = text[i + 1 : end - 1].replace("''", "'")
                tokens.append(Token("enum", text[ident.start() : end], ident.start(), (word, member)))
                i = end
            else:
                tokens.append(Token("ident", word, ident.start()))
        else:
            raise bad_request(f"Syntax error: character '{c}' is not valid at position {i} in '{text}'.")
    tokens.append(Token("end", "", n))
    return tokens


def _string_end(text: str, start: int) -> int:
    match = _STRING_BODY.match(text, start + 1)
    if match is None:
        raise bad_request(f"Unterminated string literal at position {start} in '{text}'.")
    return match.end()


def _number(text: str, i: int) -> Token:
    if dt := _DATETIME.match(text, i):
        return Token("datetime", dt.group(), i, _datetime(dt, text))
    if num := _INT.match(text, i):
        value = int(num.group()) if len(num.group()) <= 20 else INT64_MAX + 1
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise bad_request(f"The integer literal '{num.group()}' at position {i} is out of range.")
        return Token("int", num.group(), i, value)
    raise bad_request(f"Syntax error: character '{text[i]}' is not valid at position {i} in '{text}'.")


def _datetime(m: re.Match[str], text: str) -> datetime:
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = m.groups()
    try:
        tz = UTC
        if sign is not None:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            if offset > timedelta(hours=14):  # the widest offset in use (OData/ISO 8601 profile)
                raise ValueError(off_h)
            tz = timezone(-offset if sign == "-" else offset)
        # A time without a zone, or a bare date, is read as UTC (Graph stores and renders UTC).
        micros = int((fraction or "0")[:6].ljust(6, "0"))
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micros,
            tzinfo=tz,
        )
    except ValueError:
        raise bad_request(
            f"The date/time literal '{m.group()}' at position {m.start()} in '{text}' is not valid."
        ) from None
