"""Mailbox settings and the automatic-reply log (migration 0022): `domain.settings_model.SettingsRepo` in SQL.

The settings are one JSON text per mailbox (read whole, written whole); `auto_reply_log` records who was
answered in the current generation, one conditional insert per reply (two deliveries racing answer once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailgraph.domain.model import DateTimeTimeZone
from mailgraph.domain.settings_model import (
    AutomaticReplies,
    LocaleInfo,
    MailboxSettings,
    StoredSettings,
    WorkingHours,
)
from mailgraph.store.sql import codec
from mailgraph.store.sql.dialect import in_list

if TYPE_CHECKING:
    from mailgraph.domain.model import Timestamp
    from mailgraph.store.contract import Conn


def _when(value: DateTimeTimeZone | None) -> list[str] | None:
    return None if value is None else [value.date_time, value.time_zone]


def _when_from(raw: list[str] | None) -> DateTimeTimeZone | None:
    return None if raw is None else DateTimeTimeZone(raw[0], raw[1])


def settings_to_json(s: MailboxSettings) -> str:
    """The settings as JSON text."""
    a, w = s.automatic_replies, s.working_hours
    return codec.dump(
        {
            "time_zone": s.time_zone,
            "language": [s.language.locale, s.language.display_name],
            "date_format": s.date_format,
            "time_format": s.time_format,
            "working_hours": [list(w.days_of_week), w.start_time, w.end_time, w.time_zone],
            "delegate": s.delegate_meeting_message_delivery_options,
            "replies": [a.status, a.external_audience, _when(a.scheduled_start), _when(a.scheduled_end),
                        a.internal_reply_message, a.external_reply_message],
        }
    )  # fmt: skip


def settings_from_json(text: str) -> MailboxSettings:
    """Inverse of `settings_to_json`."""
    d: dict[str, Any] = codec.load(text)
    days, start, end, zone = d["working_hours"]
    status, audience, begins, ends, internal, external = d["replies"]
    return MailboxSettings(
        time_zone=d["time_zone"],
        language=LocaleInfo(*d["language"]),
        date_format=d["date_format"],
        time_format=d["time_format"],
        working_hours=WorkingHours(tuple(days), start, end, zone),
        delegate_meeting_message_delivery_options=d["delegate"],
        automatic_replies=AutomaticReplies(
            status, audience, _when_from(begins), _when_from(ends), internal, external
        ),
    )


class SqlMailboxSettings:
    """`domain.settings_model.SettingsRepo` in SQL."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def get_many(self, mailbox_ids: list[str]) -> dict[str, StoredSettings]:
        """The stored settings of these mailboxes (absent: the defaults apply)."""
        if not mailbox_ids:
            return {}
        clause, args = in_list("mailbox_id", mailbox_ids)
        rows = await self._conn.fetch_all(
            f"SELECT mailbox_id, settings, reply_generation FROM mailbox_settings WHERE {clause}", args
        )
        return {r[0]: StoredSettings(r[0], settings_from_json(r[1]), int(r[2])) for r in rows}

    async def put(self, stored: StoredSettings, now: Timestamp) -> None:
        """Insert or replace; the log of earlier generations is dropped (a new period begins)."""
        await self._conn.execute(
            "INSERT INTO mailbox_settings (mailbox_id, settings, reply_generation, modified_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (mailbox_id) DO UPDATE SET settings = excluded.settings,"
            " reply_generation = excluded.reply_generation, modified_at = excluded.modified_at",
            (stored.mailbox_id, settings_to_json(stored.settings), stored.reply_generation, now),
        )
        await self._conn.execute(
            "DELETE FROM auto_reply_log WHERE mailbox_id = ? AND reply_generation <> ?",
            (stored.mailbox_id, stored.reply_generation),
        )

    async def record_reply(self, mailbox_id: str, generation: int, sender: str, now: Timestamp) -> bool:
        """Insert (mailbox, generation, sender) unless present; True if this call inserted it."""
        n = await self._conn.execute(
            "INSERT INTO auto_reply_log (mailbox_id, reply_generation, sender, replied_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (mailbox_id, reply_generation, sender) DO NOTHING",
            (mailbox_id, generation, sender, now),
        )
        return n == 1
