"""Queued-message snapshots (`outbound_messages.snapshot_json`): a versioned encoding by field name.

A snapshot outlives schema changes: an entry may wait in the queue for days across an upgrade.
- v0 (written before this module): a JSON list of the `messages` row values in the column order of
  that time, frozen below as `V0_FIELDS`. Read only; recognised by being a list.
- v1: `{"v": 1, "m": {column name: value, …}}`. Values are looked up by name, so adding, dropping or
  reordering `messages` columns never shifts an old snapshot's values into other fields. A column
  added later needs an entry in `ADDED_DEFAULTS` for snapshots written before it; a field the
  current code no longer has is ignored.
- A version above `CURRENT` (written by a newer mailgraph) is refused with `SnapshotFormatError`,
  never guessed at.
"""

from __future__ import annotations

from typing import Any, Final

from mailgraph.domain.model import Message
from mailgraph.store.sql import codec
from mailgraph.store.sql.messages import COLUMNS, from_row, to_row

CURRENT: Final = 1
FIELDS: Final = tuple(c.strip() for c in COLUMNS.split(","))
"""The names of `to_row`'s values, in its order (the current `messages` columns)."""
V0_FIELDS: Final = (
    "id", "rest_id", "mailbox_id", "folder_id", "change_key", "created_at", "modified_at", "received_at",
    "sent_at", "is_draft", "is_read", "has_attachments", "importance", "inference_classification",
    "internet_message_id", "conversation_id", "conversation_index", "subject", "body_type", "body",
    "body_preview", "from_address", "from_name", "sender_address", "sender_name", "to_json", "cc_json",
    "bcc_json", "reply_to_json", "categories_json", "flag_status", "flag_json", "headers_json",
    "is_delivery_receipt_requested", "is_read_receipt_requested", "in_reply_to", "references_header",
)  # fmt: skip
ADDED_DEFAULTS: Final[dict[str, object]] = {}
"""Value of a column added after v1 for snapshots that predate it (none yet)."""


class SnapshotFormatError(ValueError):
    """A snapshot this version cannot decode (a newer format, or a damaged one)."""


def dump(message: Message) -> str:
    """The current (v1) snapshot text of a message."""
    return codec.dump({"v": CURRENT, "m": dict(zip(FIELDS, to_row(message), strict=True))})


def load(text: str) -> Message:
    """A snapshot of any known version back into a message.

    Raises:
        SnapshotFormatError: a version newer than `CURRENT`, or fields missing or malformed.
    """
    data: Any = codec.load(text)
    if isinstance(data, list):  # v0
        if len(data) != len(V0_FIELDS):
            raise SnapshotFormatError(f"v0 snapshot has {len(data)} values, expected {len(V0_FIELDS)}")
        return _message(dict(zip(V0_FIELDS, data, strict=True)))
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("v"), int)
        or not isinstance(data.get("m"), dict)
    ):
        raise SnapshotFormatError("not a queued-message snapshot")
    if data["v"] > CURRENT:
        raise SnapshotFormatError(
            f"snapshot format v{data['v']} is newer than this mailgraph reads (v0–v{CURRENT}); "
            "deliver it with the version that queued it, or upgrade"
        )
    return _message(data["m"])


def _message(values: dict[str, Any]) -> Message:
    row = []
    for name in FIELDS:
        if name in values:
            row.append(values[name])
        elif name in ADDED_DEFAULTS:
            row.append(ADDED_DEFAULTS[name])
        else:
            raise SnapshotFormatError(f"snapshot lacks field {name!r} and it has no default")
    return from_row(row)
