"""The background fold of folder item-count deltas (issue 11, migration 0029).

Message writes never update a folder row: each appends a count delta (store/sql/messages.py), and
readers add a folder's pending deltas to its row (store/sql/folders.py). That keeps the folder row out
of every write unit — on PostgreSQL its lock, held until the commit is flushed, serialized all units
touching one folder (docs/scaling.md, "Measured on PostgreSQL"). This task keeps the pending deltas
few: every `interval_s` it folds them into their folder rows, `batch` at a time, each batch in a short
unit of its own, until none is left. Counts read the same before and after a fold, so it may run late,
twice at once (several processes) or not at all (counts stay exact; reads just sum more rows).
"""

from __future__ import annotations

from collections.abc import Awaitable

from mailgraph.domain.periodic import Drain
from mailgraph.domain.ports import Tx, UnitOfWork

INTERVAL_S = 1.0
"""How often the pending deltas are folded (a second's worth of writes is a few thousand rows)."""
BATCH = 5000
"""Delta ids per folding unit: bounds the unit's length, so the folder rows are held only briefly."""


class FolderCountFolder(Drain):
    """Folds pending folder-count deltas into the folder rows, in the background (`run`: now)."""

    def __init__(self, uow: UnitOfWork, interval_s: float = INTERVAL_S, batch: int = BATCH) -> None:
        super().__init__("mailgraph-folder-counts", uow, _fold, interval_s, batch)

    async def fold(self) -> int:
        """Fold the pending deltas now (all of them unless more keep coming); returns how many."""
        return await self.run()


def _fold(tx: Tx, batch: int) -> Awaitable[int]:
    return tx.folders.fold_counts(batch)
