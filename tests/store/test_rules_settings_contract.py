"""Store contract of Inbox rules, mailbox settings and the automatic-reply log (migration 0022): every
predicate and action round-trips, rules come back in sequence order, a sender is recorded once per
generation even when units race, a new generation forgets the old log. Runs on every engine."""

from __future__ import annotations

import asyncio

from mailgraph.domain.model import DateTimeTimeZone, EmailAddress
from mailgraph.domain.ports import Tx
from mailgraph.domain.rule_model import MessageRule, Predicates, RuleActions, SizeRange
from mailgraph.domain.settings_model import AutomaticReplies, MailboxSettings, StoredSettings, WorkingHours
from mailgraph.store.contract import Engine
from tests.store.test_contract import seed

BOB = EmailAddress("bob@fabrikam.test", "Bob")


def _rule(rule_id: str, mailbox_id: str, sequence: int, created: int) -> MessageRule:
    conditions = Predicates({
        "subject_contains": ("a", "b"), "from_addresses": (BOB,), "has_attachments": True,
        "importance": "high", "within_size_range": SizeRange(1, None), "message_action_flag": "followUp",
    })  # fmt: skip
    actions = RuleActions(
        move_to_folder="archive", redirect_to=(BOB,), assign_categories=("Red",), stop_processing_rules=True
    )
    return MessageRule(rule_id, mailbox_id, f"rule {rule_id}", sequence, True, conditions,
                       Predicates({"sent_cc_me": False}), actions, created)  # fmt: skip


async def test_rules_round_trip_in_sequence_order(engine: Engine) -> None:
    alice, bob = await seed(engine, "alice", "bob")
    rules = [_rule("r1", alice.id, 5, 1), _rule("r2", alice.id, 1, 2), _rule("r3", bob.id, 0, 3)]

    async def put(tx: Tx) -> None:
        for rule in rules:
            await tx.message_rules.put(rule)

    await engine.write(put)
    found = await engine.read(lambda tx: tx.message_rules.list([alice.id]))
    assert found == [rules[1], rules[0]]
    assert await engine.read(lambda tx: tx.message_rules.get(alice.id, "r3")) is None  # another mailbox's
    changed = MessageRule(
        "r1", alice.id, "renamed", 0, False, Predicates(), Predicates(), RuleActions(delete=True), 1
    )
    await engine.write(lambda tx: tx.message_rules.put(changed))
    assert await engine.read(lambda tx: tx.message_rules.get(alice.id, "r1")) == changed
    assert await engine.write(lambda tx: tx.message_rules.delete(alice.id, "r1")) is True
    assert await engine.write(lambda tx: tx.message_rules.delete(alice.id, "r1")) is False


async def test_settings_round_trip_and_replies_are_recorded_once_per_generation(engine: Engine) -> None:
    (alice,) = await seed(engine, "alice")
    settings = MailboxSettings(
        time_zone="Europe/Berlin",
        working_hours=WorkingHours(("monday",), "09:00:00.0000000", "17:30:00.0000000", "UTC"),
        automatic_replies=AutomaticReplies(
            "scheduled", "none", DateTimeTimeZone("2030-01-01T00:00:00", "UTC"),
            DateTimeTimeZone("2030-01-02T00:00:00", "UTC"), "in", "out",
        ),
    )  # fmt: skip
    assert await engine.read(lambda tx: tx.mailbox_settings.get_many([alice.id])) == {}
    await engine.write(lambda tx: tx.mailbox_settings.put(StoredSettings(alice.id, settings, 1), 5))
    stored = await engine.read(lambda tx: tx.mailbox_settings.get_many([alice.id]))
    assert stored == {alice.id: StoredSettings(alice.id, settings, 1)}

    async def record(tx: Tx) -> bool:
        return await tx.mailbox_settings.record_reply(alice.id, 1, "sam@example.org", 6)

    outcomes = await asyncio.gather(*(engine.write(record) for _ in range(5)))
    assert sorted(outcomes) == [False, False, False, False, True]  # racing deliveries answer once
    await engine.write(lambda tx: tx.mailbox_settings.put(StoredSettings(alice.id, settings, 2), 7))
    assert await engine.write(lambda tx: tx.mailbox_settings.record_reply(alice.id, 2, "sam@example.org", 8))
