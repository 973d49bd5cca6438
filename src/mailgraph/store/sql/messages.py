"""Message item rows: insert, update, get by REST or immutable id, list a folder or a mailbox.

This module is the only writer of `messages` rows for single items, and so also owns the folder
counters: every insert, update and delete appends a `folder_count_deltas` row (migration 0029) in
the same transaction as the row change. It never updates the folder row itself: that row was the
hot row of every unit touching a folder on PostgreSQL (issue 11, docs/scaling.md); store/sql/folders.py
adds the deltas on read and folds them into `folders.total_count/unread_count` in the background.
(`SqlDirectory.delete_user` removes a whole mailbox, its folders and counters with it.)
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from mailgraph.domain.model import FollowupFlag, ItemBody, Message, Page
from mailgraph.store.sql import codec
from mailgraph.store.sql.columns import Columns
from mailgraph.store.sql.dialect import DIALECTS, in_list, update_returning_old
from mailgraph.store.sql.filters import compile_message_filter, compile_message_order, compile_message_search

if TYPE_CHECKING:
    from mailgraph.store.contract import Conn

COLUMNS = (
    "id, rest_id, mailbox_id, folder_id, change_key, created_at, modified_at, received_at, sent_at, "
    "is_draft, is_read, has_attachments, importance, inference_classification, internet_message_id, "
    "conversation_id, conversation_index, subject, body_type, body, body_preview, from_address, from_name, "
    "sender_address, sender_name, to_json, cc_json, bcc_json, reply_to_json, categories_json, flag_status, "
    "flag_json, headers_json, is_delivery_receipt_requested, is_read_receipt_requested, in_reply_to, references_header"
)
_C = Columns(COLUMNS)
_PLACEHOLDERS = ", ".join("?" * (COLUMNS.count(",") + 1))
_INSERT = f"INSERT INTO messages ({COLUMNS}) VALUES ({_PLACEHOLDERS})"
_ASSIGN = ", ".join(f"{c.strip()} = ?" for c in COLUMNS.split(",")[1:])
_UPDATE = f"UPDATE messages SET {_ASSIGN} WHERE id = ?"
_SELECT = f"SELECT {COLUMNS} FROM messages"
# Where the engine can: the update and the placement it replaces in one statement (same parameters as
# `_UPDATE`), the row locked first, so the count deltas move from where the item really was, even when
# another unit moved it after this unit read it; SELECT then UPDATE could count it out of a folder
# twice on PostgreSQL. One round trip less. (store/sql/dialect.py; None on SQLite.)
_UPDATE_OLD = {d.name: update_returning_old("messages", _ASSIGN, "folder_id, is_read", d) for d in DIALECTS}
_BUMP = "INSERT INTO folder_count_deltas (folder_id, total, unread) VALUES (?, ?, ?)"


def to_row(m: Message) -> tuple[object, ...]:
    """The column values of a message, in `COLUMNS` order."""
    return (
        m.id,
        m.rest_id,
        m.mailbox_id,
        m.folder_id,
        m.change_key,
        m.created_at,
        m.modified_at,
        m.received_at,
        m.sent_at,
        int(m.is_draft),
        int(m.is_read),
        int(m.has_attachments),
        m.importance,
        m.inference_classification,
        m.internet_message_id,
        m.conversation_id,
        m.conversation_index,
        m.subject,
        m.body.content_type,
        m.body.content,
        m.body_preview,
        m.from_.address if m.from_ else None,
        m.from_.name if m.from_ else None,
        m.sender.address if m.sender else None,
        m.sender.name if m.sender else None,
        codec.addresses_to_json(m.to),
        codec.addresses_to_json(m.cc),
        codec.addresses_to_json(m.bcc),
        codec.addresses_to_json(m.reply_to),
        codec.strings_to_json(m.categories),
        m.flag.flag_status,
        codec.flag_to_json(m.flag),
        codec.headers_to_json(m.headers),
        int(m.is_delivery_receipt_requested),
        int(m.is_read_receipt_requested),
        m.in_reply_to,
        m.references,
    )


# How each `Message` attribute is read from a row: an expression over `{column}` placeholders, which the
# mapper generator below turns into `r[position]` for the column list it selects. One table for the full
# mapper and every `$select` mapper, so they cannot drift apart.
_READ: dict[str, str] = {
    "id": "{id}",
    "rest_id": "{rest_id}",
    "mailbox_id": "{mailbox_id}",
    "folder_id": "{folder_id}",
    "change_key": "{change_key}",
    "created_at": "{created_at}",
    "modified_at": "{modified_at}",
    "received_at": "{received_at}",
    "sent_at": "{sent_at}",
    "is_draft": "bool({is_draft})",
    "is_read": "bool({is_read})",
    "has_attachments": "bool({has_attachments})",
    "importance": "{importance}",
    "inference_classification": "{inference_classification}",
    "internet_message_id": "{internet_message_id}",
    "conversation_id": "{conversation_id}",
    "conversation_index": "{conversation_index}",
    "subject": "{subject}",
    "body": "ItemBody({body_type}, {body})",
    "body_preview": "{body_preview}",
    "from_": "address_or_none({from_address}, {from_name})",
    "sender": "address_or_none({sender_address}, {sender_name})",
    "to": "addresses_from_json({to_json})",
    "cc": "addresses_from_json({cc_json})",
    "bcc": "addresses_from_json({bcc_json})",
    "reply_to": "addresses_from_json({reply_to_json})",
    "categories": "strings_from_json({categories_json})",
    "flag": "flag_from_columns({flag_status}, {flag_json})",
    "headers": "headers_from_json({headers_json})",
    "is_delivery_receipt_requested": "bool({is_delivery_receipt_requested})",
    "is_read_receipt_requested": "bool({is_read_receipt_requested})",
    "in_reply_to": "{in_reply_to}",
    "references": "{references_header}",
}
# Every mapper fills these (ids for the JSON and for `$expand`, the folder, the change key for the etag).
_ALWAYS = frozenset({"id", "rest_id", "mailbox_id", "folder_id", "change_key"})
# What a partial mapper puts in the attributes it does not read: for the required ones an empty value
# of their type; for the others their default, spelled out (`[]` in the generated call is cheaper than
# the dataclass's default factories; the frozen values are shared).
_EMPTY_BODY = ItemBody("text", "")
_NO_FLAG = FollowupFlag()
_PLACEHOLDER = {
    f.name: (
        "0"
        if f.type == "Timestamp"
        else "False"
        if f.type == "bool"
        else '""'
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        else repr(f.default)
        if f.default is not dataclasses.MISSING
        else {"ItemBody": "_EMPTY_BODY", "FollowupFlag": "_NO_FLAG"}.get(str(f.type), "[]")
    )
    for f in dataclasses.fields(Message)
}
_NAMESPACE = {
    "_EMPTY_BODY": _EMPTY_BODY,
    "_NO_FLAG": _NO_FLAG,
    "Message": Message,
    "ItemBody": ItemBody,
    "address_or_none": codec.address_or_none,
    "addresses_from_json": codec.addresses_from_json,
    "strings_from_json": codec.strings_from_json,
    "flag_from_columns": codec.flag_from_columns,
    "headers_from_json": codec.headers_from_json,
}
if set(_READ) != {f.name for f in dataclasses.fields(Message)} or set(_C.names) != {
    c for e in _READ.values() for _, c, _, _ in string.Formatter().parse(e) if c
}:
    raise RuntimeError("store/sql/messages.py: _READ must read every Message attribute and every column")

Mapper = Callable[[Sequence[Any]], Message]


def _generate(fields: frozenset[str] | None) -> tuple[str, Mapper]:
    """The column list and the row mapper for these attributes (None: all of them).

    The mapper is generated as one positional `Message(...)` call with every row position inlined: a
    51-row page read through a by-name loop paid ~1,700 position lookups per request.
    """
    attrs = [a for a in _READ if fields is None or a in fields or a in _ALWAYS]
    wanted = {c for a in attrs for _, c, _, _ in string.Formatter().parse(_READ[a]) if c}
    columns = [c for c in _C.names if c in wanted]
    at = {c: f"r[{i}]" for i, c in enumerate(columns)}
    # Positional, in field order: keyword arguments cost a name match per argument per row.
    args = [_READ[f].format_map(at) if f in attrs else _PLACEHOLDER[f] for f in _PLACEHOLDER]
    namespace = dict(_NAMESPACE)
    exec(f"def from_row(r):\n    return Message({', '.join(args)})\n", namespace)  # noqa: S102 - our own text
    return ", ".join(columns), cast(Mapper, namespace["from_row"])


_FULL_COLUMNS, from_row = _generate(None)
"""`from_row`: the inverse of `to_row` (a row selected with `COLUMNS`)."""
if _FULL_COLUMNS != COLUMNS:
    raise RuntimeError("store/sql/messages.py: the full mapper must read COLUMNS in order")
_MAPPERS: dict[frozenset[str], tuple[str, Mapper]] = {}


def _partial(fields: frozenset[str]) -> tuple[str, Mapper]:
    """`_generate` for a `$select`'s attributes, cached (a client asks for the same few shapes)."""
    found = _MAPPERS.get(fields)
    if found is None:
        if len(_MAPPERS) >= 256:  # bounded: arbitrary `$select` combinations cannot grow it
            _MAPPERS.clear()
        found = _MAPPERS[fields] = _generate(fields)
    return found


class SqlMessages:
    """`domain.ports.MessageRepo` over one connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def _bump(self, folder_id: str, total: int, unread: int) -> None:
        await self._conn.execute(_BUMP, (folder_id, total, unread))

    async def _placement(self, message_id: str) -> tuple[str, bool] | None:
        """The stored folder and read state of an item: what its counters currently include."""
        row = await self._conn.fetch_one(
            "SELECT folder_id, is_read FROM messages WHERE id = ?", (message_id,)
        )
        return None if row is None else (str(row[0]), bool(row[1]))

    async def insert(self, message: Message) -> None:
        """Add a message item (and count it in its folder)."""
        # Row first: a duplicate id raises before any counter moved.
        await self._conn.execute(_INSERT, to_row(message))
        await self._bump(message.folder_id, 1, 0 if message.is_read else 1)

    async def update(self, message: Message) -> None:
        """Write every field of an existing item; a move or a read-state change moves the counts."""
        row = to_row(message)
        locked = _UPDATE_OLD[self._conn.dialect.name]
        if locked is not None:  # one statement, the placement locked (PostgreSQL)
            old = await self._conn.fetch_one(locked, (*row[1:], row[0]))
            if old is None:
                return
            old_folder, was_read = str(old[0]), bool(old[1])
        else:  # SQLite's single writer: nothing moves the row between the two statements
            before = await self._placement(message.id)
            if not await self._conn.execute(_UPDATE, (*row[1:], row[0])) or before is None:
                return
            old_folder, was_read = before
        new_folder, now_read = message.folder_id, message.is_read
        if old_folder != new_folder:
            # Two appended rows in one pipelined statement: inserts lock nothing another unit waits for.
            await self._conn.execute_many(
                _BUMP, [(old_folder, -1, 0 if was_read else -1), (new_folder, 1, 0 if now_read else 1)]
            )
        elif was_read != now_read:
            await self._bump(new_folder, 0, -1 if now_read else 1)
        # else the common PATCH (subject, flag, categories…): no counter write at all

    async def delete(self, message_id: str) -> None:
        """Remove an item by immutable id (and uncount it)."""
        before = await self._placement(message_id)
        if before is None:
            return
        await self._conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        await self._bump(before[0], -1, 0 if before[1] else -1)

    async def get(self, mailbox_id: str, rest_id: str) -> Message | None:
        """An item of this mailbox by REST id (ids are case-sensitive, spec §0.1)."""
        row = await self._conn.fetch_one(
            f"{_SELECT} WHERE rest_id = ? AND mailbox_id = ?", (rest_id, mailbox_id)
        )
        return None if row is None else from_row(row)

    async def get_immutable(self, mailbox_id: str, message_id: str) -> Message | None:
        """An item of this mailbox by immutable id."""
        row = await self._conn.fetch_one(
            f"{_SELECT} WHERE id = ? AND mailbox_id = ?", (message_id, mailbox_id)
        )
        return None if row is None else from_row(row)

    async def change_keys(self, mailbox_id: str, message_ids: Sequence[str]) -> dict[str, str]:
        """The changeKey of each of these items that exists in this mailbox, by immutable id."""
        found: dict[str, str] = {}
        for start in range(0, len(message_ids), 500):  # bounded IN lists (parameter limits)
            chunk = message_ids[start : start + 500]
            args: list[object]
            if len(chunk) == 1:  # the common case: one statement text, one cached plan
                where, args = "id = ?", [chunk[0]]
            else:
                where, args = in_list("id", chunk)
            rows = await self._conn.fetch_all(
                f"SELECT id, change_key FROM messages WHERE {where} AND mailbox_id = ?", (*args, mailbox_id)
            )
            found.update((r[0], r[1]) for r in rows)
        return found

    def _where(self, mailbox_id: str, folder_id: str | None, page: Page) -> tuple[str, list[object]]:
        if folder_id is None:
            # The whole mailbox is the visible folder tree (spec §2.9); Recoverable Items stays out.
            where = "mailbox_id = ? AND folder_id NOT IN (SELECT id FROM folders WHERE mailbox_id = ? AND is_hidden = 1)"
            params: list[object] = [mailbox_id, mailbox_id]
        else:
            where, params = "folder_id = ? AND mailbox_id = ?", [folder_id, mailbox_id]
        if page.filter is not None:
            clause, args = compile_message_filter(page.filter)
            where += f" AND ({clause})"
            params.extend(args)
        if page.search is not None:
            clause, args = compile_message_search(page.search)
            where += f" AND ({clause})"
            params.extend(args)
        return where, params

    async def list(self, mailbox_id: str, folder_id: str | None, page: Page) -> list[Message]:
        """One page of a folder or of the whole mailbox, in the page's order.

        With `page.fields` only the columns of those attributes are read (a list view's `$select` of
        five properties skips the body, the recipient lists and the headers of every row)."""
        where, params = self._where(mailbox_id, folder_id, page)
        order = compile_message_order(page.order_by, self._conn.dialect.text_order)
        columns, mapper = (COLUMNS, from_row) if page.fields is None else _partial(page.fields)
        rows = await self._conn.fetch_all(
            f"SELECT {columns} FROM messages WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            (*params, page.top, page.skip),
        )
        return list(map(mapper, rows))

    async def count(self, mailbox_id: str, folder_id: str | None, page: Page) -> int:
        """How many items match, ignoring the window."""
        where, params = self._where(mailbox_id, folder_id, page)
        row = await self._conn.fetch_one(f"SELECT COUNT(*) FROM messages WHERE {where}", params)
        return int(row[0]) if row else 0

    async def find_conversations(
        self, mailbox_ids: Sequence[str], internet_message_ids: Sequence[str]
    ) -> dict[str, str]:
        """Per mailbox, the conversation of its newest item with one of these Message-IDs."""
        if not mailbox_ids or not internet_message_ids:
            return {}
        boxes, box_args = in_list("mailbox_id", mailbox_ids)
        msg_ids, id_args = in_list("internet_message_id", internet_message_ids)
        # Index messages_internet_message_id (migration 0005) finds the rows. No ORDER BY in SQL: with
        # one mailbox SQLite would rather walk messages_mailbox_received to skip a sort, i.e. read the
        # whole mailbox (5 ms at 20k items); the few matches are ordered here instead.
        rows = await self._conn.fetch_all(
            f"SELECT mailbox_id, conversation_id, received_at, id FROM messages WHERE {boxes} AND {msg_ids}",
            (*box_args, *id_args),
        )
        # Oldest first, so the newest match of each mailbox is the one left in the dict.
        rows.sort(key=lambda r: (r[2], r[3]))
        return {str(r[0]): str(r[1]) for r in rows}
