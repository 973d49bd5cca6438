"""The `Prefer` request header (RFC 7240) and the Graph preferences this server honours (spec §0.2).

- `IdType="ImmutableId"`: message ids in the response are immutable ids (spec §3.5), for this request only.
- `outlook.body-content-type="text"|"html"`: the format of `body`/`uniqueBody` on reads.
- `outlook.timezone="…"`: the zone of the "Sent:" line of generated reply/forward quotes.
- `odata.maxpagesize=N`: the page size of message, folder and attachment lists and of delta rounds
  (1–1000; larger values are capped at 1000, 0 or junk is ignored). `$top`, when also given, wins on
  the lists (it is the client's explicit size), as Exchange does.

Each honoured preference is echoed in `Preference-Applied` (RFC 7240 §3). Preferences this server does
not know are ignored, as RFC 7240 §2 asks of any server. A zone name may be an IANA name
(`Europe/Berlin`) or one of the Windows names Graph documents (`Pacific Standard Time`); Windows
names map to IANA zones through domain/time_zones.py (the CLDR windowsZones "001" territory mappings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailgraph.api.errors import GraphError
from mailgraph.domain.time_zones import WINDOWS_ZONES

BodyPreference = Literal["text", "html"]


@dataclass(frozen=True, slots=True)
class Preferences:
    """The Graph preferences of one request (absent ones are None/False)."""

    immutable_ids: bool = False
    body_type: BodyPreference | None = None
    timezone: str | None = None
    max_page_size: int | None = None

    def zone(self) -> tzinfo:
        """The `outlook.timezone` zone (UTC when absent).

        Raises:
            GraphError: 400 ErrorTimeZone for a name that is neither an IANA nor a known Windows zone.
        """
        if self.timezone is None:
            return UTC
        name = WINDOWS_ZONES.get(self.timezone.strip().lower(), self.timezone.strip())
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise GraphError(
                400, "ErrorTimeZone", f"The time zone '{self.timezone}' in the Prefer header is not valid."
            ) from None


def _split(text: str, separator: str) -> list[str]:
    """Split on `separator` outside quoted strings (RFC 7230 §3.2.6 quoted-string with `\\` escapes)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        out: list[str] = []
        escaped = False
        for char in inner:
            if escaped or char != "\\":
                out.append(char)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return value


def parse_prefer(header: str) -> Preferences:
    """The preferences in a `Prefer` header (repeated headers arrive joined with ", ").

    Preference names and the values Graph defines are matched case-insensitively; an unknown
    value of a known preference (e.g. `outlook.body-content-type="rtf"`) is ignored, not an error,
    as RFC 7240 §2 prescribes for preferences a server cannot honour.
    """
    immutable = False
    body_type: BodyPreference | None = None
    timezone: str | None = None
    max_page: int | None = None
    for item in _split(header, ","):
        # Only the preference itself matters; RFC 7240 parameters after ';' are not used by Graph.
        head = _split(item, ";")[0]
        name, _, raw = head.partition("=")
        name, value = name.strip().lower(), _unquote(raw)
        if name == "idtype":
            immutable = value.lower() == "immutableid"
        elif name == "outlook.body-content-type" and value.lower() in ("text", "html"):
            body_type = "text" if value.lower() == "text" else "html"
        elif name == "outlook.timezone" and value.strip():
            timezone = value
        elif name == "odata.maxpagesize" and value.strip().isascii() and value.strip().isdigit():
            size = int(value.strip()[:10])
            max_page = min(size, 1000) if size >= 1 else max_page
    return Preferences(immutable, body_type, timezone, max_page)
