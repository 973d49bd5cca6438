"""The model of Inbox rules (Graph `messageRule`, `messageRulePredicates`, `messageRuleActions`) and
their repository port; no behaviour (domain/message_rules.py, domain/rule_engine.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal, Protocol

from mailgraph.domain.model import EmailAddress, Timestamp

PredicateKind = Literal["strings", "recipients", "flag", "importance", "sensitivity", "action_flag", "size"]

# messagerulepredicates.md: every property Graph defines, with its value kind.
PREDICATE_FIELDS: dict[str, PredicateKind] = {
    "body_contains": "strings",
    "body_or_subject_contains": "strings",
    "categories": "strings",
    "from_addresses": "recipients",
    "has_attachments": "flag",
    "header_contains": "strings",
    "importance": "importance",
    "is_approval_request": "flag",
    "is_automatic_forward": "flag",
    "is_automatic_reply": "flag",
    "is_encrypted": "flag",
    "is_meeting_request": "flag",
    "is_meeting_response": "flag",
    "is_non_delivery_report": "flag",
    "is_permission_controlled": "flag",
    "is_read_receipt": "flag",
    "is_signed": "flag",
    "is_voicemail": "flag",
    "message_action_flag": "action_flag",
    "not_sent_to_me": "flag",
    "recipient_contains": "strings",
    "sender_contains": "strings",
    "sensitivity": "sensitivity",
    "sent_cc_me": "flag",
    "sent_only_to_me": "flag",
    "sent_to_addresses": "recipients",
    "sent_to_me": "flag",
    "sent_to_or_cc_me": "flag",
    "subject_contains": "strings",
    "within_size_range": "size",
}
IMPORTANCE = ("low", "normal", "high")
SENSITIVITY = ("normal", "personal", "private", "confidential")
ACTION_FLAGS = (
    "any", "call", "doNotForward", "followUp", "fyi", "forward", "noResponseNecessary", "read", "reply",
    "replyToAll", "review",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SizeRange:
    """Graph `sizeRange`, in kilobytes (both bounds inclusive; an absent bound does not limit)."""

    minimum_size: int | None = None
    maximum_size: int | None = None


PredicateValue = tuple[str, ...] | tuple[EmailAddress, ...] | bool | str | SizeRange


@dataclass(frozen=True, slots=True)
class Predicates:
    """Graph `messageRulePredicates`: the fields the caller set (`values`, keys of PREDICATE_FIELDS)."""

    values: dict[str, PredicateValue] = field(default_factory=dict)

    def get(self, name: str) -> PredicateValue | None:
        """A field's value, or None when not set."""
        return self.values.get(name)


@dataclass(frozen=True, slots=True)
class RuleActions:
    """Graph `messageRuleActions`. `redirect_to` keeps the list even when one recipient was sent."""

    assign_categories: tuple[str, ...] | None = None
    copy_to_folder: str | None = None
    delete: bool | None = None
    forward_as_attachment_to: tuple[EmailAddress, ...] | None = None
    forward_to: tuple[EmailAddress, ...] | None = None
    mark_as_read: bool | None = None
    mark_importance: str | None = None
    move_to_folder: str | None = None
    permanent_delete: bool | None = None
    redirect_to: tuple[EmailAddress, ...] | None = None
    stop_processing_rules: bool | None = None

    def is_empty(self) -> bool:
        """No action at all (Graph requires at least one)."""
        return all(getattr(self, f.name) in (None, False, ()) for f in fields(self))


@dataclass(frozen=True, slots=True)
class MessageRule:
    """One Inbox rule of a mailbox."""

    id: str
    mailbox_id: str
    display_name: str
    sequence: int
    is_enabled: bool
    conditions: Predicates
    exceptions: Predicates
    actions: RuleActions
    created_at: Timestamp
    has_error: bool = False
    is_read_only: bool = False


class RuleRepo(Protocol):
    """Storage of the rules (store/sql/rules.py)."""

    async def list(self, mailbox_ids: list[str]) -> list[MessageRule]:
        """The rules of these mailboxes, by mailbox then sequence then creation."""
        ...

    async def get(self, mailbox_id: str, rule_id: str) -> MessageRule | None:
        """One rule."""
        ...

    async def put(self, rule: MessageRule) -> None:
        """Insert or replace a rule."""
        ...

    async def delete(self, mailbox_id: str, rule_id: str) -> bool:
        """Remove a rule; False if there was none."""
        ...
