"""Attachments of drafts (spec §2.11, §3.4, §6): add, list, get, delete; staging; copies on send.

Rules: only drafts take or lose attachments (spec §5 "draft-only property on non-draft"); a POSTed
file is under 3 MB, an upload session takes up to 150 MB, at most 250 per message; `hasAttachments`
counts non-inline ones, and every add/delete gives the message a new changeKey. Bytes go to the blob
store *before* the unit that references them (no file I/O in units) and are stored once: copies made
on send reference the same blob (one reference per row). Item attachments are stored as the attached
message's RFC 5322 MIME (built at the edge), which `$value` and the relay use as they are.
"""

from __future__ import annotations

import base64
import mimetypes
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

from mailgraph.domain import ids
from mailgraph.domain.collector import BlobCollector
from mailgraph.domain.errors import (
    AttachmentCountError,
    AttachmentSizeError,
    InvalidPropertySetError,
    InvalidPropertyValueError,
    ItemNotFoundError,
    UploadSessionIncompleteError,
)
from mailgraph.domain.mailboxes import find_item, resolve
from mailgraph.domain.model import (
    Actor,
    Attachment,
    Message,
    MessageChanges,
    NewAttachment,
    Timestamp,
    Unset,
    User,
)
from mailgraph.domain.ports import BlobStorage, Tx

MB = 1024 * 1024
MAX_POST_BYTES = 3 * MB  # spec §6: "attachment by POST: < 3 MB"
MAX_UPLOAD_BYTES = 150 * MB  # spec §6: upload sessions 3–150 MB
MAX_ATTACHMENTS = 250  # spec §6 [field]
MAX_NAME = 255

# Magic numbers for when neither caller nor name says (spec §2.11: Graph sniffs image/gif itself).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"BM", "image/bmp"),
)


def attachment_id() -> str:
    """A Graph-shaped attachment id (URL-safe base64, like message ids)."""
    return base64.urlsafe_b64encode(b"\x00\x03\x24\x01" + secrets.token_bytes(50)).decode("ascii")


def sniff(name: str, data: bytes | None) -> str:
    """The content type of a file: by its name's extension, else by magic number, else octet-stream."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed:
        return guessed
    head = (data or b"")[:16]
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return "application/octet-stream"


def check_name(name: str, *others: tuple[str, str | None]) -> None:
    """Names, content types and ids become MIME headers: no control characters, bounded length."""
    for prop, value in (("name", name), *others):
        if value is not None and (len(value) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in value)):
            raise InvalidPropertyValueError(
                f"The attachment {prop} must be at most {MAX_NAME} characters without control characters."
            )


async def stage(blobs: BlobStorage, items: list[NewAttachment]) -> None:
    """Validate attachments given in a request and write their bytes to the blob store (before the unit).

    Raises:
        AttachmentCountError, AttachmentSizeError, InvalidPropertyValueError.
    """
    if len(items) > MAX_ATTACHMENTS:
        raise AttachmentCountError(f"A message can have at most {MAX_ATTACHMENTS} attachments.")
    for item in items:
        check_name(
            item.name,
            ("contentType", item.content_type),
            ("contentId", item.content_id),
            ("contentLocation", item.content_location),
        )
        if item.kind == "reference":
            item.content_type = item.content_type or "application/octet-stream"
            continue
        data = item.data or b""
        if len(data) >= MAX_POST_BYTES:
            raise AttachmentSizeError(
                f"The attachment '{item.name}' is {len(data)} bytes; attachments of 3 MB or more must be"
                " uploaded with an upload session (createUploadSession)."
            )
        if item.kind == "file":
            item.content_type = item.content_type or sniff(item.name, data)
        else:
            item.content_type = "message/rfc822"
        item.blob_hash = await blobs.put(data)
        item.size = len(data)
        item.data = None


def _row(item_id: str, position: int, item: NewAttachment, now: Timestamp) -> Attachment:
    return Attachment(
        id=attachment_id(),
        item_id=item_id,
        position=position,
        kind=item.kind,
        name=item.name,
        content_type=item.content_type or "application/octet-stream",
        size=item.size,
        is_inline=item.is_inline,
        content_id=item.content_id,
        content_location=item.content_location,
        modified_at=now,
        blob_hash=item.blob_hash,
        reference=item.reference,
    )


async def attach_new(tx: Tx, message: Message, changes: MessageChanges, now: Timestamp) -> None:
    """Insert the staged attachments of a create/sendMail body for `message` (before it is written).

    Sets `message.has_attachments`; the caller inserts or updates the message afterwards.
    """
    if isinstance(changes.attachments, Unset) or not changes.attachments:
        return
    for position, item in enumerate(changes.attachments):
        if item.kind != "reference" and item.blob_hash is None:
            raise AssertionError("attachments must be staged before the unit of work")
        await tx.attachments.insert(_row(message.id, position, item, now))
    message.has_attachments = any(not a.is_inline for a in changes.attachments)


async def copy_all(tx: Tx, source_id: str, target_id: str, now: Timestamp) -> int:
    """Give `target_id` the attachments of `source_id`: new rows, shared blobs (one reference each)."""
    found = await tx.attachments.for_item(source_id)
    for a in found:
        a.id, a.item_id, a.modified_at = attachment_id(), target_id, now
        await tx.attachments.insert(a)
    return len(found)


async def release(tx: Tx, item_id: str, now: Timestamp) -> int:
    """Drop every attachment of an item (purge, unsaved sendMail draft, delivered outbound snapshot)."""
    return await tx.attachments.release_item(item_id, now)


async def check_uploads_complete(tx: Tx, item_id: str, now: Timestamp) -> None:
    """Refuse to send a draft while one of its attachments is still being uploaded."""
    if await tx.attachments.open_sessions(item_id, now):
        raise UploadSessionIncompleteError(
            "An attachment upload session of this draft is not complete; finish or cancel it before sending."
        )


async def attachment_parts(tx: Tx, item_id: str) -> list[Attachment]:
    """The attachments of an item whose bytes a MIME composition reads from the blob store (by
    `blob_hash`: files and items; references have none).

    For MIME composition (SMTP relay, `$value`): pass a message's immutable id, or an outbound
    snapshot's `outbound_id` (the send path gives the snapshot its own references).
    """
    return await tx.attachments.for_item(item_id)


def require_draft(message: Message) -> None:
    """Attachments change on drafts only."""
    if not message.is_draft:
        raise InvalidPropertySetError("Message is not draft.")


async def touch(tx: Tx, message: Message, now: Timestamp) -> None:
    """Recompute hasAttachments and give the message a new changeKey after an attachment change."""
    _, visible = await tx.attachments.counts(message.id)
    message.has_attachments = visible > 0
    message.change_key = ids.change_key()
    message.modified_at = now
    await tx.messages.update(message)
    tx.changes.message("updated", message)


@dataclass(frozen=True, slots=True)
class Listed:
    """A message's attachments and its owner (for `@odata.context`)."""

    owner: User
    message: Message
    items: list[Attachment]


class AttachmentService(BlobCollector):
    """The attachment use cases; `blobs` holds the bytes, the store the rows and reference counts."""

    async def stage(self, changes: MessageChanges) -> None:
        """Write the bytes of attachments given inline in a create or sendMail body."""
        if not isinstance(changes.attachments, Unset):
            await stage(self.blobs, changes.attachments)

    async def add(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None, new: NewAttachment
    ) -> tuple[User, Attachment]:
        """`POST …/messages/{id}/attachments`: 201 with the attachment.

        Raises:
            ItemNotFoundError, InvalidPropertySetError (not a draft), AttachmentCountError,
            AttachmentSizeError, InvalidPropertyValueError.
        """

        async def check(tx: Tx) -> None:  # before writing any bytes: no blob for a request that fails
            require_draft(await find_item(tx, await resolve(tx, actor, user_key), message_id, folder_key))

        await self._uow.read(check)
        await stage(self.blobs, [new])

        async def unit(tx: Tx) -> tuple[User, Attachment]:
            owner = await resolve(tx, actor, user_key)
            message = await find_item(tx, owner, message_id, folder_key)
            require_draft(message)
            total, _ = await tx.attachments.counts(message.id)
            if total >= MAX_ATTACHMENTS:
                raise AttachmentCountError(f"A message can have at most {MAX_ATTACHMENTS} attachments.")
            now = self._clock()
            row = _row(message.id, total, new, now)
            await tx.attachments.insert(row)
            await touch(tx, message, now)
            return owner, row

        return await self._uow.write(unit)

    async def listing(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None
    ) -> Listed:
        """`GET …/messages/{id}/attachments`."""

        async def unit(tx: Tx) -> Listed:
            owner = await resolve(tx, actor, user_key)
            message = await find_item(tx, owner, message_id, folder_key)
            return Listed(owner, message, await tx.attachments.for_item(message.id))

        return await self._uow.read(unit)

    async def get(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None, attachment_id: str
    ) -> tuple[User, Attachment]:
        """`GET …/attachments/{aid}` (and `$value`)."""

        async def unit(tx: Tx) -> tuple[User, Attachment]:
            owner = await resolve(tx, actor, user_key)
            message = await find_item(tx, owner, message_id, folder_key)
            found = await tx.attachments.get(message.id, attachment_id)
            if found is None:
                raise ItemNotFoundError()
            return owner, found

        return await self._uow.read(unit)

    async def expand(self, messages: list[Message]) -> dict[str, list[Attachment]]:
        """`$expand=attachments`: the attachments of each listed message, by immutable id."""

        async def unit(tx: Tx) -> dict[str, list[Attachment]]:
            return {m.id: await tx.attachments.for_item(m.id) for m in messages}

        return await self._uow.read(unit)

    async def delete(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None, attachment_id: str
    ) -> None:
        """`DELETE …/attachments/{aid}`: 204; the blob is collected once nothing references it."""

        async def unit(tx: Tx) -> None:
            owner = await resolve(tx, actor, user_key)
            message = await find_item(tx, owner, message_id, folder_key)
            require_draft(message)
            now = self._clock()
            if not await tx.attachments.delete(message.id, attachment_id, now):
                raise ItemNotFoundError()
            await touch(tx, message, now)

        await self._uow.write(unit)
        self.schedule_collect()

    def has_content(self, attachment: Attachment) -> bool:
        """Whether the attachment has bytes in the blob store (reference attachments have none)."""
        return attachment.blob_hash is not None

    async def content(self, attachment: Attachment) -> bytes:
        """An attachment's bytes, whole (b"" for a reference attachment)."""
        return await self.blobs.read(attachment.blob_hash) if attachment.blob_hash else b""

    def stream(self, attachment: Attachment, piece: int) -> AsyncIterator[bytes]:
        """An attachment's bytes in pieces of exactly `piece` bytes, the last one shorter."""
        if attachment.blob_hash is None:
            raise ValueError("a reference attachment has no content")
        return self.blobs.stream(attachment.blob_hash, piece)
