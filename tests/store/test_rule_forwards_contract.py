"""The rules' pending forwards-as-attachment (migration 0032) on every engine: leased claims, finish
exactly once under the lease, retries, and the row going with its copy."""

from __future__ import annotations

import asyncio

from mailgraph.domain.model import EmailAddress
from mailgraph.domain.ports import Tx
from mailgraph.domain.rule_forwards import PendingForward
from mailgraph.store.contract import Engine
from tests.store.test_contract import message, seed

FAR = (EmailAddress("far@example.net", "Far Away"), EmailAddress("near@example.org"))


async def _pending(engine: Engine) -> tuple[list[PendingForward], list[str]]:
    (alice,) = await seed(engine, "alice")
    inbox = (await engine.read(lambda tx: tx.folders.well_known_ids(alice.id)))["inbox"]
    items = [message(alice, inbox, 1, f"s{i}") for i in range(3)]
    jobs = [
        PendingForward(f"f{i}", item.id, alice.id, FAR, 0, 100 * (i + 1), 1) for i, item in enumerate(items)
    ]

    async def unit(tx: Tx) -> None:
        for item, job in zip(items, jobs, strict=True):
            await tx.messages.insert(item)
            await tx.rule_forwards.add(job)

    await engine.write(unit)
    return jobs, [i.id for i in items]


async def test_claimed_under_a_lease_and_finished_once(engine: Engine) -> None:
    _, items = await _pending(engine)
    assert await engine.write(lambda tx: tx.rule_forwards.claim_due(50, 500, 10)) == []  # none due yet
    due = await engine.write(lambda tx: tx.rule_forwards.claim_due(250, 500, 10))
    assert [(j.id, j.lease_until) for j in due] == [("f0", 500), ("f1", 500)]
    assert due[0].recipients == FAR and due[0].message_id == items[0]  # recipients round-trip, names kept
    assert await engine.write(lambda tx: tx.rule_forwards.claim_due(260, 600, 10)) == []  # leased
    assert await engine.write(lambda tx: tx.rule_forwards.finish("f0", 499)) is False  # not this lease
    assert await engine.write(lambda tx: tx.rule_forwards.finish("f0", 500)) is True
    assert await engine.write(lambda tx: tx.rule_forwards.finish("f0", 500)) is False  # exactly once
    assert await engine.write(lambda tx: tx.rule_forwards.retry("f1", 499, 800)) is False
    assert await engine.write(lambda tx: tx.rule_forwards.retry("f1", 500, 800)) is True
    again = await engine.write(lambda tx: tx.rule_forwards.claim_due(700, 900, 10))
    assert [j.id for j in again] == ["f2"]  # f1 waits for its retry time
    (f1,) = await engine.write(lambda tx: tx.rule_forwards.claim_due(850, 1100, 10))  # f2 still leased
    assert (f1.id, f1.attempts) == ("f1", 1)
    await engine.write(lambda tx: tx.messages.delete(items[2]))  # purging the copy drops its forward
    assert [j.id for j in await engine.read(lambda tx: tx.rule_forwards.pending())] == ["f1"]


async def test_concurrent_claims_never_share_a_row(engine: Engine) -> None:
    await _pending(engine)
    claims = await asyncio.gather(
        *(engine.write(lambda tx, n=n: tx.rule_forwards.claim_due(1000, 2000 + n, 1)) for n in range(5))
    )
    claimed = [j.id for batch in claims for j in batch]
    assert sorted(claimed) == ["f0", "f1", "f2"]
