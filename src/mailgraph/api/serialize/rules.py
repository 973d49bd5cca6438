"""Graph `messageRule` JSON ⇄ the rule model (messagerule.md, messagerulepredicates.md, messageruleactions.md).

Property names are Graph's camelCase forms of the model's field names. Values are checked for shape
here (types, enum members); the domain checks what needs the store (folders exist).
"""

from __future__ import annotations

from typing import Any

from mailgraph.api.errors import GraphError
from mailgraph.api.serialize.values import (
    bad_value,
    boolean,
    email_address,
    recipients,
    string,
    unknown_property,
)
from mailgraph.domain.message_rules import RuleChanges
from mailgraph.domain.model import EmailAddress
from mailgraph.domain.rule_model import (
    ACTION_FLAGS,
    IMPORTANCE,
    PREDICATE_FIELDS,
    SENSITIVITY,
    MessageRule,
    Predicates,
    PredicateValue,
    RuleActions,
    SizeRange,
)

_ACTION_FIELDS = {
    "assignCategories": "assign_categories",
    "copyToFolder": "copy_to_folder",
    "delete": "delete",
    "forwardAsAttachmentTo": "forward_as_attachment_to",
    "forwardTo": "forward_to",
    "markAsRead": "mark_as_read",
    "markImportance": "mark_importance",
    "moveToFolder": "move_to_folder",
    "permanentDelete": "permanent_delete",
    "redirectTo": "redirect_to",
    "stopProcessingRules": "stop_processing_rules",
}
_ACTION_NAMES = {v: k for k, v in _ACTION_FIELDS.items()}


def camel(name: str) -> str:
    """`sent_to_or_cc_me` → `sentToOrCcMe`."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


_PREDICATE_NAMES = {camel(n): n for n in PREDICATE_FIELDS}


def _enum(value: object, prop: str, members: tuple[str, ...]) -> str:
    text = string(value, prop)
    for member in members:
        if member.casefold() == text.casefold():
            return member
    raise GraphError(
        400, "RequestBodyRead", f"Cannot convert the literal '{text}' to the expected type for '{prop}'."
    )


def _strings(value: object, prop: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        bad_value(prop)
    return tuple(string(v, prop) for v in value)


def _recipients(value: object, prop: str) -> tuple[EmailAddress, ...]:
    # redirectTo is one recipient in the v1.0 docs and a collection in beta and in practice: both.
    items = value if isinstance(value, list) else [value]
    found = tuple(email_address(v, prop) for v in items)
    if any("@" not in a.address for a in found):
        raise GraphError(400, "ErrorInvalidRecipients", f"Property {prop} has an invalid email address.")
    return found


def _size(value: object, prop: str) -> SizeRange:
    if not isinstance(value, dict):
        bad_value(prop)
    bounds: dict[str, int] = {}
    for key, item in value.items():
        if key in ("minimumSize", "maximumSize"):
            if not isinstance(item, int) or isinstance(item, bool) or item < 0:
                bad_value(f"{prop}.{key}")
            bounds[key] = item
        elif not key.startswith("@odata."):
            unknown_property(key, "sizeRange")
    low, high = bounds.get("minimumSize"), bounds.get("maximumSize")
    if low is not None and high is not None and low > high:
        raise GraphError(400, "ErrorInvalidRequest", "The minimum size must not exceed the maximum size.")
    return SizeRange(low, high)


def parse_predicates(value: object, prop: str) -> Predicates:
    """A `messageRulePredicates` object (null: no predicates)."""
    if value is None:
        return Predicates()
    if not isinstance(value, dict):
        bad_value(prop)
    values: dict[str, PredicateValue] = {}
    for key, item in value.items():
        name = _PREDICATE_NAMES.get(key)
        if name is None:
            if key.startswith("@odata."):
                continue
            unknown_property(key, "messageRulePredicates")
        if item is None:
            continue
        kind = PREDICATE_FIELDS[name]
        where = f"{prop}.{key}"
        if name == "sender_contains":
            # Exchange keeps senderContains upper-cased: the docs' create and list examples send
            # "adele" and answer "ADELE" (the test is case-insensitive either way).
            values[name] = tuple(s.upper() for s in _strings(item, where))
        elif kind == "strings":
            values[name] = _strings(item, where)
        elif kind == "recipients":
            values[name] = _recipients(item, where)
        elif kind == "flag":
            values[name] = boolean(item, where)
        elif kind == "importance":
            values[name] = _enum(item, where, IMPORTANCE)
        elif kind == "sensitivity":
            values[name] = _enum(item, where, SENSITIVITY)
        elif kind == "action_flag":
            values[name] = _enum(item, where, ACTION_FLAGS)
        else:
            values[name] = _size(item, where)
    return Predicates(values)


def parse_actions(value: object) -> RuleActions:
    """A `messageRuleActions` object."""
    if not isinstance(value, dict):
        bad_value("actions")
    data: dict[str, Any] = {}
    for key, item in value.items():
        name = _ACTION_FIELDS.get(key)
        if name is None:
            if key.startswith("@odata."):
                continue
            unknown_property(key, "messageRuleActions")
        if item is None:
            continue
        where = f"actions.{key}"
        if name in ("forward_to", "forward_as_attachment_to", "redirect_to"):
            data[name] = _recipients(item, where)
        elif name == "assign_categories":
            data[name] = _strings(item, where)
        elif name in ("copy_to_folder", "move_to_folder"):
            data[name] = string(item, where)
        elif name == "mark_importance":
            data[name] = _enum(item, where, IMPORTANCE)
        else:
            data[name] = boolean(item, where)
    return RuleActions(**data)


def parse_rule(data: dict[str, Any]) -> RuleChanges:
    """A create or PATCH body. Read-only properties (id, hasError, isReadOnly) are refused."""
    changes = RuleChanges()
    for key, value in data.items():
        if key == "displayName":
            changes.display_name = string(value, key)
        elif key == "sequence":
            if not isinstance(value, int) or isinstance(value, bool):
                bad_value(key)
            changes.sequence = value
        elif key == "isEnabled":
            changes.is_enabled = boolean(value, key)
        elif key == "conditions":
            changes.conditions = parse_predicates(value, key)
        elif key == "exceptions":
            changes.exceptions = parse_predicates(value, key)
        elif key == "actions":
            changes.actions = parse_actions(value)
        elif key in ("id", "hasError", "isReadOnly"):
            raise GraphError(400, "ErrorInvalidRequest", f"The property '{key}' is read-only.")
        elif not key.startswith("@odata."):
            unknown_property(key, "messageRule")
    return changes


def _value_json(value: PredicateValue | str | bool | None) -> object:
    if isinstance(value, SizeRange):
        out = {"minimumSize": value.minimum_size, "maximumSize": value.maximum_size}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(value, tuple):
        if value and isinstance(value[0], EmailAddress):
            return recipients([a for a in value if isinstance(a, EmailAddress)])
        return list(value)
    return value


def predicates_json(predicates: Predicates) -> dict[str, Any]:
    """The predicates that are set (Graph leaves unset ones out)."""
    return {camel(name): _value_json(value) for name, value in predicates.values.items()}


def rule_json(rule: MessageRule) -> dict[str, Any]:
    """A `messageRule` (conditions/exceptions only when they hold something, as Graph shows them)."""
    actions = {
        _ACTION_NAMES[name]: _value_json(getattr(rule.actions, name))
        for name in _ACTION_FIELDS.values()
        if getattr(rule.actions, name) is not None
    }
    out: dict[str, Any] = {
        "id": rule.id,
        "displayName": rule.display_name,
        "sequence": rule.sequence,
        "isEnabled": rule.is_enabled,
        "hasError": rule.has_error,
        "isReadOnly": rule.is_read_only,
    }
    if rule.conditions.values:
        out["conditions"] = predicates_json(rule.conditions)
    if rule.exceptions.values:
        out["exceptions"] = predicates_json(rule.exceptions)
    out["actions"] = actions
    return out
