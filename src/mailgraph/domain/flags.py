"""Graph `followupFlag` rules on create/PATCH (followupflag.md, message-update.md).

- `dueDateTime` needs `startDateTime` (followupflag.md: "otherwise, you get a 400 Bad Request"), and
  may not come before it [unconfirmed: Outlook refuses a start after the due date; compared only when both
  name the same zone — the edge knows the zone tables, the domain does not].
- `completedDateTime` belongs to a completed flag: with another status it is refused [unconfirmed].
- Marking `complete` without a completion time stamps the current time in UTC, as Outlook does
  [unconfirmed]; `notFlagged` with dates is refused (an unflagged item has no follow-up times).
- `dateTime` must be an ISO 8601 local date-time (Graph writes `2026-01-01T09:00:00.0000000`).
"""

from __future__ import annotations

import time
from datetime import datetime

from mailgraph.domain.errors import InvalidPropertyValueError
from mailgraph.domain.model import SECOND, DateTimeTimeZone, FollowupFlag, Timestamp


def _local(value: DateTimeTimeZone, prop: str) -> datetime:
    if not value.time_zone.strip():
        raise InvalidPropertyValueError(f"flag.{prop}.timeZone must name a time zone.")
    try:
        return datetime.fromisoformat(value.date_time)
    except ValueError:
        raise InvalidPropertyValueError(
            f"flag.{prop}.dateTime '{value.date_time}' is not an ISO 8601 date and time."
        ) from None


def check_flag(flag: FollowupFlag, now: Timestamp) -> FollowupFlag:
    """The flag to store, or InvalidPropertyValueError for a combination Graph refuses."""
    start = None if flag.start is None else _local(flag.start, "startDateTime")
    due = None if flag.due is None else _local(flag.due, "dueDateTime")
    if flag.completed is not None:
        _local(flag.completed, "completedDateTime")
    if flag.flag_status == "notFlagged" and (flag.start or flag.due or flag.completed):
        raise InvalidPropertyValueError("A flag with flagStatus notFlagged takes no dates.")
    if due is not None and start is None:
        raise InvalidPropertyValueError("To set the dueDateTime of a flag, also set its startDateTime.")
    if (
        start is not None
        and due is not None
        and flag.start is not None
        and flag.due is not None
        and flag.start.time_zone == flag.due.time_zone
        and due < start
    ):
        raise InvalidPropertyValueError("The dueDateTime of a flag cannot be before its startDateTime.")
    if flag.completed is not None and flag.flag_status != "complete":
        raise InvalidPropertyValueError("Only a flag with flagStatus complete has a completedDateTime.")
    if flag.flag_status == "complete" and flag.completed is None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.0000000", time.gmtime(now // SECOND))
        return FollowupFlag(flag.flag_status, flag.start, flag.due, DateTimeTimeZone(stamp, "UTC"))
    return flag
