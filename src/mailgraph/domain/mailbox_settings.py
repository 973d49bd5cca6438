"""Mailbox settings (Graph `mailboxSettings`): GET and PATCH, the business rules of the values.

The edge (api/serialize/settings.py) checks the JSON shape and enum names; here the rules that need
knowledge: a time zone must be known (IANA or a Windows name Graph documents, InvalidTimeZone), working
hours must start before they end and a schedule must end after it starts (ErrorInvalidTimeSettings).
A change of automaticRepliesSetting begins a new period of automatic replies (domain/auto_replies.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from mailgraph.domain.auto_replies import instant
from mailgraph.domain.errors import DomainError
from mailgraph.domain.mailboxes import resolve, well_known_id
from mailgraph.domain.model import Actor, Timestamp
from mailgraph.domain.ports import Tx, UnitOfWork
from mailgraph.domain.settings_model import AutomaticReplies, MailboxSettings, StoredSettings
from mailgraph.domain.time_zones import zone_of


class InvalidTimeZoneError(DomainError):
    """A time zone name that is neither IANA nor a known Windows name (Graph: InvalidTimeZone)."""

    def __init__(self) -> None:
        super().__init__("Time Zone settings provided are invalid.")


class InvalidTimeSettingsError(DomainError):
    """Times in the wrong order (Graph: ErrorInvalidTimeSettings)."""


@dataclass(slots=True)
class SettingsPatch:
    """A PATCH body, typed: top-level values sent, and the fields sent of each complex value (domain
    field names → values); complex values are merged into the stored ones, as Graph documents."""

    top: dict[str, object] = field(default_factory=dict)
    language: dict[str, object] = field(default_factory=dict)
    working_hours: dict[str, object] = field(default_factory=dict)
    automatic_replies: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SettingsView:
    """The settings with the read-only values: the archive folder's id and the user purpose."""

    settings: MailboxSettings
    archive_folder: str
    user_purpose: str = "user"
    """Every mailbox here is a user's (no shared, room or equipment mailboxes)."""


def _check(settings: MailboxSettings) -> None:
    zones = [settings.time_zone, settings.working_hours.time_zone]
    replies = settings.automatic_replies
    when = [w for w in (replies.scheduled_start, replies.scheduled_end) if w is not None]
    if any(zone_of(z) is None for z in zones) or any(zone_of(w.time_zone) is None for w in when):
        raise InvalidTimeZoneError()
    hours = settings.working_hours
    if hours.start_time >= hours.end_time:  # both normalised to HH:MM:SS.fffffff at the edge
        raise InvalidTimeSettingsError("Start Time should occur before End Time.")
    if replies.status == "scheduled":
        if replies.scheduled_start is None or replies.scheduled_end is None:
            raise InvalidTimeSettingsError("A scheduled automatic reply needs a start and an end time.")
        start, end = instant(replies.scheduled_start), instant(replies.scheduled_end)
        if start is None or end is None:
            raise InvalidTimeSettingsError("The scheduled start or end time is not valid.")
        if start >= end:
            raise InvalidTimeSettingsError("The scheduled end time must be after the start time.")


def merge(current: MailboxSettings, patch: SettingsPatch) -> MailboxSettings:
    """The settings after a PATCH (not yet checked)."""
    merged = replace(current, **patch.top)  # type: ignore[arg-type]
    if patch.language:
        merged = replace(merged, language=replace(merged.language, **patch.language))  # type: ignore[arg-type]
    if patch.working_hours:
        hours = replace(merged.working_hours, **patch.working_hours)  # type: ignore[arg-type]
        merged = replace(merged, working_hours=hours)
    if patch.automatic_replies:
        replies: AutomaticReplies = replace(merged.automatic_replies, **patch.automatic_replies)  # type: ignore[arg-type]
        merged = replace(merged, automatic_replies=replies)
    return merged


class MailboxSettingsService:
    """The mailboxSettings use cases."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], Timestamp]) -> None:
        self._uow = uow
        self._clock = clock

    async def get(self, actor: Actor, user_key: str | None) -> SettingsView:
        """`GET …/mailboxSettings` (and its sub-properties, cut at the edge)."""

        async def unit(tx: Tx) -> SettingsView:
            owner = await resolve(tx, actor, user_key)
            stored = (await tx.mailbox_settings.get_many([owner.id])).get(owner.id)
            settings = stored.settings if stored is not None else MailboxSettings()
            return SettingsView(settings, await well_known_id(tx, owner, "archive"))

        return await self._uow.read(unit)

    async def update(self, actor: Actor, user_key: str | None, patch: SettingsPatch) -> SettingsView:
        """`PATCH …/mailboxSettings`: merge, check, store; a changed automaticRepliesSetting begins a new
        period (each sender answered once again).

        Raises:
            InvalidTimeZoneError, InvalidTimeSettingsError: see `_check`.
        """

        async def unit(tx: Tx) -> SettingsView:
            owner = await resolve(tx, actor, user_key)
            stored = (await tx.mailbox_settings.get_many([owner.id])).get(owner.id)
            before = stored.settings if stored is not None else MailboxSettings()
            generation = stored.reply_generation if stored is not None else 0
            after = merge(before, patch)
            _check(after)
            if after.automatic_replies != before.automatic_replies:
                generation += 1
            await tx.mailbox_settings.put(StoredSettings(owner.id, after, generation), self._clock())
            return SettingsView(after, await well_known_id(tx, owner, "archive"))

        return await self._uow.write(unit)
