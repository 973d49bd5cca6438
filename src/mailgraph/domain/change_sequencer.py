"""The background change sequencer (issue 11, migration 0039): numbers committed changes after commit.

On an engine that numbers after commit (PostgreSQL, `Dialect.numbers_after_commit`), a write unit
leaves its changes in `change_log_pending` instead of taking its mailbox clock's row lock, which was
held until the commit was flushed and serialized all units of one mailbox (docs/scaling.md). This
task keeps the pending rows few: every `interval_s` it numbers them (`ChangeLogRepo.sequence`), `batch`
at a time, each batch in a short unit of its own, until none is left. Delta reads do not wait for it:
they sequence their mailbox's pending changes themselves before they read (domain/delta.py), so a
client sees its own writes. Sequencers in several processes at once take disjoint rows and are
serialized per mailbox by the clock's row lock, so it may run late, twice at once or not at all.
Nothing else reads change numbers: webhooks are written by the unit itself (its notification outbox).
"""

from __future__ import annotations

from collections.abc import Awaitable

from mailgraph.domain.periodic import Drain
from mailgraph.domain.ports import Tx, UnitOfWork

INTERVAL_S = 0.5
"""How often pending changes are numbered (half a second of writes: a few thousand rows at most)."""
BATCH = 5000
"""Pending ids per sequencing unit: bounds the unit, so each clock's row lock is held briefly."""


class ChangeSequencer(Drain):
    """Numbers pending changes in the background (`run`: now)."""

    def __init__(self, uow: UnitOfWork, interval_s: float = INTERVAL_S, batch: int = BATCH) -> None:
        super().__init__("mailgraph-change-sequencer", uow, _sequence, interval_s, batch)


def _sequence(tx: Tx, batch: int) -> Awaitable[int]:
    return tx.change_log.sequence(None, batch)
