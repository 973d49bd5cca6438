"""Automatic replies (Graph `automaticRepliesSetting`, Outlook's "out of office") at delivery.

Policy (docs/rules-and-auto-replies.md):
- active when status is alwaysEnabled, or scheduled and now lies in [scheduledStartDateTime,
  scheduledEndDateTime), each a wall-clock time in its own zone;
- internal senders (an address of one of the owner's tenant's domains) get internalReplyMessage;
  external ones get externalReplyMessage when externalAudience is `all`. `contactsOnly` answers no
  external sender: this server keeps no contacts, so no external sender is a contact;
- each sender is answered once per period: the period is one generation of the settings, and any change
  of automaticRepliesSetting begins a new one (Exchange resets its list of answered senders then);
- never to automatic mail (RFC 3834 §2: Auto-Submitted other than "no", Precedence bulk/list/junk,
  List-Id), to a null envelope sender (bounces), or to the owner's own addresses.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mailgraph.domain.addresses import domain_of
from mailgraph.domain.automatic_mail import Outgoing, automatic_reply
from mailgraph.domain.model import SECOND, DateTimeTimeZone, EmailAddress, Message, Timestamp, User
from mailgraph.domain.ports import Tx
from mailgraph.domain.rule_engine import is_automatic
from mailgraph.domain.settings_model import AutomaticReplies, StoredSettings
from mailgraph.domain.time_zones import zone_of


def instant(value: DateTimeTimeZone) -> Timestamp | None:
    """A dateTimeTimeZone as a time (µs since the epoch), or None when it does not parse."""
    zone = zone_of(value.time_zone)
    text = value.date_time.strip().removesuffix("Z")
    if zone is None:
        return None
    head, _, fraction = text.partition(".")
    try:
        wall = datetime.fromisoformat(head)
    except ValueError:
        return None
    if wall.tzinfo is not None or (fraction and not fraction.isdigit()):
        return None
    moment = wall.replace(tzinfo=zone).astimezone(UTC)
    return int(moment.timestamp()) * SECOND + (int(fraction[:6].ljust(6, "0")) if fraction else 0)


def active(setting: AutomaticReplies, now: Timestamp) -> bool:
    """Whether replies go out at `now`."""
    if setting.status == "alwaysEnabled":
        return True
    if setting.status != "scheduled" or setting.scheduled_start is None or setting.scheduled_end is None:
        return False
    start, end = instant(setting.scheduled_start), instant(setting.scheduled_end)
    return start is not None and end is not None and start <= now < end


async def reply_for(
    tx: Tx,
    owner: User,
    domains: frozenset[str],
    stored: StoredSettings | None,
    copy: Message,
    envelope_from: str | None,
    now: Timestamp,
) -> Outgoing | None:
    """The automatic reply one delivered copy earns, recorded as sent; None when none is due.

    `domains`: the owner's tenant's domains (lower case): who counts as internal.
    `envelope_from`: the SMTP MAIL FROM of received mail ("" for a null sender), None for local sends.
    """
    if stored is None or not active(stored.settings.automatic_replies, now):
        return None
    if envelope_from == "" or is_automatic(copy.headers):
        return None
    sender = EmailAddress(envelope_from) if envelope_from else (copy.from_ or copy.sender)
    if sender is None or not sender.address or "@" not in sender.address:
        return None
    if sender.key in (owner.mail.casefold(), owner.user_principal_name.casefold()):
        return None
    setting = stored.settings.automatic_replies
    internal = domain_of(sender.address).casefold() in domains
    if not internal and setting.external_audience != "all":
        return None
    if not await tx.mailbox_settings.record_reply(owner.id, stored.reply_generation, sender.key, now):
        return None  # answered already in this period
    text = setting.internal_reply_message if internal else setting.external_reply_message
    return automatic_reply(copy, owner, sender, text, now)
