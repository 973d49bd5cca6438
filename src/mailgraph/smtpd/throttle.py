"""Failed-AUTH throttle of the submission listener, per client IP: slowed down, then refused for a while.

Each failed AUTH (wrong password, bad token, SMTP AUTH disabled) of a client IP is remembered for
`window_s`. From the `slow_after`-th failure on, every AUTH answer of that IP waits `delay_s` more per
failure (bounded by `max_delay_s`) — a password guesser gets a few tries per minute instead of
thousands; from the `refuse_after`-th failure, AUTH is refused with `454 4.7.0` without even checking
the credentials until the oldest failures leave the window. A success does not clear the count (one
valid account must not reset an attack on others).

Why per process, in memory: this is the per-IP side only. The shared, durable state is the store-backed
smart lockout of failed *password* attempts per account (issue 17, defect 3, `domain/lockout.py`): AUTH
LOGIN/PLAIN reach it through `SubmissionService.password_login` → `InboundService.authenticate`, so one
count per account covers the token endpoint, the sign-in page and both SMTP listeners. With several
processes each one throttles on its own; the refusal threshold is then per process, which the
per-account lockout bounds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

_MAX_CLIENTS = 10_000  # remembered IPs; the oldest is forgotten first (bounded memory under a scan)


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """Thresholds; the defaults allow a mistyped password or two without any delay."""

    slow_after: int = 3
    refuse_after: int = 10
    delay_s: float = 1.0
    max_delay_s: float = 5.0
    window_s: float = 15 * 60


class AuthThrottle:
    """Failure counts per client IP within a sliding window."""

    def __init__(self, policy: ThrottlePolicy | None = None, clock: Callable[[], float] = time.monotonic):
        self.policy = policy or ThrottlePolicy()
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, ip: str) -> deque[float]:
        failures = self._failures.get(ip)
        if failures is None:
            return deque()
        horizon = self._clock() - self.policy.window_s
        while failures and failures[0] < horizon:
            failures.popleft()
        if not failures:
            del self._failures[ip]
        return failures

    def refused(self, ip: str) -> bool:
        """Whether this IP is refused AUTH for now (too many recent failures)."""
        return len(self._recent(ip)) >= self.policy.refuse_after

    def delay(self, ip: str) -> float:
        """Seconds to wait before answering this IP's AUTH (0 below the slow-down threshold)."""
        over = len(self._recent(ip)) - self.policy.slow_after + 1
        return 0.0 if over <= 0 else min(self.policy.max_delay_s, over * self.policy.delay_s)

    def failed(self, ip: str) -> None:
        """Record one failed AUTH of this IP."""
        failures = self._failures.get(ip)
        if failures is None:
            if len(self._failures) >= _MAX_CLIENTS:
                self._failures.pop(next(iter(self._failures)))
            failures = self._failures[ip] = deque()
        failures.append(self._clock())
        # Never more entries than the refusal needs: memory per IP stays bounded.
        while len(failures) > self.policy.refuse_after:
            failures.popleft()
