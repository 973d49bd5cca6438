"""Exchange Online's per-mailbox sending limits (spec §6): the message rate and the daily recipients.

Limits come from the throttling profile that applies to the sending mailbox (domain/throttling.py:
`sends` per `sends_window_s`, `recipients` per `recipients_window_s`); with no profile nothing here runs
and the send path touches no extra table. The state is one row per mailbox in the store (migration
0020), read and written inside the send's own unit of work, so every process on the database counts
against the same numbers and a send is admitted, held or refused exactly once.

What happens over a limit (spec §6 "behaviour over the send rate"):

- **Message rate.** A Graph send is accepted (202) and held: the item waits in the Outbox and a
  `HeldSend` row says when it may go. Sends are given fixed windows in order: the first `sends` of a
  window go at once, the next ones get the following window's start, and so on, so a burst drains at
  the allowed rate and the schedule survives a restart. delivery/held.py releases due rows; the release
  is the send itself (Sent Items, Inbox copies, relay queue) in one unit that also deletes the row.
  An SMTP submission is refused instead (`SendRateExceededError`, a temporary failure), as Exchange does.
- **Daily recipients.** A send that would exceed the limit blocks the mailbox for the next
  `recipients_window_s` (Exchange: 24 h). Every send while blocked is accepted, nothing is delivered,
  and the sender gets a non-delivery report (SubmissionQuotaExceeded) naming every recipient. The
  day is a fixed window from its first counted send (Exchange's is rolling: a close approximation
  that needs one row instead of one per send).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mailgraph.domain.errors import DomainError
from mailgraph.domain.model import SECOND, Timestamp
from mailgraph.domain.throttling import Limits

QUOTA_REASON = (
    "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; the sending mailbox is over"
    " its limit of {limit} recipients per {window}; it cannot send again before {until}."
)
"""The non-delivery reason of a send refused by the recipient limit (Exchange's code; wording unconfirmed)."""


class SendRateExceededError(DomainError):
    """An SMTP submission over the mailbox's message rate (Graph sends are held instead)."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"Message rate limit exceeded; try again in {retry_after_s} seconds.")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class QuotaState:
    """One mailbox's counters: the latest window with sends scheduled, and the recipient day."""

    mailbox_id: str
    window_start: Timestamp = 0
    window_sends: int = 0
    day_start: Timestamp = 0
    day_recipients: int = 0
    blocked_until: Timestamp = 0


@dataclass(frozen=True, slots=True)
class Admission:
    """What to do with one send: `send` now, `hold` until `at`, or `blocked` (until `at`)."""

    kind: Literal["send", "hold", "blocked"]
    at: Timestamp


@dataclass(frozen=True, slots=True)
class HeldSend:
    """A send accepted over the message rate: its item waits in the Outbox until `release_at`."""

    id: str
    message_id: str
    """The item's stable (immutable) id; the row goes with the item if it is deleted."""
    mailbox_id: str
    save_copy: bool
    release_at: Timestamp
    created_at: Timestamp
    lease_until: Timestamp | None = None


def admit(state: QuotaState, limits: Limits, recipients: int, now: Timestamp) -> tuple[QuotaState, Admission]:
    """Count one send of `recipients` recipients: the new state and what to do with the send.

    Pure: the caller reads and writes the state in the send's unit of work.
    """
    if state.blocked_until > now:
        return state, Admission("blocked", state.blocked_until)
    day = limits.recipients_window_s * SECOND
    day_start, used = state.day_start, state.day_recipients
    if now >= day_start + day:
        day_start, used = now, 0
    if used + recipients > limits.recipients:
        until = now + day  # blocked for a whole window; the next send after it starts a new day
        blocked = QuotaState(state.mailbox_id, state.window_start, state.window_sends, now, 0, until)
        return blocked, Admission("blocked", until)
    span = limits.sends_window_s * SECOND
    start, sends = state.window_start, state.window_sends
    if now >= start + span:  # the last scheduled window is over: a new one starts now
        start, sends = now, 0
    if sends >= limits.sends:  # full: the next window (in the future, since this one has not ended)
        start, sends = start + span, 0
    after = QuotaState(state.mailbox_id, start, sends + 1, day_start, used + recipients, 0)
    return after, Admission("send" if start <= now else "hold", max(now, start))


def admission_of(after: QuotaState, now: Timestamp) -> Admission:
    """The admission `admit` gave, read back from the state it produced (the store counts a send in
    one statement, `SendQuotaRepo.count`, and returns only the new state)."""
    if after.blocked_until > now:
        return Admission("blocked", after.blocked_until)
    return Admission("send" if after.window_start <= now else "hold", max(now, after.window_start))


def window_text(seconds: int) -> str:
    """`day`, `hour`, `minute` or `N seconds`, for the report."""
    names = {86_400: "day", 3_600: "hour", 60: "minute"}
    return names.get(seconds, f"{seconds} seconds")
