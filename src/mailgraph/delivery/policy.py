"""The retry policy of the outbound queue, as pure functions: what one SMTP reply means for a recipient.

RFC 5321 §4.2.1: a 2yz reply is success, 4yz a transient failure (try again later), 5yz a permanent
failure (do not repeat the same transaction). A connection that cannot be opened or breaks before the
final reply is treated like a 4yz: nothing was (knowingly) accepted, so the recipient waits.

Transient failures are retried on a growing back-off table whose last step repeats (RFC 5321 §4.5.4.1
asks for at least 30 minutes between retries of one destination and a give-up time of at least 4–5
days; the default here is 2 days, as Exchange Online's message expiration timeout). When the expiry
is reached the recipient fails, with the last reply in its non-delivery report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mailgraph.domain.model import SECOND, QueueStatus, Timestamp

# 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, then every 4 h until expiry.
DEFAULT_BACKOFF_S: tuple[float, ...] = (60, 300, 900, 1800, 3600, 7200, 14400)
DEFAULT_EXPIRY_S = 2 * 24 * 3600
DEFAULT_LEASE_S = 300.0

ReplyKind = Literal["success", "transient", "permanent"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait between attempts, how long a claim holds, and when to give up.

    Attributes:
        backoff_s: seconds to wait after the 1st, 2nd, … failed attempt; the last value repeats.
        expiry_s: how long a recipient may stay undelivered (from the send, or from a manual retry).
        lease_s: how long a claimed entry belongs to its worker; longer than one SMTP transaction
            can take, so only a crashed worker's entries are claimed again.
    """

    backoff_s: tuple[float, ...] = DEFAULT_BACKOFF_S
    expiry_s: float = DEFAULT_EXPIRY_S
    lease_s: float = DEFAULT_LEASE_S

    def __post_init__(self) -> None:
        if not self.backoff_s or any(step <= 0 for step in self.backoff_s):
            raise ValueError("the back-off table needs at least one positive number of seconds")
        if self.expiry_s <= 0 or self.lease_s <= 0:
            raise ValueError("expiry and lease must be positive")


@dataclass(frozen=True, slots=True)
class Reply:
    """What the relay answered for one recipient; `code` None means no reply (connection failure)."""

    code: int | None
    text: str

    @property
    def kind(self) -> ReplyKind:
        """RFC 5321 §4.2.1 classes; anything but 2yz/5yz (including 1yz/3yz out of place) is transient."""
        if self.code is not None and 200 <= self.code < 300:
            return "success"
        if self.code is not None and 500 <= self.code < 600:
            return "permanent"
        return "transient"

    def describe(self) -> str:
        """The reply as a report shows it: `550 5.1.1 No such user`, or the connection error."""
        return f"{self.code} {self.text}".strip() if self.code is not None else self.text


@dataclass(frozen=True, slots=True)
class Outcome:
    """The new state of one queue entry after an attempt; `reason` is set when it failed."""

    status: QueueStatus
    next_attempt_at: Timestamp
    reply: Reply
    reason: str = ""


def backoff_us(policy: RetryPolicy, attempts_before: int) -> Timestamp:
    """Microseconds to wait after a failed attempt, given how many attempts came before it."""
    step = policy.backoff_s[min(max(attempts_before, 0), len(policy.backoff_s) - 1)]
    return round(step * SECOND)


def decide(
    policy: RetryPolicy, reply: Reply, attempts_before: int, expires_at: Timestamp, now: Timestamp
) -> Outcome:
    """The outcome of one attempt for one recipient.

    Args:
        policy: the back-off table.
        reply: the relay's reply for this recipient (the RCPT reply if refused, else the DATA reply).
        attempts_before: attempts recorded before this one.
        expires_at: when the recipient gives up.
        now: the time of the attempt.

    Returns:
        delivered on 2yz; failed on 5yz or once expired; otherwise deferred to the next back-off step,
        never later than the expiry (so the last attempt happens at the expiry itself).
    """
    kind = reply.kind
    if kind == "success":
        return Outcome("delivered", now, reply)
    if kind == "permanent":
        return Outcome("failed", now, reply, "The recipient's mail server rejected the message.")
    if now >= expires_at:
        reason = "The message could not be delivered before it expired; the last attempt failed temporarily."
        return Outcome("failed", now, reply, reason)
    return Outcome("deferred", min(now + backoff_us(policy, attempts_before), expires_at), reply)


def parse_schedule(text: str) -> tuple[float, ...]:
    """`"60,300,900"` → (60.0, 300.0, 900.0); raises ValueError with a message fit for the command line."""
    try:
        steps = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"not a comma-separated list of seconds: {text!r}") from None
    RetryPolicy(backoff_s=steps)  # validates
    return steps
