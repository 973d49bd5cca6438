"""Store contract of the per-mailbox send limits (migration 0020): counters locked per unit, held sends
claimed under a lease and released once, gone with their item. Runs on every engine of the suite."""

from __future__ import annotations

import asyncio
import random

from mailgraph.domain.model import SECOND
from mailgraph.domain.ports import Tx
from mailgraph.domain.send_quota import HeldSend, QuotaState, admission_of, admit
from mailgraph.domain.throttling import Limits
from mailgraph.store.contract import Engine
from tests.store.test_contract import message, seed


async def test_lock_starts_at_zero_and_put_keeps_the_counters(engine: Engine) -> None:
    (alice,) = await seed(engine, "alice")
    first = await engine.write(lambda tx: tx.send_quota.lock(alice.id))
    assert first == QuotaState(alice.id)
    state = QuotaState(alice.id, 10, 2, 5, 7, 99)
    await engine.write(lambda tx: tx.send_quota.put(state))
    assert await engine.write(lambda tx: tx.send_quota.lock(alice.id)) == state


async def test_concurrent_units_count_one_after_the_other(engine: Engine) -> None:
    """Twenty units each read-modify-write the counter at once: none counts from a stale state."""
    (alice,) = await seed(engine, "alice")

    async def one(tx: Tx) -> None:
        state = await tx.send_quota.lock(alice.id)  # PostgreSQL: pool connections really overlap here
        await tx.send_quota.put(QuotaState(alice.id, window_sends=state.window_sends + 1))

    await asyncio.gather(*(engine.write(one) for _ in range(20)))
    assert (await engine.write(lambda tx: tx.send_quota.lock(alice.id))).window_sends == 20


async def test_held_sends_are_claimed_under_a_lease_and_released_once(engine: Engine) -> None:
    (alice,) = await seed(engine, "alice")
    folders = await engine.read(lambda tx: tx.folders.well_known_ids(alice.id))
    items = [message(alice, folders["outbox"], 1, f"s{i}") for i in range(3)]

    async def hold(tx: Tx) -> None:
        for i, item in enumerate(items):
            await tx.messages.insert(item)
            await tx.send_quota.hold(HeldSend(f"h{i}", item.id, alice.id, i != 1, 100 * (i + 1), 1))

    await engine.write(hold)
    assert await engine.write(lambda tx: tx.send_quota.claim_due(50, 500, 10)) == []  # none due yet
    due = await engine.write(lambda tx: tx.send_quota.claim_due(250, 500, 10))
    assert [(h.id, h.save_copy, h.lease_until) for h in due] == [("h0", True, 500), ("h1", False, 500)]
    assert await engine.write(lambda tx: tx.send_quota.claim_due(260, 600, 10)) == []  # leased
    assert await engine.write(lambda tx: tx.send_quota.release("h0", 499)) is False  # not this lease
    assert await engine.write(lambda tx: tx.send_quota.release("h0", 500)) is True
    assert await engine.write(lambda tx: tx.send_quota.release("h0", 500)) is False  # exactly once
    again = await engine.write(lambda tx: tx.send_quota.claim_due(700, 900, 10))  # h1's lease ran out
    assert [h.id for h in again] == ["h1", "h2"]
    await engine.write(lambda tx: tx.messages.delete(items[2].id))  # deleting the item cancels it
    assert [h.id for h in await engine.read(lambda tx: tx.send_quota.held(alice.id))] == ["h1"]


async def test_count_is_admit_in_one_statement(engine: Engine) -> None:
    """`count` (one upsert) gives exactly the state `admit` gives, from random states near every edge:
    blocked or not, day over or not, window over or full, recipient limit passed or not; and a new row."""
    alice, *fresh_users = await seed(engine, "alice", *(f"new{i}" for i in range(30)))
    rng = random.Random(13)
    now = 1_700_000_000 * SECOND
    for case in range(300):
        limits = Limits(sends=rng.choice([1, 2, 30]), sends_window_s=rng.choice([1, 60]),
                        recipients=rng.choice([1, 5, 10_000]), recipients_window_s=rng.choice([60, 86_400]))  # fmt: skip
        span, day = limits.sends_window_s * SECOND, limits.recipients_window_s * SECOND
        state = QuotaState(
            alice.id,
            window_start=now + rng.choice([-2 * span, -span, -span + 1, -1, 0, span]),
            window_sends=rng.choice([0, limits.sends - 1, limits.sends]),
            day_start=now + rng.choice([-day, -day + 1, -1, 0]),
            day_recipients=rng.choice([0, limits.recipients - 1, limits.recipients]),
            blocked_until=rng.choice([0, now - 1, now, now + 1]),
        )
        recipients = rng.choice([1, 2, 6])
        mailbox = alice.id
        if case % 10 == 0:  # a mailbox without a row yet: the INSERT branch
            mailbox = fresh_users[case // 10].id
            state = QuotaState(mailbox)
        else:
            await engine.write(lambda tx: tx.send_quota.lock(alice.id))
            await engine.write(lambda tx, state=state: tx.send_quota.put(state))  # type: ignore[misc]
        want, admission = admit(state, limits, recipients, now)
        got = await engine.write(
            lambda tx, m=mailbox, lim=limits, n=recipients: tx.send_quota.count(m, lim, n, now)  # type: ignore[misc]
        )
        assert got == want, (case, state, limits, recipients)
        assert admission_of(got, now) == admission
