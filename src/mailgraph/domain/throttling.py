"""Graph's throttling limits as data: the profiles a server, a tenant or a mailbox can be switched to.

Values from concepts/throttling-limits.md (Outlook service limits, per app + mailbox) and spec §6:
10,000 requests per 10 minutes, 4 concurrent requests, 150 MB of uploads (PATCH/POST/PUT bodies) per
5 minutes. Over a limit Graph answers 429 `ApplicationThrottled`, naming the limit in the message
("Application is over its MailboxConcurrency limit.") with `Retry-After` in seconds.

Profiles: "off" (no limits, the default) and "exchange-online"; every value can be overridden.
The counting itself is api/throttle.py.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Final

MB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one profile, per app + mailbox."""

    requests: int = 10_000
    requests_window_s: int = 600
    concurrency: int = 4
    upload_bytes: int = 150 * MB
    upload_window_s: int = 300
    concurrency_retry_after_s: int = 1
    """Retry-After of a MailboxConcurrency 429: in-flight requests end within about a second."""


PRESETS: Final[dict[str, Limits | None]] = {"off": None, "exchange-online": Limits()}
NAMES: Final = tuple(f.name for f in fields(Limits))


def profile(name: str, **overrides: int) -> Limits | None:
    """A preset by name, with some values changed. Raises ValueError for an unknown name or value."""
    if name not in PRESETS:
        raise ValueError(f"unknown throttling profile {name!r} (known: {', '.join(PRESETS)})")
    base = PRESETS[name]
    if base is None:
        return None
    unknown = set(overrides) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown throttling limits: {', '.join(sorted(unknown))}")
    if any(not isinstance(v, int) or v < 1 for v in overrides.values()):
        raise ValueError("throttling limits must be positive integers")
    return replace(base, **overrides)
