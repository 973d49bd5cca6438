"""Time zone names as Graph takes them: IANA names, or the Windows names Graph documents.

Windows names map to IANA zones through the table below (CLDR windowsZones "001" territory mappings);
used by the `Prefer: outlook.timezone` header (api/prefer.py) and by mailbox settings (automatic-reply
schedules, working hours; domain/mailbox_settings.py).
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# CLDR windowsZones.xml, territory 001, for the zones people commonly configure; "UTC" itself is below.
WINDOWS_ZONES: dict[str, str] = {
    "utc": "UTC",
    "coordinated universal time": "UTC",
    "gmt standard time": "Europe/London",
    "greenwich standard time": "Atlantic/Reykjavik",
    "w. europe standard time": "Europe/Berlin",
    "central europe standard time": "Europe/Budapest",
    "central european standard time": "Europe/Warsaw",
    "romance standard time": "Europe/Paris",
    "e. europe standard time": "Europe/Chisinau",
    "fle standard time": "Europe/Kiev",
    "gtb standard time": "Europe/Bucharest",
    "russian standard time": "Europe/Moscow",
    "turkey standard time": "Europe/Istanbul",
    "israel standard time": "Asia/Jerusalem",
    "south africa standard time": "Africa/Johannesburg",
    "arabian standard time": "Asia/Dubai",
    "india standard time": "Asia/Calcutta",
    "china standard time": "Asia/Shanghai",
    "singapore standard time": "Asia/Singapore",
    "tokyo standard time": "Asia/Tokyo",
    "korea standard time": "Asia/Seoul",
    "aus eastern standard time": "Australia/Sydney",
    "new zealand standard time": "Pacific/Auckland",
    "eastern standard time": "America/New_York",
    "central standard time": "America/Chicago",
    "mountain standard time": "America/Denver",
    "us mountain standard time": "America/Phoenix",
    "pacific standard time": "America/Los_Angeles",
    "alaskan standard time": "America/Anchorage",
    "hawaiian standard time": "Pacific/Honolulu",
    "atlantic standard time": "America/Halifax",
    "e. south america standard time": "America/Sao_Paulo",
    "argentina standard time": "America/Buenos_Aires",
}


def zone_of(name: str) -> tzinfo | None:
    """The zone a Graph time zone name names, or None when it is neither IANA nor a known Windows name."""
    key = name.strip()
    if key.lower() in ("utc", "coordinated universal time"):
        return UTC
    try:
        return ZoneInfo(WINDOWS_ZONES.get(key.lower(), key))
    except (ZoneInfoNotFoundError, ValueError):
        return None
