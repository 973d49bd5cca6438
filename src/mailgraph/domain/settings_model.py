"""The model of a mailbox's settings (Graph `mailboxSettings`, `automaticRepliesSetting`, `workingHours`,
`localeInfo`) and their repository port; rules in domain/mailbox_settings.py, replies in auto_replies.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from mailgraph.domain.model import DateTimeTimeZone, Timestamp

ReplyStatus = Literal["disabled", "alwaysEnabled", "scheduled"]
ExternalAudience = Literal["none", "contactsOnly", "all"]
DeliveryOptions = Literal[
    "sendToDelegateAndInformationToPrincipal", "sendToDelegateAndPrincipal", "sendToDelegateOnly"
]
REPLY_STATUSES: tuple[ReplyStatus, ...] = ("disabled", "alwaysEnabled", "scheduled")
AUDIENCES: tuple[ExternalAudience, ...] = ("none", "contactsOnly", "all")
DELIVERY_OPTIONS: tuple[DeliveryOptions, ...] = (
    "sendToDelegateAndInformationToPrincipal",
    "sendToDelegateAndPrincipal",
    "sendToDelegateOnly",
)
DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


@dataclass(frozen=True, slots=True)
class AutomaticReplies:
    """Graph `automaticRepliesSetting`. Schedule times are wall-clock times in their own zone."""

    status: ReplyStatus = "disabled"
    external_audience: ExternalAudience = "all"
    scheduled_start: DateTimeTimeZone | None = None
    scheduled_end: DateTimeTimeZone | None = None
    internal_reply_message: str = ""
    external_reply_message: str = ""


@dataclass(frozen=True, slots=True)
class LocaleInfo:
    """Graph `localeInfo`."""

    locale: str = "en-US"
    display_name: str = "English (United States)"


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """Graph `workingHours`: times as `HH:MM:SS.fffffff` (Edm.TimeOfDay), the zone by name."""

    days_of_week: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday")
    start_time: str = "08:00:00.0000000"
    end_time: str = "17:00:00.0000000"
    time_zone: str = "UTC"


@dataclass(frozen=True, slots=True)
class MailboxSettings:
    """Graph `mailboxSettings` (a new mailbox has these defaults). `user_purpose` and `archive_folder`
    are read-only and not stored: the directory and the folder tree say them."""

    time_zone: str = "UTC"
    language: LocaleInfo = field(default_factory=LocaleInfo)
    date_format: str = "M/d/yyyy"
    time_format: str = "h:mm tt"
    working_hours: WorkingHours = field(default_factory=WorkingHours)
    delegate_meeting_message_delivery_options: DeliveryOptions = "sendToDelegateOnly"
    automatic_replies: AutomaticReplies = field(default_factory=AutomaticReplies)


@dataclass(frozen=True, slots=True)
class StoredSettings:
    """A mailbox's settings as stored, with the generation of its automatic-reply settings (each change of
    them begins a new period in which every sender is answered once)."""

    mailbox_id: str
    settings: MailboxSettings
    reply_generation: int = 0


class SettingsRepo(Protocol):
    """Storage of mailbox settings and of who was answered (store/sql/settings.py, migration 0022)."""

    async def get_many(self, mailbox_ids: list[str]) -> dict[str, StoredSettings]:
        """The stored settings of these mailboxes (a mailbox without a row has the defaults)."""
        ...

    async def put(self, stored: StoredSettings, now: Timestamp) -> None:
        """Insert or replace a mailbox's settings; a new generation forgets who was answered before."""
        ...

    async def record_reply(self, mailbox_id: str, generation: int, sender: str, now: Timestamp) -> bool:
        """Note that `sender` was answered in this generation; False if it already was (no reply then)."""
        ...
