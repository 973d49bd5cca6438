"""Throttling of Graph requests per app + mailbox (domain/throttling.py has the limits).

Which limits apply: the mailbox's profile if one is set, else its tenant's, else the server's; a
server with no profile anywhere is `active == False` and the handler skips this module entirely (no
work and no store statement per request).

**State is per process, on purpose.** In-flight requests (MailboxConcurrency) belong to the process
serving them: a counter in the store would need a write before and after every request and would
stay raised forever for a process that crashed mid-request. The request and upload windows are
per process too (fixed windows in memory): with several processes on one database each enforces
the limits on the requests it serves, i.e. a client spread over N processes may make up to N times
the requests. Graph's own limits are enforced per front end in the same way and are documented as
approximate; a global count would cost a store write per request (docs/throttling.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mailgraph.api.errors import GraphError
from mailgraph.domain.throttling import Limits

Key = tuple[str, str]
"""(app id, mailbox id)."""
_UPLOADS = frozenset({"POST", "PATCH", "PUT"})


def throttled(limit: str, retry_after_s: int) -> GraphError:
    """Graph's 429 for a limit: code ApplicationThrottled, the limit named, Retry-After in seconds."""
    return GraphError(
        429,
        "ApplicationThrottled",
        f"Application is over its {limit} limit.",
        [(b"retry-after", str(max(1, retry_after_s)).encode())],
    )


@dataclass(slots=True)
class _Window:
    start: float = 0.0
    used: int = 0


@dataclass(slots=True)
class Throttle:
    """Counts requests per app + mailbox against the profile that applies."""

    server: Limits | None = None
    tenants: dict[str, Limits | None] = field(default_factory=dict)
    mailboxes: dict[str, Limits | None] = field(default_factory=dict)
    """By mailbox id, UPN or address (case-folded)."""
    clock: Callable[[], float] = time.monotonic
    _inflight: dict[Key, int] = field(default_factory=dict)
    _windows: dict[tuple[str, Key], _Window] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Whether any profile other than "off" is set anywhere."""
        return self.server is not None or any(self.tenants.values()) or any(self.mailboxes.values())

    def limits_for(self, tenant_id: str, mailbox: tuple[str, ...]) -> Limits | None:
        """The limits of a mailbox (any of its names), its tenant, or the server."""
        for name in mailbox:
            if name.casefold() in self.mailboxes:
                return self.mailboxes[name.casefold()]
        return self.tenants.get(tenant_id, self.server)

    def enter(self, key: Key, limits: Limits, method: str, size: int) -> None:
        """Admit one request or raise the 429 of the first limit it is over; `leave` when done."""
        now = self.clock()
        if self._inflight.get(key, 0) >= limits.concurrency:
            raise throttled("MailboxConcurrency", limits.concurrency_retry_after_s)
        self._take("ApplicationRequests", key, 1, limits.requests, limits.requests_window_s, now)
        if method in _UPLOADS and size:
            self._take("UploadBytes", key, size, limits.upload_bytes, limits.upload_window_s, now)
        self._inflight[key] = self._inflight.get(key, 0) + 1

    def leave(self, key: Key) -> None:
        """One request of `key` finished."""
        left = self._inflight.get(key, 1) - 1
        if left:
            self._inflight[key] = left
        else:
            self._inflight.pop(key, None)

    def _take(self, limit: str, key: Key, amount: int, cap: int, window_s: int, now: float) -> None:
        window = self._windows.setdefault((limit, key), _Window(now))
        if now - window.start >= window_s:
            window.start, window.used = now, 0
        if window.used + amount > cap:
            raise throttled(limit, math.ceil(window.start + window_s - now))
        window.used += amount
