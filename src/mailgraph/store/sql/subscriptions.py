"""Subscriptions and the notification outbox (migration 0016): `domain.ports.SubscriptionRepo` in SQL.

The outbox is a leased queue like the SMTP one (store/sql/outbox.py): a claim sets `lease_until` on
due pending rows, and every outcome is written only while the row still carries that lease, so a
runner whose lease ran out records nothing over another runner's claim. Portable SQL, `?` placeholders.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mailgraph.domain.subscriptions import Notification, Subscription, Watch

if TYPE_CHECKING:
    from mailgraph.store.contract import Conn

_SUB_COLUMNS = (
    "id, tenant_id, mailbox_id, app_id, creator_id, resource, folder_id, change_types, notification_url,"
    " lifecycle_url, client_state, expires_at, token_expires_at, include_resource_data,"
    " encryption_certificate, encryption_certificate_id, select_props, immutable_ids, version, created_at,"
    " reauth_at, since_version"
)
_NOTE_COLUMNS = (
    "id, subscription_id, kind, event, url, tenant_id, mailbox_id, item_id, resource_id, client_state,"
    " subscription_expires_at, status, attempts, created_at, next_attempt_at"
)


def _sub(r: Sequence[Any]) -> Subscription:
    return Subscription(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(r[7].split(",")), r[8], r[9], r[10], int(r[11]),
        int(r[12]), bool(r[13]), r[14], r[15], tuple(p for p in r[16].split(",") if p), bool(r[17]),
        r[18], int(r[19]), int(r[20]), int(r[21]),
    )  # fmt: skip


def _note(r: Sequence[Any]) -> Notification:
    return Notification._make(r)  # the columns of _NOTE_COLUMNS, in Notification's order (integers as such)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _chunks(values: Sequence[str], size: int = 500) -> list[Sequence[str]]:
    """`IN (…)` lists of a bounded length (SQLite's and asyncpg's parameter limits)."""
    return [values[i : i + size] for i in range(0, len(values), size)]


class SqlSubscriptions:
    """`domain.ports.SubscriptionRepo` in SQL."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def _bump(self, mailbox_id: str) -> None:
        """A new version of the mailbox's subscription set (migration 0027): in-process caches of it
        (domain/webhooks.py, delivery/webhooks.py) reread it when they see the number move."""
        await self._conn.execute(
            "INSERT INTO subscription_versions (mailbox_id, version) VALUES (?, 1) ON CONFLICT (mailbox_id)"
            " DO UPDATE SET version = subscription_versions.version + 1",
            (mailbox_id,),
        )

    async def _bump_of(self, sub_id: str) -> None:
        await self._conn.execute(
            "UPDATE subscription_versions SET version = version + 1"
            " WHERE mailbox_id = (SELECT mailbox_id FROM subscriptions WHERE id = ?)",
            (sub_id,),
        )

    async def insert(self, sub: Subscription) -> None:
        """Store a new subscription; its `since_version` is the set version its insert makes (the
        one given is ignored)."""
        s = sub
        await self._bump(s.mailbox_id)
        await self._conn.execute(
            f"INSERT INTO subscriptions ({_SUB_COLUMNS}) VALUES ({_marks(21)},"
            " (SELECT version FROM subscription_versions WHERE mailbox_id = ?))",
            (
                s.id, s.tenant_id, s.mailbox_id, s.app_id, s.creator_id, s.resource, s.folder_id,
                ",".join(s.change_types), s.notification_url, s.lifecycle_url, s.client_state, s.expires_at,
                s.token_expires_at, int(s.include_resource_data), s.encryption_certificate,
                s.encryption_certificate_id, ",".join(s.select), int(s.immutable_ids), s.version,
                s.created_at, s.reauth_at, s.mailbox_id,
            ),
        )  # fmt: skip

    async def get(self, sub_id: str) -> Subscription | None:
        """A subscription by id."""
        row = await self._conn.fetch_one(f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE id = ?", (sub_id,))
        return None if row is None else _sub(row)

    async def list_subscriptions(
        self, tenant_id: str | None, app_id: str | None = None
    ) -> list[Subscription]:
        """Subscriptions of a tenant (and app), or all; by creation time."""
        where, params = [], []
        if tenant_id is not None:
            where.append("tenant_id = ?")
            params.append(tenant_id)
        if app_id is not None:
            where.append("app_id = ?")
            params.append(app_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._conn.fetch_all(
            f"SELECT {_SUB_COLUMNS} FROM subscriptions{clause} ORDER BY created_at, id", params
        )
        return [_sub(r) for r in rows]

    async def versions(self, mailbox_ids: Sequence[str]) -> dict[str, int]:
        """The subscription-set versions of these mailboxes (absent: never had a subscription)."""
        if len(mailbox_ids) == 1:  # the common case: one statement text, one cached plan
            row = await self._conn.fetch_one(
                "SELECT version FROM subscription_versions WHERE mailbox_id = ?", (mailbox_ids[0],)
            )
            return {} if row is None else {mailbox_ids[0]: int(row[0])}
        found: dict[str, int] = {}
        for chunk in _chunks(mailbox_ids):
            rows = await self._conn.fetch_all(
                "SELECT mailbox_id, version FROM subscription_versions"
                f" WHERE mailbox_id IN ({_marks(len(chunk))})",
                chunk,
            )
            found.update((r[0], int(r[1])) for r in rows)
        return found

    async def live_watches(self, mailbox_id: str, now: int) -> list[Watch]:
        """What the in-unit match needs of the unexpired subscriptions of one mailbox, by id."""
        rows = await self._conn.fetch_all(
            "SELECT id, tenant_id, mailbox_id, folder_id, change_types, immutable_ids, expires_at"
            " FROM subscriptions WHERE mailbox_id = ? AND expires_at > ? ORDER BY id",
            (mailbox_id, now),
        )
        return [Watch(r[0], r[1], r[2], r[3], tuple(r[4].split(",")), bool(r[5]), int(r[6])) for r in rows]

    async def of_mailbox(self, mailbox_id: str, now: int) -> list[Subscription]:
        """The unexpired subscriptions of one mailbox."""
        rows = await self._conn.fetch_all(
            f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE mailbox_id = ? AND expires_at > ?",
            (mailbox_id, now),
        )
        return [_sub(r) for r in rows]

    async def get_many(self, sub_ids: Sequence[str]) -> dict[str, Subscription]:
        """The subscriptions with these ids that are still there."""
        out: dict[str, Subscription] = {}
        for chunk in _chunks(sub_ids):
            rows = await self._conn.fetch_all(
                f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE id IN ({_marks(len(chunk))})", chunk
            )
            for r in rows:
                sub = _sub(r)
                out[sub.id] = sub
        return out

    async def count_live(self, mailbox_id: str, now: int) -> int:
        """Unexpired subscriptions on one mailbox."""
        row = await self._conn.fetch_one(
            "SELECT COUNT(*) FROM subscriptions WHERE mailbox_id = ? AND expires_at > ?", (mailbox_id, now)
        )
        return int(row[0]) if row else 0

    async def renew(self, sub_id: str, expires_at: int, token_expires_at: int) -> bool:
        """New expiration and token expiry; the reauthorization reminder starts over."""
        await self._bump_of(sub_id)
        changed = await self._conn.execute(
            "UPDATE subscriptions SET expires_at = ?, token_expires_at = ?, reauth_at = ? WHERE id = ?",
            (expires_at, token_expires_at, 0, sub_id),
        )
        return changed == 1

    async def set_reauth(self, sub_id: str, reauth_at: int) -> None:
        """When the next reauthorizationRequired is due."""
        await self._conn.execute("UPDATE subscriptions SET reauth_at = ? WHERE id = ?", (reauth_at, sub_id))

    async def delete(self, sub_id: str) -> bool:
        """Remove a subscription and its pending change notifications (lifecycle events stay)."""
        await self._bump_of(sub_id)
        await self._conn.execute(
            "DELETE FROM notification_outbox WHERE subscription_id = ? AND kind = ? AND status = ?",
            (sub_id, "change", "pending"),
        )
        return await self._conn.execute("DELETE FROM subscriptions WHERE id = ?", (sub_id,)) == 1

    async def expired(self, now: int, limit: int) -> list[Subscription]:
        """Subscriptions past their expiration."""
        rows = await self._conn.fetch_all(
            f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE expires_at <= ? ORDER BY expires_at LIMIT ?",
            (now, limit),
        )
        return [_sub(r) for r in rows]

    async def reauth_due(self, now: int, limit: int) -> list[Subscription]:
        """Live subscriptions whose reauthorization reminder is due (reauth_at 0: never computed)."""
        rows = await self._conn.fetch_all(
            f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE reauth_at <= ? AND expires_at > ?"
            " ORDER BY reauth_at LIMIT ?",
            (now, now, limit),
        )
        return [_sub(r) for r in rows]

    async def enqueue(self, notifications: Sequence[Notification], lease_until: int | None = None) -> None:
        """Add notifications to the outbox (leased until `lease_until` when given)."""
        await self._conn.execute_many(
            f"INSERT INTO notification_outbox ({_NOTE_COLUMNS}, lease_until) VALUES ({_marks(16)})",
            [(*n, lease_until) for n in notifications],  # Notification is the row in column order
        )

    async def claim(self, now: int, lease_until: int, limit: int) -> list[Notification]:
        """Lease due pending rows, oldest first (a lapsed lease is due again)."""
        lock = self._conn.dialect.claim_lock
        rows = await self._conn.fetch_all(
            f"SELECT {_NOTE_COLUMNS} FROM notification_outbox WHERE status = ? AND next_attempt_at <= ?"
            f" AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at, created_at, id"
            f" LIMIT ?{lock}",
            ("pending", now, now, limit),
        )
        if rows:
            ids = [r[0] for r in rows]
            await self._conn.execute(
                f"UPDATE notification_outbox SET lease_until = ? WHERE id IN ({_marks(len(ids))})",
                (lease_until, *ids),
            )
        return [_note(r) for r in rows]

    async def delivered(self, ids: Sequence[str], lease: int) -> int:
        """Remove delivered rows still under `lease`."""
        if not ids:
            return 0
        return await self._conn.execute(
            f"DELETE FROM notification_outbox WHERE id IN ({_marks(len(ids))}) AND lease_until = ?",
            (*ids, lease),
        )

    async def retry(self, ids: Sequence[str], lease: int, next_at: int, error: str) -> int:
        """One more attempt counted; due again at `next_at`."""
        if not ids:
            return 0
        return await self._conn.execute(
            "UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = ?, lease_until = NULL,"
            f" last_error = ? WHERE id IN ({_marks(len(ids))}) AND lease_until = ?",
            (next_at, error, *ids, lease),
        )

    async def give_up(self, ids: Sequence[str], lease: int, error: str) -> int:
        """Failed for good (kept for /admin)."""
        if not ids:
            return 0
        return await self._conn.execute(
            "UPDATE notification_outbox SET status = ?, attempts = attempts + 1, lease_until = NULL,"
            f" last_error = ? WHERE id IN ({_marks(len(ids))}) AND lease_until = ?",
            ("failed", error, *ids, lease),
        )

    async def counts(self) -> dict[str, int]:
        """Rows by status."""
        rows = await self._conn.fetch_all("SELECT status, COUNT(*) FROM notification_outbox GROUP BY status")
        found = {str(r[0]): int(r[1]) for r in rows}
        return {"pending": found.get("pending", 0), "failed": found.get("failed", 0)}

    async def purge_failed(self) -> int:
        """Delete failed rows."""
        return await self._conn.execute("DELETE FROM notification_outbox WHERE status = ?", ("failed",))
