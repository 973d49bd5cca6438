"""Inbox rules at delivery: which rules match a message, and what they decide (pure; no store writes).

Evaluation (docs/rules-and-auto-replies.md): rules run in `sequence` order (then creation order); a
disabled rule is skipped. A rule applies when all its conditions hold (no conditions: every message) and
none of its exceptions does (each exception field is one exception, as Outlook's "except if … or …").
Within one field a list matches when any entry does; text comparisons ignore case. A boolean predicate
is a test only when true (`hasAttachments: false` tests nothing, as in Exchange's rule predicates).

Actions accumulate over the matching rules: the first move (moveToFolder, or delete → Deleted Items)
places the message, later moves become copies (Exchange's server-side rules do the same);
permanentDelete keeps no Inbox copy; markAsRead, markImportance, assignCategories change the copy
before it is stored; forwards, redirects and forwards-as-attachment are collected for the delivery to
send (the last after its commit, domain/rule_forwards.py); stopProcessingRules
ends the evaluation after its rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from mailgraph.domain.model import EmailAddress, InternetMessageHeader, Message, User
from mailgraph.domain.rule_model import MessageRule, Predicates, PredicateValue, SizeRange
from mailgraph.mime.text import html_to_text

LOOP_HEADER = "X-MS-Exchange-Inbox-Rules-Loop"
"""Exchange stamps each mailbox whose rule forwarded a message; a mailbox never forwards one twice."""
MAX_RULE_HOPS = 3
"""A message forwarded by rules this many times is forwarded no more (loop protection)."""

ForwardKind = Literal["forward", "redirect", "attach"]
"""forwardTo, redirectTo, forwardAsAttachmentTo."""


@dataclass(frozen=True, slots=True)
class Forward:
    """One forward or redirect a rule asked for."""

    kind: ForwardKind
    to: tuple[EmailAddress, ...]


@dataclass(slots=True)
class Decision:
    """What the rules decided for one delivered copy."""

    move_to: str | None = None
    """The folder (id or well-known name) the copy goes to instead of the Inbox."""
    copies: list[str] = field(default_factory=list)
    discard: bool = False
    mark_read: bool = False
    importance: str | None = None
    categories: list[str] = field(default_factory=list)
    forwards: list[Forward] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)
    """Ids of the rules that applied (for logs and tests)."""


@dataclass(slots=True)
class Facts:
    """The message as the predicates see it, for one recipient mailbox."""

    message: Message
    owner: User
    size_kb: int | None = None
    """Set by the caller when some rule tests withinSizeRange (it costs an attachment read)."""
    _text: str | None = None

    @property
    def body_text(self) -> str:
        """The body as lower-cased text (HTML converted once)."""
        if self._text is None:
            body = self.message.body
            text = html_to_text(body.content) if body.content_type == "html" else body.content
            self._text = text.casefold()
        return self._text


def header(headers: Sequence[InternetMessageHeader], name: str) -> str | None:
    """The first value of a header, by case-insensitive name."""
    key = name.casefold()
    return next((h.value for h in headers if h.name.casefold() == key), None)


def is_automatic(headers: Sequence[InternetMessageHeader]) -> bool:
    """Mail no automatic answer may go to (RFC 3834 §2, §3.1.8): Auto-Submitted other than "no",
    Precedence bulk/list/junk, or a mailing list (List-Id)."""
    submitted = (header(headers, "Auto-Submitted") or "no").strip().casefold()
    precedence = (header(headers, "Precedence") or "").strip().casefold()
    return (
        not submitted.startswith("no")
        or precedence in ("bulk", "list", "junk")
        or header(headers, "List-Id") is not None
    )


def _any_in(needles: PredicateValue, haystack: str) -> bool:
    assert isinstance(needles, tuple)
    return any(isinstance(n, str) and n.casefold() in haystack for n in needles)


def _addresses_in(wanted: PredicateValue, found: Sequence[EmailAddress]) -> bool:
    assert isinstance(wanted, tuple)
    keys = {a.key for a in found}
    return any(isinstance(w, EmailAddress) and w.key in keys for w in wanted)


def _people(items: Sequence[EmailAddress]) -> str:
    return " ".join(f"{a.name} {a.address}" for a in items).casefold()


def _content_type(m: Message) -> str:
    return (header(m.headers, "Content-Type") or "").casefold()


def _owner_in(owner: User, items: Sequence[EmailAddress]) -> bool:
    mine = {owner.mail.casefold(), owner.user_principal_name.casefold()}
    return any(a.key in mine for a in items)


def _flag(name: str, f: Facts) -> bool:
    m = f.message
    if name == "has_attachments":
        return m.has_attachments
    if name == "is_automatic_reply":
        return (header(m.headers, "Auto-Submitted") or "").strip().casefold() == "auto-replied"
    if name == "is_automatic_forward":
        auto = (header(m.headers, "Auto-Submitted") or "").strip().casefold()
        return auto == "auto-forwarded" or header(m.headers, LOOP_HEADER) is not None
    if name == "is_non_delivery_report":
        sender = (m.from_ or m.sender or EmailAddress("")).address.split("@")[0].casefold()
        return sender in ("postmaster", "mailer-daemon") or "report-type=delivery-status" in _content_type(m)
    if name == "is_read_receipt":
        return "report-type=disposition-notification" in _content_type(m)
    if name == "is_signed":
        return "multipart/signed" in _content_type(m) or "signed-data" in _content_type(m)
    if name == "is_encrypted":
        return "multipart/encrypted" in _content_type(m) or "enveloped-data" in _content_type(m)
    if name == "is_meeting_request":
        return "method=request" in _content_type(m)
    if name == "is_meeting_response":
        return "method=reply" in _content_type(m)
    to_me, cc_me = _owner_in(f.owner, m.to), _owner_in(f.owner, m.cc)
    if name == "sent_to_me":
        return to_me
    if name == "sent_cc_me":
        return cc_me
    if name == "sent_to_or_cc_me":
        return to_me or cc_me
    if name == "not_sent_to_me":
        return not (to_me or cc_me)
    if name == "sent_only_to_me":
        return to_me and len({a.key for a in (*m.to, *m.cc)}) == 1
    # isApprovalRequest, isVoicemail, isPermissionControlled: message classes this server never
    # receives (no approval, voicemail or RMS items), so the test never holds.
    return False


def holds(name: str, value: PredicateValue, f: Facts) -> bool:
    """Whether one predicate field holds for the message."""
    m = f.message
    if isinstance(value, bool):
        return not value or _flag(name, f)  # a false flag tests nothing
    if name == "subject_contains":
        return _any_in(value, m.subject.casefold())
    if name == "body_contains":
        return _any_in(value, f.body_text)
    if name == "body_or_subject_contains":
        return _any_in(value, m.subject.casefold()) or _any_in(value, f.body_text)
    if name == "sender_contains":
        return _any_in(value, _people([a for a in (m.from_,) if a is not None]))
    if name == "recipient_contains":
        return _any_in(value, _people([*m.to, *m.cc]))
    if name == "header_contains":
        return _any_in(value, "\n".join(f"{h.name}: {h.value}" for h in m.headers).casefold())
    if name == "categories":
        return _any_in(value, "\n".join(m.categories).casefold())
    if name == "from_addresses":
        return _addresses_in(value, [a for a in (m.from_, m.sender) if a is not None])
    if name == "sent_to_addresses":
        return _addresses_in(value, [*m.to, *m.cc])
    if name == "importance":
        return m.importance == value
    if name == "sensitivity":
        stated = (header(m.headers, "Sensitivity") or "normal").strip().casefold()
        return {"company-confidential": "confidential"}.get(stated, stated) == value
    if name == "message_action_flag":
        return value == "any" and m.flag.flag_status == "flagged"
    if isinstance(value, SizeRange):
        size = f.size_kb or 0
        low, high = value.minimum_size, value.maximum_size
        return (low is None or size >= low) and (high is None or size <= high)
    return False


def _all(predicates: Predicates, f: Facts) -> bool:
    return all(holds(n, v, f) for n, v in predicates.values.items())


def _any_exception(predicates: Predicates, f: Facts) -> bool:
    return any(holds(n, v, f) for n, v in predicates.values.items() if v is not False)


def uses_size(rules: Sequence[MessageRule]) -> bool:
    """Whether any enabled rule tests the message size (the caller then sets `Facts.size_kb`)."""
    return any(
        r.is_enabled
        and ("within_size_range" in r.conditions.values or "within_size_range" in r.exceptions.values)
        for r in rules
    )


def decide(rules: Sequence[MessageRule], f: Facts) -> Decision:
    """Run the mailbox's rules (already in sequence order) on one delivered message."""
    d = Decision()
    loops = [h.value.casefold() for h in f.message.headers if h.name.casefold() == LOOP_HEADER.casefold()]
    may_forward = f.owner.mail.casefold() not in loops and len(loops) < MAX_RULE_HOPS
    for rule in rules:
        if not rule.is_enabled or not _all(rule.conditions, f) or _any_exception(rule.exceptions, f):
            continue
        a = rule.actions
        d.matched.append(rule.id)
        for target in (a.move_to_folder, "deleteditems" if a.delete else None):
            if target is None:
                continue
            if d.move_to is None:
                d.move_to = target
            else:
                d.copies.append(target)
        if a.copy_to_folder:
            d.copies.append(a.copy_to_folder)
        d.discard = d.discard or bool(a.permanent_delete)
        d.mark_read = d.mark_read or bool(a.mark_as_read)
        d.importance = a.mark_importance or d.importance
        d.categories += [c for c in a.assign_categories or () if c not in d.categories]
        if may_forward:
            for kind, to in (
                ("forward", a.forward_to),
                ("redirect", a.redirect_to),
                ("attach", a.forward_as_attachment_to),
            ):
                if to:
                    d.forwards.append(Forward(kind, tuple(to)))  # type: ignore[arg-type]
        if a.stop_processing_rules:
            break
    return d
