"""Operator view of change notifications, shared by `mailgraph subscriptions …` and `/admin/subscriptions`.

Lists and shows subscriptions across tenants, removes one (its app learns through a
`subscriptionRemoved` lifecycle event when it gave a lifecycle URL), and counts the notification outbox
(pending = waiting for delivery or a retry; failed = dropped after the retry window).
"""

from __future__ import annotations

from collections.abc import Callable

from mailgraph.domain.model import Timestamp
from mailgraph.domain.ports import Tx, UnitOfWork
from mailgraph.domain.subscriptions import Subscription
from mailgraph.domain.webhooks import lifecycle


class SubscriptionAdmin:
    """Subscriptions and outbox counts for operators (no Graph permission covers all mailboxes)."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], Timestamp]) -> None:
        self._uow = uow
        self._clock = clock

    async def list_all(self) -> list[Subscription]:
        """Every subscription of every tenant, oldest first."""
        return await self._uow.read(lambda tx: tx.subscriptions.list_subscriptions(None))

    async def show(self, sub_id: str) -> Subscription | None:
        """One subscription by id."""
        return await self._uow.read(lambda tx: tx.subscriptions.get(sub_id))

    async def delete(self, sub_id: str) -> bool:
        """Remove a subscription; queue `subscriptionRemoved` to its lifecycle URL. False if unknown."""

        async def unit(tx: Tx) -> bool:
            sub = await tx.subscriptions.get(sub_id)
            if sub is None or not await tx.subscriptions.delete(sub_id):
                return False
            event = lifecycle(sub, "subscriptionRemoved", self._clock())
            if event is not None:
                await tx.subscriptions.enqueue([event])
            return True

        return await self._uow.write(unit)

    async def counts(self) -> dict[str, int]:
        """Notification outbox rows: {"pending": n, "failed": n}."""
        return await self._uow.read(lambda tx: tx.subscriptions.counts())

    async def purge_failed(self) -> int:
        """Forget dropped notifications."""
        return await self._uow.write(lambda tx: tx.subscriptions.purge_failed())
