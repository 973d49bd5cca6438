"""Graph `mailboxSettings` JSON ⇄ the settings model (mailboxsettings.md, automaticrepliessetting.md,
workinghours.md, user-update-mailboxsettings.md's error table).

Shape errors answer as Graph does: an unknown enum member or a malformed time is RequestBodyRead, an
unknown day InvalidArguments ("Requested value 'X' was not found."); read-only properties (userPurpose,
archiveFolder) are refused with ErrorInvalidRequest.
"""

from __future__ import annotations

import re
from typing import Any

from mailgraph.api.errors import GraphError
from mailgraph.api.serialize.values import bad_value, string, unknown_property
from mailgraph.domain.mailbox_settings import SettingsPatch, SettingsView
from mailgraph.domain.model import DateTimeTimeZone
from mailgraph.domain.settings_model import AUDIENCES, DAYS, DELIVERY_OPTIONS, REPLY_STATUSES, MailboxSettings

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,7}))?)?$")
READ_ONLY = ("userPurpose", "archiveFolder")


def _literal(value: object, type_name: str) -> GraphError:
    return GraphError(
        400, "RequestBodyRead", f"Cannot convert the literal '{value}' to the expected type '{type_name}'."
    )


def _enum(value: object, type_name: str, members: tuple[str, ...]) -> str:
    if isinstance(value, str):
        for member in members:
            if member.casefold() == value.casefold():
                return member
    raise _literal(value, f"microsoft.graph.{type_name}")


def _time_of_day(value: object) -> str:
    """Edm.TimeOfDay normalised to `HH:MM:SS.fffffff` (Graph's form)."""
    found = _TIME.match(value) if isinstance(value, str) else None
    if found is None:
        raise _literal(value, "Edm.TimeOfDay")
    hours, minutes, seconds, fraction = found.groups()
    return f"{hours}:{minutes}:{seconds or '00'}.{(fraction or '').ljust(7, '0')}"


def _object(value: object, prop: str, type_name: str, known: dict[str, str]) -> dict[str, object]:
    if not isinstance(value, dict):
        bad_value(prop)
    out: dict[str, object] = {}
    for key, item in value.items():
        if key in known:
            out[known[key]] = item
        elif not key.startswith("@odata."):
            unknown_property(key, type_name)
    return out


def _when(value: object, prop: str) -> DateTimeTimeZone:
    raw = _object(value, prop, "dateTimeTimeZone", {"dateTime": "d", "timeZone": "z"})
    return DateTimeTimeZone(
        string(raw.get("d"), f"{prop}.dateTime"), string(raw.get("z", "UTC"), f"{prop}.timeZone")
    )


def _replies(value: object) -> dict[str, object]:
    known = {
        "status": "status",
        "externalAudience": "external_audience",
        "scheduledStartDateTime": "scheduled_start",
        "scheduledEndDateTime": "scheduled_end",
        "internalReplyMessage": "internal_reply_message",
        "externalReplyMessage": "external_reply_message",
    }
    raw = _object(value, "automaticRepliesSetting", "automaticRepliesSetting", known)
    out: dict[str, object] = {}
    for name, item in raw.items():
        if name == "status":
            out[name] = _enum(item, "automaticRepliesStatus", REPLY_STATUSES)
        elif name == "external_audience":
            out[name] = _enum(item, "externalAudienceScope", AUDIENCES)
        elif name in ("scheduled_start", "scheduled_end"):
            out[name] = _when(item, name)
        else:
            out[name] = "" if item is None else string(item, name)
    return out


def _hours(value: object) -> dict[str, object]:
    known = {
        "daysOfWeek": "days_of_week",
        "startTime": "start_time",
        "endTime": "end_time",
        "timeZone": "time_zone",
    }
    raw = _object(value, "workingHours", "workingHours", known)
    out: dict[str, object] = {}
    for name, item in raw.items():
        if name == "days_of_week":
            if not isinstance(item, list):
                bad_value("workingHours.daysOfWeek")
            days = []
            for day in item:
                if not isinstance(day, str) or day.casefold() not in DAYS:
                    raise GraphError(400, "InvalidArguments", f"Requested value '{day}' was not found.")
                days.append(day.casefold())
            out[name] = tuple(dict.fromkeys(days))
        elif name == "time_zone":
            zone = _object(item, "workingHours.timeZone", "timeZoneBase", {"name": "name"})
            if isinstance(item, dict) and "customtimezone" in str(item.get("@odata.type", "")).casefold():
                raise GraphError(
                    400, "InvalidTimeZone", "Custom time zones are not supported by this server."
                )
            out[name] = string(zone.get("name"), "workingHours.timeZone.name")
        else:
            out[name] = _time_of_day(item)
    return out


def parse_patch(data: dict[str, Any]) -> SettingsPatch:
    """A PATCH body."""
    patch = SettingsPatch()
    for key, value in data.items():
        if key == "automaticRepliesSetting":
            patch.automatic_replies = _replies(value)
        elif key == "workingHours":
            patch.working_hours = _hours(value)
        elif key == "language":
            patch.language = {
                k: string(v, f"language.{k}")
                for k, v in _object(
                    value, key, "localeInfo", {"locale": "locale", "displayName": "display_name"}
                ).items()
            }
        elif key in ("timeZone", "dateFormat", "timeFormat"):
            name = {"timeZone": "time_zone", "dateFormat": "date_format", "timeFormat": "time_format"}[key]
            patch.top[name] = string(value, key)
        elif key == "delegateMeetingMessageDeliveryOptions":
            patch.top["delegate_meeting_message_delivery_options"] = _enum(
                value, "delegateMeetingMessageDeliveryOptions", DELIVERY_OPTIONS
            )
        elif key in READ_ONLY:
            raise GraphError(
                400, "ErrorInvalidRequest", f"The property '{key}' is read-only and cannot be set."
            )
        elif not key.startswith("@odata."):
            unknown_property(key, "mailboxSettings")
    return patch


def _when_json(value: DateTimeTimeZone | None) -> dict[str, str] | None:
    return None if value is None else {"dateTime": value.date_time, "timeZone": value.time_zone}


def settings_json(view: SettingsView) -> dict[str, Any]:
    """The whole `mailboxSettings` object, in the order Graph's example shows."""
    s: MailboxSettings = view.settings
    a, w = s.automatic_replies, s.working_hours
    return {
        "archiveFolder": view.archive_folder,
        "timeZone": s.time_zone,
        "delegateMeetingMessageDeliveryOptions": s.delegate_meeting_message_delivery_options,
        "dateFormat": s.date_format,
        "timeFormat": s.time_format,
        "userPurpose": {"value": view.user_purpose},
        "automaticRepliesSetting": {
            "status": a.status,
            "externalAudience": a.external_audience,
            "internalReplyMessage": a.internal_reply_message,
            "externalReplyMessage": a.external_reply_message,
            "scheduledStartDateTime": _when_json(a.scheduled_start),
            "scheduledEndDateTime": _when_json(a.scheduled_end),
        },
        "language": {"locale": s.language.locale, "displayName": s.language.display_name},
        "workingHours": {
            "daysOfWeek": list(w.days_of_week),
            "startTime": w.start_time,
            "endTime": w.end_time,
            "timeZone": {"name": w.time_zone},
        },
    }


# The sub-property GETs user-get-mailboxsettings.md lists (segment, lower-cased → JSON property).
SUB_PROPERTIES = {
    k.casefold(): k
    for k in (
        "automaticRepliesSetting", "dateFormat", "delegateMeetingMessageDeliveryOptions", "language",
        "timeFormat", "timeZone", "workingHours", "userPurpose",
    )
}  # fmt: skip
