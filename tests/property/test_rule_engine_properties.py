"""Hypothesis properties of Inbox rule evaluation (domain/rule_engine.py), on generated messages.

Metamorphic laws rather than a second implementation: adding a condition never widens a rule; an
exception equal to a condition blocks it; text tests ignore case; stopProcessingRules cuts the list;
a mailbox never forwards a message it already forwarded.
"""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mailgraph.domain.model import EmailAddress, InternetMessageHeader, ItemBody, Message, User
from mailgraph.domain.rule_engine import LOOP_HEADER, Facts, decide, holds
from mailgraph.domain.rule_model import MessageRule, Predicates, PredicateValue, RuleActions, SizeRange

OWNER = User("u1", "t1", "alice@fabrikam.test", "alice@fabrikam.test", "Alice", None)
POOL = [EmailAddress(a) for a in ("alice@fabrikam.test", "bob@fabrikam.test", "carol@example.org")]
WORDS = st.sampled_from(["invoice", "Zeta", "hello", "REPORT", "x"])
people = st.lists(st.sampled_from(POOL), max_size=3)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    return Message(
        id="m", rest_id="r", mailbox_id="u1", folder_id="f", change_key="c", created_at=0, modified_at=0,
        received_at=0, sent_at=0, is_draft=False, is_read=False, internet_message_id="<a@b>",
        conversation_id="c", conversation_index="",
        subject=" ".join(draw(st.lists(WORDS, max_size=3))),
        body=ItemBody("text", " ".join(draw(st.lists(WORDS, max_size=3)))),
        importance=draw(st.sampled_from(["low", "normal", "high"])),
        from_=draw(st.sampled_from(POOL)), to=draw(people), cc=draw(people),
        categories=draw(st.lists(st.sampled_from(["Red", "Blue"]), max_size=2)),
        headers=draw(st.lists(st.builds(InternetMessageHeader, st.sampled_from(["X-A", "Auto-Submitted"]),
                                        st.sampled_from(["auto-replied", "yes", "no"])), max_size=2)),
        has_attachments=draw(st.booleans()),
    )  # fmt: skip


FIELDS: dict[str, st.SearchStrategy[PredicateValue]] = {
    "subject_contains": st.lists(WORDS, min_size=1, max_size=2).map(tuple),
    "body_contains": st.lists(WORDS, min_size=1, max_size=2).map(tuple),
    "body_or_subject_contains": st.lists(WORDS, min_size=1, max_size=2).map(tuple),
    "sender_contains": st.lists(st.sampled_from(["bob", "ALICE", "example"]), min_size=1).map(tuple),
    "recipient_contains": st.lists(st.sampled_from(["bob", "CAROL"]), min_size=1).map(tuple),
    "from_addresses": st.lists(st.sampled_from(POOL), min_size=1).map(tuple),
    "sent_to_addresses": st.lists(st.sampled_from(POOL), min_size=1).map(tuple),
    "importance": st.sampled_from(["low", "normal", "high"]),
    "categories": st.lists(st.sampled_from(["red", "blue"]), min_size=1).map(tuple),
    "header_contains": st.lists(st.sampled_from(["auto-replied", "x-a"]), min_size=1).map(tuple),
    "has_attachments": st.booleans(),
    "is_automatic_reply": st.booleans(),
    "sent_to_me": st.booleans(),
    "sent_only_to_me": st.booleans(),
    "sent_cc_me": st.booleans(),
    "sent_to_or_cc_me": st.booleans(),
    "not_sent_to_me": st.booleans(),
    "within_size_range": st.builds(SizeRange, st.integers(0, 3), st.integers(3, 6)),
}
predicates = st.dictionaries(st.sampled_from(sorted(FIELDS)), st.none(), max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: FIELDS[k] for k in keys})
)


def _rule(conditions: dict[str, PredicateValue], exceptions: dict[str, PredicateValue] | None = None,
          **actions: object) -> MessageRule:  # fmt: skip
    return MessageRule("r", "u1", "r", 1, True, Predicates(conditions), Predicates(exceptions or {}),
                       RuleActions(**actions or {"mark_as_read": True}), 0)  # type: ignore[arg-type]  # fmt: skip


def applies(rule: MessageRule, m: Message) -> bool:
    return bool(decide([rule], Facts(m, OWNER, size_kb=3)).matched)


@settings(max_examples=150, deadline=None)
@given(messages(), predicates, st.sampled_from(sorted(FIELDS)), st.data())
def test_adding_a_condition_never_widens_a_rule(
    m: Message, base: dict, extra: str, data: st.DataObject
) -> None:  # type: ignore[type-arg]
    assume(extra not in base)  # a field already there would be replaced, not added
    wider = _rule(base)
    narrower = _rule({**base, extra: data.draw(FIELDS[extra])})
    assert not applies(narrower, m) or applies(wider, m)


@settings(max_examples=150, deadline=None)
@given(messages(), predicates)
def test_an_exception_equal_to_the_conditions_blocks_the_rule(m: Message, conditions: dict) -> None:  # type: ignore[type-arg]
    tests = {k: v for k, v in conditions.items() if v is not False}
    if tests:
        assert not applies(_rule(conditions, tests), m)


@settings(max_examples=200, deadline=None)
@given(messages(), st.lists(WORDS, min_size=1, max_size=2))
def test_text_tests_ignore_case(m: Message, words: list[str]) -> None:
    for name in ("subject_contains", "body_contains", "body_or_subject_contains"):
        lower = holds(name, tuple(w.lower() for w in words), Facts(m, OWNER))
        assert holds(name, tuple(w.upper() for w in words), Facts(m, OWNER)) is lower


@settings(max_examples=200, deadline=None)
@given(messages(), st.lists(predicates, min_size=1, max_size=4), st.integers(0, 3))
def test_stop_processing_rules_ends_the_evaluation(m: Message, sets: list[dict], stop: int) -> None:  # type: ignore[type-arg]
    rules = [
        _rule(c, assign_categories=(f"c{i}",), stop_processing_rules=i == stop) for i, c in enumerate(sets)
    ]
    rules = [MessageRule(f"r{i}", *(r.mailbox_id, r.display_name, i, True, r.conditions, r.exceptions, r.actions, 0))
             for i, r in enumerate(rules)]  # fmt: skip
    decision = decide(rules, Facts(m, OWNER, size_kb=3))
    if f"r{stop}" in decision.matched:
        assert decision.matched[-1] == f"r{stop}"
    assert decision.categories == [f"c{r[1:]}" for r in decision.matched]


@settings(max_examples=100, deadline=None)
@given(messages(), st.integers(0, 4))
def test_a_mailbox_never_forwards_what_it_forwarded(m: Message, hops: int) -> None:
    others = [InternetMessageHeader(LOOP_HEADER, f"u{i}@example.org") for i in range(hops)]
    forward = _rule({}, forward_to=(EmailAddress("z@example.org"),))
    m.headers = others  # three hops at most (MAX_RULE_HOPS)
    assert len(decide([forward], Facts(m, OWNER)).forwards) == (1 if hops < 3 else 0)
    m.headers = [*others, InternetMessageHeader(LOOP_HEADER, OWNER.mail)]
    assert decide([forward], Facts(m, OWNER)).forwards == []
