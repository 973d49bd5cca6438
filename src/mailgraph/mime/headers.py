"""Header values both ways: injection-safe cleaning, addresses, importance and the thread topic.

Every value that becomes a header passes `clean` first, so no CR/LF from a subject, a display name,
an address or an x- header can ever start a header of its own (RFC 5322 §2.2: a field ends at CRLF;
the issue's "header injection" rule). The `email` package would refuse such values with ValueError;
cleaning instead keeps every message composable.
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.headerregistry import Address

from mailgraph.domain.model import EmailAddress, Importance

# Every line boundary Python's str.splitlines knows (the `email` package refuses values it splits):
# CR, LF, VT, FF, FS, GS, RS, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR.
_BREAKS = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+[ \t]*")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)

# Outlook writes both: `Importance` (RFC 2156 §5.3) and `X-Priority` (1 = highest … 5 = lowest).
X_PRIORITY: dict[Importance, str] = {"high": "1", "low": "5"}
_FROM_X_PRIORITY: dict[str, Importance] = {"1": "high", "2": "high", "3": "normal", "4": "low", "5": "low"}


def clean(value: str) -> str:
    """`value` safe as a header value: line-break runs (and the folding after them) become one space,
    other control characters (tab aside) are dropped. Raw 8-bit header bytes, which the parser keeps as
    surrogate escapes, are read as UTF-8 (RFC 6532) with U+FFFD for what is not."""
    if _SURROGATES.search(value):
        try:
            value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
    return _CONTROLS.sub("", _BREAKS.sub(" ", value))


def thread_topic(subject: str) -> str:
    """`Thread-Topic`: the subject without reply/forward prefixes (MS-OXOMSG 2.2.1.5, normalized subject)."""
    return _PREFIX.sub("", subject)


def importance_header(value: str) -> Importance | None:
    """The importance an `Importance` header names (case-insensitive), or None."""
    lowered = value.strip().lower()
    return lowered if lowered in ("low", "normal", "high") else None  # type: ignore[return-value]


def importance_from_priority(value: str) -> Importance | None:
    """The importance an `X-Priority` header names (`1 (Highest)` → high), or None."""
    head = value.strip()[:1]
    return _FROM_X_PRIORITY.get(head)


def needs_utf8(address: EmailAddress) -> bool:
    """True for an address (not a name) with non-ASCII characters: RFC 6532 headers are needed then."""
    return not address.address.isascii()


def to_header(address: EmailAddress) -> Address:
    """An `email` Address for one of ours; a malformed address is still rendered, never dropped."""
    name = clean(address.name)
    spec = clean(address.address)
    try:
        return Address(display_name=name, addr_spec=spec)
    except (ValueError, IndexError, HeaderParseError, TypeError):
        pass
    # Unparseable as an addr-spec (e.g. non-ASCII local part, or no '@' in a draft): give the parts,
    # which `email` quotes as needed instead of re-parsing them.
    local, _, domain = spec.rpartition("@") if "@" in spec else (spec, "", "")
    try:
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, IndexError, HeaderParseError, TypeError):
        return Address(display_name=name, username=re.sub(r'["\\<>@,;:]', "", local) or "invalid", domain="")


def from_header(address: Address) -> EmailAddress:
    """One of ours from a parsed `email` Address (display name decoded, addr-spec as written)."""
    return EmailAddress(clean(address.addr_spec), clean(address.display_name))
