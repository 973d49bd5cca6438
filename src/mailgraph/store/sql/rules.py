"""Inbox rules (migration 0022): `domain.rule_model.RuleRepo` in SQL.

Predicates and actions are one JSON text each: `{field: value}` with the domain's field names,
recipients as `[[address, name], …]` and a size range as `[minimum, maximum]`.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from mailgraph.domain.model import EmailAddress
from mailgraph.domain.rule_model import (
    PREDICATE_FIELDS,
    MessageRule,
    Predicates,
    PredicateValue,
    RuleActions,
    SizeRange,
)
from mailgraph.store.sql import codec
from mailgraph.store.sql.columns import Columns
from mailgraph.store.sql.dialect import in_list

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mailgraph.store.contract import Conn

R = Columns(
    "id, mailbox_id, display_name, sequence, is_enabled, has_error, conditions, exceptions, actions, created_at"
)
_RECIPIENT_ACTIONS = frozenset({"forward_to", "forward_as_attachment_to", "redirect_to"})


def _encode_value(value: object) -> object:
    if isinstance(value, SizeRange):
        return [value.minimum_size, value.maximum_size]
    if isinstance(value, tuple):
        return [[v.address, v.name] if isinstance(v, EmailAddress) else v for v in value]
    return value


def predicates_to_json(predicates: Predicates) -> str:
    """Predicates as JSON text."""
    return codec.dump({k: _encode_value(v) for k, v in predicates.values.items()})


def predicates_from_json(text: str) -> Predicates:
    """Inverse of `predicates_to_json` (fields this version does not know are dropped)."""
    values: dict[str, PredicateValue] = {}
    for name, raw in codec.load(text).items():
        kind = PREDICATE_FIELDS.get(name)
        if kind == "strings":
            values[name] = tuple(raw)
        elif kind == "recipients":
            values[name] = tuple(EmailAddress(a, n) for a, n in raw)
        elif kind == "size":
            values[name] = SizeRange(raw[0], raw[1])
        elif kind is not None:
            values[name] = raw
    return Predicates(values)


def actions_to_json(actions: RuleActions) -> str:
    """Actions as JSON text (unset ones left out)."""
    data = {f.name: _encode_value(getattr(actions, f.name)) for f in fields(actions)}
    return codec.dump({k: v for k, v in data.items() if v is not None})


def actions_from_json(text: str) -> RuleActions:
    """Inverse of `actions_to_json`."""
    data: dict[str, Any] = {}
    known = {f.name for f in fields(RuleActions)}
    for name, raw in codec.load(text).items():
        if name not in known:
            continue
        if name in _RECIPIENT_ACTIONS:
            data[name] = tuple(EmailAddress(a, n) for a, n in raw)
        elif name == "assign_categories":
            data[name] = tuple(raw)
        else:
            data[name] = raw
    return RuleActions(**data)


def _rule(r: Sequence[Any]) -> MessageRule:
    return MessageRule(
        id=r[R["id"]],
        mailbox_id=r[R["mailbox_id"]],
        display_name=r[R["display_name"]],
        sequence=int(r[R["sequence"]]),
        is_enabled=bool(r[R["is_enabled"]]),
        has_error=bool(r[R["has_error"]]),
        conditions=predicates_from_json(r[R["conditions"]]),
        exceptions=predicates_from_json(r[R["exceptions"]]),
        actions=actions_from_json(r[R["actions"]]),
        created_at=int(r[R["created_at"]]),
    )


class SqlMessageRules:
    """`domain.rule_model.RuleRepo` in SQL."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def list(self, mailbox_ids: list[str]) -> list[MessageRule]:
        """The rules of these mailboxes, by mailbox, sequence, creation."""
        if not mailbox_ids:
            return []
        clause, args = in_list("mailbox_id", mailbox_ids)
        rows = await self._conn.fetch_all(
            f"SELECT {R.sql} FROM message_rules WHERE {clause} ORDER BY mailbox_id, sequence, created_at, id",
            args,
        )
        return [_rule(r) for r in rows]

    async def get(self, mailbox_id: str, rule_id: str) -> MessageRule | None:
        """One rule of a mailbox."""
        row = await self._conn.fetch_one(
            f"SELECT {R.sql} FROM message_rules WHERE mailbox_id = ? AND id = ?", (mailbox_id, rule_id)
        )
        return None if row is None else _rule(row)

    async def put(self, rule: MessageRule) -> None:
        """Insert or replace a rule (delete + insert: one portable statement pair in the unit)."""
        await self._conn.execute("DELETE FROM message_rules WHERE id = ?", (rule.id,))
        await self._conn.execute(
            f"INSERT INTO message_rules ({R.sql}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rule.id, rule.mailbox_id, rule.display_name, rule.sequence, int(rule.is_enabled),
             int(rule.has_error), predicates_to_json(rule.conditions), predicates_to_json(rule.exceptions),
             actions_to_json(rule.actions), rule.created_at),
        )  # fmt: skip

    async def delete(self, mailbox_id: str, rule_id: str) -> bool:
        """Remove a rule; False if there was none."""
        n = await self._conn.execute(
            "DELETE FROM message_rules WHERE mailbox_id = ? AND id = ?", (mailbox_id, rule_id)
        )
        return n == 1
