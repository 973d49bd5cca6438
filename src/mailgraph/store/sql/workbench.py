"""Tenant-wide rows of the test workbench: find messages and outbound mail, empty mailboxes, drop tenants.

Every statement is scoped by `mailbox_id IN (SELECT id FROM users WHERE tenant_id = ?)` (the tenant's
mailboxes), so a workbench query cannot reach another tenant whatever ids it is given.

Deleting a tenant removes its rows from every table this module knows (listed in `delete_tenant`);
a table added later that holds tenant data must be added there too (tests/workbench pins the list by
counting rows of every table before and after).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from mailgraph.domain.inspection import MessageQuery, Outbound, Removed, TenantInfo
from mailgraph.domain.model import Message, QueueStatus, Tenant, Timestamp
from mailgraph.store.sql import codec
from mailgraph.store.sql.dialect import FOLD, in_list
from mailgraph.store.sql.filters import escape_like
from mailgraph.store.sql.messages import COLUMNS, from_row
from mailgraph.store.sql.outbox import SqlOutbox

if TYPE_CHECKING:
    from mailgraph.store.contract import Conn
    from mailgraph.store.sql.folder_ids import WellKnownIdCache

_MAILBOXES = "(SELECT id FROM users WHERE tenant_id = ?)"
_APPS = "(SELECT client_id FROM apps WHERE tenant_id = ?)"


class SqlWorkbench:
    """`domain.inspection.WorkbenchRepo` over one connection."""

    __slots__ = ("_conn", "_folder_ids")

    def __init__(self, conn: Conn, folder_ids: WellKnownIdCache | None = None) -> None:
        self._conn = conn
        self._folder_ids = folder_ids

    async def tenant_infos(self) -> list[TenantInfo]:
        """Every hosted tenant, oldest first."""
        rows = await self._conn.fetch_all(
            "SELECT id, display_name, domains_json, ephemeral, created_at FROM tenants ORDER BY created_at, id"
        )
        return [
            TenantInfo(Tenant(r[0], r[1], tuple(codec.strings_from_json(r[2]))), bool(r[3]), int(r[4]))
            for r in rows
        ]

    async def mark_ephemeral(self, tenant_id: str, created_at: Timestamp, seed: str | None) -> None:
        """Flag a tenant as made by the workbench."""
        await self._conn.execute(
            "UPDATE tenants SET ephemeral = 1, created_at = ?, seed_json = ? WHERE id = ?",
            (created_at, seed, tenant_id),
        )

    async def seed(self, tenant_id: str) -> str | None:
        """The opaque seed of a tenant."""
        row = await self._conn.fetch_one("SELECT seed_json FROM tenants WHERE id = ?", (tenant_id,))
        return None if row is None else cast(str | None, row[0])

    async def find_messages(self, tenant_id: str, query: MessageQuery) -> list[Message]:
        """Non-draft messages of the tenant matching `query`, newest received first."""
        where, params = _scope(tenant_id, query.mailbox_ids)
        where.append("is_draft = 0")
        if query.folder_ids is not None:
            clause, args = in_list("folder_id", query.folder_ids)
            where.append(clause)
            params += args
        if query.subject:
            where.append(f"{FOLD}(subject) LIKE {FOLD}(?) ESCAPE '\\'")
            params.append(f"%{escape_like(query.subject)}%")
        if query.sender:
            where.append(f"({FOLD}(from_address) = {FOLD}(?) OR {FOLD}(sender_address) = {FOLD}(?))")
            params += [query.sender, query.sender]
        if query.recipient:  # a substring pre-filter; the exact address is checked below
            where.append(f"{FOLD}(to_json || cc_json || bcc_json) LIKE {FOLD}(?) ESCAPE '\\'")
            params.append(f"%{escape_like(query.recipient)}%")
        if query.internet_message_id:
            where.append("internet_message_id = ?")
            params.append(query.internet_message_id)
        if query.received_after is not None:
            where.append("received_at >= ?")
            params.append(query.received_after)
        sql = f"SELECT {COLUMNS} FROM messages WHERE {' AND '.join(where)} ORDER BY received_at DESC, id DESC"
        if not query.recipient:
            sql += " LIMIT ?"
            params.append(query.limit)
        found = [from_row(r) for r in await self._conn.fetch_all(sql, params)]
        if query.recipient:
            want = query.recipient.casefold()
            found = [m for m in found if any(a.address.casefold() == want for a in m.recipients)]
        return found[: query.limit]

    async def find_outbound(self, tenant_id: str, query: MessageQuery) -> list[Outbound]:
        """Outbound messages of the tenant matching `query`, newest first, with their entries."""
        where, params = _scope(tenant_id, query.mailbox_ids)
        if query.subject:
            where.append(f"{FOLD}(subject) LIKE {FOLD}(?) ESCAPE '\\'")
            params.append(f"%{escape_like(query.subject)}%")
        if query.internet_message_id:
            where.append("internet_message_id = ?")
            params.append(query.internet_message_id)
        if query.received_after is not None:
            where.append("created_at >= ?")
            params.append(query.received_after)
        if query.recipient:
            where.append(
                f"EXISTS (SELECT 1 FROM outbound_queue q WHERE q.outbound_id = outbound_messages.id"
                f" AND {FOLD}(q.recipient) = {FOLD}(?))"
            )
            params.append(query.recipient)
        rows = await self._conn.fetch_all(
            f"SELECT id, created_at FROM outbound_messages WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            [*params, query.limit],
        )
        outbox = SqlOutbox(self._conn)
        found: list[Outbound] = []
        for outbound_id, created_at in rows:
            message = await outbox.get_message(outbound_id)
            if message is None:
                continue
            sender = message.from_ or message.sender
            if query.sender and (sender is None or sender.address.casefold() != query.sender.casefold()):
                continue
            entries = await outbox.list_entries(limit=10_000, outbound_id=outbound_id)
            found.append(Outbound(outbound_id, message, tuple(entries), int(created_at)))
        return found

    async def clear_mailboxes(
        self, tenant_id: str, mailbox_ids: Sequence[str] | None, now: Timestamp
    ) -> Removed:
        """Empty mailboxes of the tenant: messages (and their attachments), own folders, outbound mail,
        Inbox rules, mailbox settings and the automatic-reply log (a reset mailbox files and answers
        nothing a previous test set up)."""
        where, params = _scope(tenant_id, mailbox_ids)
        scope = " AND ".join(where)
        released = await self._release_attachments(scope, params, now)
        sessions = await self._drop_uploads(scope, params)
        messages = await self._conn.execute(f"DELETE FROM messages WHERE {scope}", params)
        await self._conn.execute(f"DELETE FROM outbound_queue WHERE {scope}", params)
        outbound = await self._conn.execute(f"DELETE FROM outbound_messages WHERE {scope}", params)
        # Counter deltas (migration 0029) of every folder in scope go with the messages they counted.
        await self._conn.execute(
            f"DELETE FROM folder_count_deltas WHERE folder_id IN (SELECT id FROM folders WHERE {scope})",
            params,
        )
        own = f"{scope} AND well_known_name IS NULL"
        await self._conn.execute(f"UPDATE folders SET parent_id = NULL WHERE {own}", params)
        await self._conn.execute(f"DELETE FROM folders WHERE {own}", params)
        await self._conn.execute(
            f"UPDATE folders SET total_count = 0, unread_count = 0 WHERE {scope}", params
        )
        for table in ("message_rules", "mailbox_settings", "auto_reply_log"):
            await self._conn.execute(f"DELETE FROM {table} WHERE {scope}", params)
        return Removed(messages, outbound, released, sessions)

    async def delete_tenant(self, tenant_id: str, now: Timestamp) -> Removed | None:
        """Remove the tenant and every row it owns, in an order the foreign keys accept."""
        if await self._conn.fetch_one("SELECT id FROM tenants WHERE id = ?", (tenant_id,)) is None:
            return None
        mailboxes = await self._conn.fetch_all("SELECT id FROM users WHERE tenant_id = ?", (tenant_id,))
        if self._folder_ids is not None:
            for (mailbox_id,) in mailboxes:
                self._folder_ids.forget(mailbox_id)
        removed = await self.clear_mailboxes(tenant_id, None, now)
        t = (tenant_id,)
        for sql, args in (
            (f"DELETE FROM mailbox_permissions WHERE mailbox_id IN {_MAILBOXES} OR delegate_id IN {_MAILBOXES}", t * 2),
            (f"DELETE FROM app_access_policies WHERE client_id IN {_APPS} OR mailbox_id IN {_MAILBOXES}", t * 2),
            (f"DELETE FROM app_certificates WHERE client_id IN {_APPS}", t),
            (f"DELETE FROM assertion_jtis WHERE client_id IN {_APPS}", t),
            # Smart lockout (issue 17): the failed sign-ins of the tenant's users and apps.
            ("DELETE FROM sign_in_failures WHERE subject IN (SELECT 'user:' || id FROM users WHERE tenant_id = ?)"
             " OR subject IN (SELECT 'client:' || client_id FROM apps WHERE tenant_id = ?)", t * 2),
            # Fault rules (issue 13) naming one of the tenant's mailboxes (by id, UPN or address) or apps.
            (f"DELETE FROM fault_rules WHERE {FOLD}(mailbox) IN (SELECT {FOLD}(id) FROM users WHERE tenant_id = ?"
             f" UNION SELECT {FOLD}(upn) FROM users WHERE tenant_id = ? UNION SELECT {FOLD}(mail) FROM users"
             f" WHERE tenant_id = ?) OR app IN {_APPS}", t * 4),
            # Change notifications (issue 12): the tenant's subscriptions and what they still owe.
            ("DELETE FROM notification_outbox WHERE tenant_id = ?", t),
            ("DELETE FROM subscriptions WHERE tenant_id = ?", t),
            ("DELETE FROM auth_codes WHERE tenant_id = ?", t),
            ("DELETE FROM device_codes WHERE tenant_id = ?", t),
            ("DELETE FROM signing_keys WHERE tenant_id = ?", t),
            ("DELETE FROM apps WHERE tenant_id = ?", t),
            (f"UPDATE folders SET parent_id = NULL WHERE mailbox_id IN {_MAILBOXES}", t),
            (f"DELETE FROM folders WHERE mailbox_id IN {_MAILBOXES}", t),
            # Changes not numbered yet (migration 0039, no foreign key; the log itself cascades).
            (f"DELETE FROM change_log_pending WHERE mailbox_id IN {_MAILBOXES}", t),
            ("DELETE FROM users WHERE tenant_id = ?", t),
            ("DELETE FROM tenants WHERE id = ?", t),
        ):  # fmt: skip
            await self._conn.execute(sql, args)
        return removed

    async def queue_depths(self) -> dict[QueueStatus, int]:
        """Outbound queue entries by status."""
        rows = await self._conn.fetch_all("SELECT status, COUNT(*) FROM outbound_queue GROUP BY status")
        return {cast(QueueStatus, r[0]): int(r[1]) for r in rows}

    async def schema_version(self) -> int:
        """The highest migration applied."""
        row = await self._conn.fetch_one("SELECT MAX(version) FROM schema_version")
        return 0 if row is None or row[0] is None else int(row[0])

    async def _release_attachments(self, scope: str, params: list[object], now: Timestamp) -> tuple[str, ...]:
        """Drop the attachment rows of the scope's items; returns the blobs nobody references any more."""
        items = (
            f"(item_id IN (SELECT id FROM messages WHERE {scope})"
            f" OR item_id IN (SELECT id FROM outbound_messages WHERE {scope}))"
        )
        both = [*params, *params]
        counts = await self._conn.fetch_all(
            f"SELECT blob_hash, COUNT(*) FROM attachments WHERE blob_hash IS NOT NULL AND {items}"
            " GROUP BY blob_hash",
            both,
        )
        await self._conn.execute(f"DELETE FROM attachments WHERE {items}", both)
        for blob_hash, count in counts:
            # Both engines evaluate SET expressions against the old row (as store/sql/attachments.py).
            await self._conn.execute(
                "UPDATE blobs SET refcount = refcount - ?,"
                " released_at = CASE WHEN refcount - ? <= 0 THEN ? ELSE released_at END WHERE hash = ?",
                (count, count, now, blob_hash),
            )
        if not counts:
            return ()
        clause, args = in_list("hash", [r[0] for r in counts])
        rows = await self._conn.fetch_all(f"SELECT hash FROM blobs WHERE refcount <= 0 AND {clause}", args)
        return tuple(r[0] for r in rows)

    async def _drop_uploads(self, scope: str, params: list[object]) -> tuple[str, ...]:
        """Remove the scope's upload sessions and their part rows; returns the session ids."""
        rows = await self._conn.fetch_all(f"SELECT id FROM upload_sessions WHERE {scope}", params)
        await self._conn.execute(
            f"DELETE FROM upload_parts WHERE session_id IN (SELECT id FROM upload_sessions WHERE {scope})",
            params,
        )
        await self._conn.execute(f"DELETE FROM upload_sessions WHERE {scope}", params)
        return tuple(r[0] for r in rows)


def _scope(tenant_id: str, mailbox_ids: Sequence[str] | None) -> tuple[list[str], list[object]]:
    """`mailbox_id` limited to the tenant's mailboxes (and to `mailbox_ids` when given)."""
    if mailbox_ids is None:
        return [f"mailbox_id IN {_MAILBOXES}"], [tenant_id]
    clause, args = in_list("id", list(mailbox_ids))
    return [f"mailbox_id IN (SELECT id FROM users WHERE tenant_id = ? AND {clause})"], [tenant_id, *args]
