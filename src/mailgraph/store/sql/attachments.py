"""Attachment rows, blob reference counts and upload sessions (migration 0003).

Every attachment row that points at a blob holds exactly one reference: inserting a row adds one,
deleting a row removes one, in the same transaction. A blob whose count reaches zero records when
(`released_at`), so the collector only forgets blobs that have been unreferenced for a while: a file
written just before a unit of work that failed, or one about to be referenced again, is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from mailgraph.domain.model import Attachment, AttachmentKind, ReferenceInfo, Timestamp, UploadSession
from mailgraph.store.sql import codec
from mailgraph.store.sql.columns import Columns
from mailgraph.store.sql.dialect import in_list

if TYPE_CHECKING:
    from mailgraph.store.contract import Conn

_COLUMNS = (
    "id, item_id, position, kind, name, content_type, size, is_inline, content_id, content_location,"
    " modified_at, blob_hash, reference_json"
)
_C = Columns(_COLUMNS)
_SELECT = f"SELECT {_COLUMNS} FROM attachments"
_SESSION_COLUMNS = (
    "id, token_hash, mailbox_id, item_id, name, content_type, size, is_inline, content_id, received,"
    " expires_at, created_at"
)
_SC = Columns(_SESSION_COLUMNS)
_REFERENCE_FIELDS = ("source_url", "provider_type", "permission", "is_folder", "preview_url", "thumbnail_url")


def _reference_json(ref: ReferenceInfo | None) -> str | None:
    if ref is None:
        return None
    return codec.dump({name: getattr(ref, name) for name in _REFERENCE_FIELDS})


def _reference(text: str | None) -> ReferenceInfo | None:
    if text is None:
        return None
    data = codec.load(text)
    return ReferenceInfo(**{name: data.get(name) for name in _REFERENCE_FIELDS})


def _attachment(r: Sequence[Any]) -> Attachment:
    return Attachment(
        id=r[_C["id"]],
        item_id=r[_C["item_id"]],
        position=int(r[_C["position"]]),
        kind=cast(AttachmentKind, r[_C["kind"]]),
        name=r[_C["name"]],
        content_type=r[_C["content_type"]],
        size=int(r[_C["size"]]),
        is_inline=bool(r[_C["is_inline"]]),
        content_id=r[_C["content_id"]],
        content_location=r[_C["content_location"]],
        modified_at=int(r[_C["modified_at"]]),
        blob_hash=r[_C["blob_hash"]],
        reference=_reference(r[_C["reference_json"]]),
    )


def _session(r: Sequence[Any]) -> UploadSession:
    return UploadSession(
        id=r[_SC["id"]],
        token_hash=r[_SC["token_hash"]],
        mailbox_id=r[_SC["mailbox_id"]],
        item_id=r[_SC["item_id"]],
        name=r[_SC["name"]],
        content_type=r[_SC["content_type"]],
        size=int(r[_SC["size"]]),
        is_inline=bool(r[_SC["is_inline"]]),
        content_id=r[_SC["content_id"]],
        received=int(r[_SC["received"]]),
        expires_at=int(r[_SC["expires_at"]]),
        created_at=int(r[_SC["created_at"]]),
    )


class SqlAttachments:
    """`domain.ports.AttachmentRepo` over one connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def insert(self, attachment: Attachment) -> None:
        """Add the row, and one reference to its blob (creating the blob row at need)."""
        a = attachment
        if a.blob_hash is not None:
            # Portable upsert (SQLite ≥ 3.24, PostgreSQL ≥ 9.5).
            await self._conn.execute(
                "INSERT INTO blobs (hash, size, refcount, released_at) VALUES (?, ?, 1, NULL)"
                " ON CONFLICT (hash) DO UPDATE SET refcount = blobs.refcount + 1, released_at = NULL",
                (a.blob_hash, a.size),
            )
        await self._conn.execute(
            f"INSERT INTO attachments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                a.id,
                a.item_id,
                a.position,
                a.kind,
                a.name,
                a.content_type,
                a.size,
                int(a.is_inline),
                a.content_id,
                a.content_location,
                a.modified_at,
                a.blob_hash,
                _reference_json(a.reference),
            ),
        )

    async def get(self, item_id: str, attachment_id: str) -> Attachment | None:
        """One attachment of an item (ids are case-sensitive)."""
        row = await self._conn.fetch_one(f"{_SELECT} WHERE id = ? AND item_id = ?", (attachment_id, item_id))
        return None if row is None else _attachment(row)

    async def for_item(self, item_id: str) -> list[Attachment]:
        """The attachments of an item in the order they were added."""
        rows = await self._conn.fetch_all(f"{_SELECT} WHERE item_id = ? ORDER BY position, id", (item_id,))
        return [_attachment(r) for r in rows]

    async def counts(self, item_id: str) -> tuple[int, int]:
        """(all, non-inline) attachments of an item."""
        row = await self._conn.fetch_one(
            "SELECT COUNT(*), COALESCE(SUM(1 - is_inline), 0) FROM attachments WHERE item_id = ?", (item_id,)
        )
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def _unref(self, blob_hash: str | None, now: Timestamp) -> None:
        if blob_hash is None:
            return
        # Both engines evaluate every SET expression against the old row, so `refcount = 1` is "was 1".
        await self._conn.execute(
            "UPDATE blobs SET refcount = refcount - 1,"
            " released_at = CASE WHEN refcount = 1 THEN ? ELSE released_at END WHERE hash = ?",
            (now, blob_hash),
        )

    async def delete(self, item_id: str, attachment_id: str, now: Timestamp) -> bool:
        """Remove one attachment and its blob reference."""
        found = await self.get(item_id, attachment_id)
        if found is None:
            return False
        await self._conn.execute("DELETE FROM attachments WHERE id = ?", (attachment_id,))
        await self._unref(found.blob_hash, now)
        return True

    async def release_item(self, item_id: str, now: Timestamp) -> int:
        """Remove every attachment of an item and their blob references."""
        found = await self.for_item(item_id)
        if found:
            await self._conn.execute("DELETE FROM attachments WHERE item_id = ?", (item_id,))
            for a in found:
                await self._unref(a.blob_hash, now)
        return len(found)

    async def put_session(self, session: UploadSession) -> None:
        """Insert or replace an upload session."""
        s = session
        await self._conn.execute("DELETE FROM upload_sessions WHERE id = ?", (s.id,))
        await self._conn.execute(
            f"INSERT INTO upload_sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                s.id,
                s.token_hash,
                s.mailbox_id,
                s.item_id,
                s.name,
                s.content_type,
                s.size,
                int(s.is_inline),
                s.content_id,
                s.received,
                s.expires_at,
                s.created_at,
            ),
        )

    async def get_session(self, session_id: str) -> UploadSession | None:
        """An upload session by id."""
        row = await self._conn.fetch_one(
            f"SELECT {_SESSION_COLUMNS} FROM upload_sessions WHERE id = ?", (session_id,)
        )
        return None if row is None else _session(row)

    async def delete_session(self, session_id: str) -> bool:
        """Remove an upload session."""
        return await self._conn.execute("DELETE FROM upload_sessions WHERE id = ?", (session_id,)) > 0

    async def open_sessions(self, item_id: str, now: Timestamp) -> int:
        """Unexpired upload sessions of an item."""
        row = await self._conn.fetch_one(
            "SELECT COUNT(*) FROM upload_sessions WHERE item_id = ? AND expires_at >= ?", (item_id, now)
        )
        return int(row[0]) if row else 0

    async def expired_sessions(self, now: Timestamp, limit: int) -> list[str]:
        """Ids of sessions past their expiry."""
        rows = await self._conn.fetch_all(
            "SELECT id FROM upload_sessions WHERE expires_at < ? ORDER BY expires_at LIMIT ?", (now, limit)
        )
        return [r[0] for r in rows]

    async def collect(self, before: Timestamp, reconcile: bool) -> list[str]:
        """Forget blobs unreferenced since before `before` (after an optional recount)."""
        if reconcile:
            await self._conn.execute(
                "DELETE FROM attachments WHERE item_id NOT IN (SELECT id FROM messages)"
                " AND item_id NOT IN (SELECT id FROM outbound_messages)"
            )
            await self._conn.execute(
                "UPDATE blobs SET refcount = (SELECT COUNT(*) FROM attachments a WHERE a.blob_hash = blobs.hash)"
            )
            await self._conn.execute(
                "UPDATE blobs SET released_at = ? WHERE refcount = 0 AND released_at IS NULL", (before,)
            )
        rows = await self._conn.fetch_all(
            "SELECT hash FROM blobs WHERE refcount <= 0 AND released_at <= ?", (before,)
        )
        hashes = [r[0] for r in rows]
        if hashes:
            clause, params = in_list("hash", hashes)
            await self._conn.execute(f"DELETE FROM blobs WHERE refcount <= 0 AND {clause}", params)
        return hashes

    async def known_blobs(self, hashes: Sequence[str]) -> set[str]:
        """Which hashes have a blob row."""
        if not hashes:
            return set()
        clause, params = in_list("hash", hashes)
        rows = await self._conn.fetch_all(f"SELECT hash FROM blobs WHERE {clause}", params)
        return {r[0] for r in rows}
