"""Graph's throttling limits as data: the profiles a server, a tenant or a mailbox can be switched to.

Values from concepts/throttling-limits.md (Outlook service limits, per app + mailbox) and spec §6:
10,000 requests per 10 minutes, 4 concurrent requests, 150 MB of uploads (PATCH/POST/PUT bodies) per
5 minutes. Over a limit Graph answers 429 `ApplicationThrottled`, naming the limit in the message
("Application is over its MailboxConcurrency limit.") with `Retry-After` in seconds.

Exchange Online's sending limits are in the same profile, per mailbox (not per app): 30 messages per
minute and 10,000 recipients per day (spec §6). Over the message rate a Graph send is accepted and
held in the Outbox until its turn; over the recipient limit the mailbox is blocked and gets
non-delivery reports (domain/send_quota.py).

Profiles: "off" (no limits, the default) and "exchange-online"; every value can be overridden.
The counting itself is api/throttle.py (requests) and domain/send_quota.py (sends, in the store).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
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
    sends: int = 30
    """Messages a mailbox may submit per `sends_window_s` (Exchange Online: 30 per minute)."""
    sends_window_s: int = 60
    recipients: int = 10_000
    """Recipients a mailbox may send to per `recipients_window_s` (Exchange Online: 10,000 per day)."""
    recipients_window_s: int = 86_400


@dataclass(frozen=True, slots=True)
class Profiles:
    """Which limits apply where: a mailbox's own profile, else its tenant's, else the server's."""

    server: Limits | None = None
    tenants: dict[str, Limits | None] = field(default_factory=dict)
    mailboxes: dict[str, Limits | None] = field(default_factory=dict)
    """By mailbox id, UPN or address (case-folded)."""

    @property
    def active(self) -> bool:
        """Whether any profile other than "off" is set anywhere."""
        return self.server is not None or any(self.tenants.values()) or any(self.mailboxes.values())

    def limits_for(self, tenant_id: str, names: tuple[str, ...]) -> Limits | None:
        """The limits of a mailbox (any of its names, case-folded), its tenant, or the server."""
        for name in names:
            if name.casefold() in self.mailboxes:
                return self.mailboxes[name.casefold()]
        return self.tenants.get(tenant_id, self.server)


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
