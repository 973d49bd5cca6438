"""Upload sessions for large attachments (spec §2.12): create, PUT chunks in order, finish, cancel.

The upload URL carries its own capability token (32 random bytes; only its sha256 is stored), so the
chunk PUTs need no Authorization header, as in Graph. Each chunk is stored as a blob-store part of its
own (never held whole in memory beyond the request body), written and fsynced *before* the one unit
that accepts it: a conditional update of the session's `received` offset, with the part recorded in
the same unit (`UploadPartRepo.advance`). A crash between the two leaves an unrecorded part, removed
with the session. The last chunk joins the recorded parts into a blob (hashing in bounded blocks)
and adds the attachment in one unit.

There is no in-process lock (issue 10): chunks of one session may reach different server processes.
The offset check in the store serialises them: of two chunks for the same offset exactly one is
accepted, the other gets Graph's overlap error (or out-of-order, if it was ahead). The session lives
`SESSION_LIFETIME_S` and every accepted chunk extends it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from mailgraph.domain import ids
from mailgraph.domain.attachments import (
    MAX_ATTACHMENTS,
    MAX_UPLOAD_BYTES,
    AttachmentService,
    attachment_id,
    check_name,
    require_draft,
    sniff,
    touch,
)
from mailgraph.domain.errors import (
    AttachmentCountError,
    AttachmentSizeError,
    FragmentOutOfOrderError,
    FragmentOverlapError,
    ItemNotFoundError,
    UploadRangeError,
    UploadSessionNotFoundError,
    UploadTokenError,
)
from mailgraph.domain.mailboxes import find_item, resolve
from mailgraph.domain.model import SECOND, Actor, Attachment, AttachmentKind, Timestamp, UploadSession, User
from mailgraph.domain.ports import Tx, UnitOfWork

SESSION_LIFETIME_S = 30 * 60  # short-lived URL; each accepted chunk extends it by this much


@dataclass(frozen=True, slots=True)
class UploadSpec:
    """Graph `attachmentItem` (spec §3.4): what the session will create."""

    attachment_type: AttachmentKind
    name: str
    size: int
    content_type: str | None = None
    is_inline: bool = False
    content_id: str | None = None


@dataclass(frozen=True, slots=True)
class Created:
    """A new session and the token its URL carries."""

    session: UploadSession
    token: str
    owner: User


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """After a chunk: the session still open (`session`), or the finished attachment."""

    session: UploadSession | None
    attachment: Attachment | None
    mailbox_id: str
    message_rest_id: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class UploadService:
    """The upload-session use cases."""

    def __init__(
        self, uow: UnitOfWork, attachments: AttachmentService, clock: Callable[[], Timestamp]
    ) -> None:
        self._uow = uow
        self._attachments = attachments
        self._blobs = attachments.blobs
        self._clock = clock

    async def create(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None, spec: UploadSpec
    ) -> Created:
        """`POST …/attachments/createUploadSession`: 201 with the session.

        Raises:
            ItemNotFoundError, InvalidPropertySetError (not a draft), AttachmentSizeError,
            AttachmentCountError, InvalidPropertyValueError.
        """
        if spec.attachment_type != "file":
            raise AttachmentSizeError("Upload sessions create file attachments only (attachmentType 'file').")
        check_name(spec.name, ("contentType", spec.content_type), ("contentId", spec.content_id))
        if not 0 < spec.size <= MAX_UPLOAD_BYTES:
            raise AttachmentSizeError(
                f"The attachment size must be between 1 byte and {MAX_UPLOAD_BYTES} bytes (150 MB)."
            )
        token = secrets.token_urlsafe(32)

        async def unit(tx: Tx) -> Created:
            owner = await resolve(tx, actor, user_key)
            message = await find_item(tx, owner, message_id, folder_key)
            require_draft(message)
            total, _ = await tx.attachments.counts(message.id)
            if total >= MAX_ATTACHMENTS:
                raise AttachmentCountError(f"A message can have at most {MAX_ATTACHMENTS} attachments.")
            now = self._clock()
            session = UploadSession(
                id=ids.queue_id(),
                token_hash=_token_hash(token),
                mailbox_id=owner.id,
                item_id=message.id,
                name=spec.name,
                content_type=spec.content_type,
                size=spec.size,
                is_inline=spec.is_inline,
                content_id=spec.content_id,
                received=0,
                expires_at=now + SESSION_LIFETIME_S * SECOND,
                created_at=now,
            )
            await tx.attachments.put_session(session)
            return Created(session, token, owner)

        return await self._uow.write(unit)

    async def _open(
        self, session_id: str, token: str, parts: bool = False
    ) -> tuple[UploadSession, list[str]]:
        """The session the URL names (token checked), and its accepted parts when asked for."""

        async def unit(tx: Tx) -> tuple[UploadSession | None, list[str]]:
            session = await tx.attachments.get_session(session_id)
            return session, await tx.upload_parts.parts(session_id) if parts and session else []

        session, accepted = await self._uow.read(unit)
        if session is None:
            raise UploadSessionNotFoundError(
                "The upload session was not found; it may be finished or cancelled."
            )
        if not hmac.compare_digest(session.token_hash, _token_hash(token)):
            raise UploadTokenError("The upload URL's token is not valid for this upload session.")
        if session.expires_at < self._clock():
            raise UploadSessionNotFoundError("The upload session has expired.")
        return session, accepted

    async def put_chunk(
        self, session_id: str, token: str, start: int, end: int, total: int, data: bytes
    ) -> ChunkResult:
        """`PUT {uploadUrl}` with `Content-Range: bytes start-end/total`.

        Raises:
            UploadSessionNotFoundError (unknown, finished, cancelled or expired), UploadTokenError,
            UploadRangeError (416), FragmentOverlapError, FragmentOutOfOrderError.
        """
        # The parts are read only for what claims to be the last chunk (the size is fixed at create).
        session, parts = await self._open(session_id, token, parts=total == end + 1)
        if total != session.size or end >= session.size or end < start or len(data) != end - start + 1:
            raise UploadRangeError(
                f"The Content-Range 'bytes {start}-{end}/{total}' does not fit this upload of"
                f" {session.size} bytes and a body of {len(data)} bytes."
            )
        _check_offset(start, session.received)  # early refusal; the store decides again below
        part = await self._blobs.write_part(session.id, start, data)
        if end + 1 < session.size:
            return await self._advance(session, start, end + 1, part)
        return await self._finish(session, start, [*parts, part])

    async def _advance(self, session: UploadSession, start: int, received: int, part: str) -> ChunkResult:
        async def unit(tx: Tx) -> ChunkResult:
            expires = self._clock() + SESSION_LIFETIME_S * SECOND
            if not await tx.upload_parts.advance(session.id, start, received, expires, part):
                await _refusal(tx, session.id, start)
            session.received, session.expires_at = received, expires
            return ChunkResult(session, None, session.mailbox_id, "")

        return await self._uow.write(unit)

    async def _finish(self, session: UploadSession, start: int, parts: list[str]) -> ChunkResult:
        try:
            blob_hash, size = await self._blobs.adopt_parts(session.id, parts)
        except FileNotFoundError:  # cancelled (or expired and collected) while this chunk was written
            raise UploadSessionNotFoundError("The upload session was cancelled.") from None

        async def unit(tx: Tx) -> ChunkResult:
            if not await tx.upload_parts.finish(session.id, start):
                await _refusal(tx, session.id, start)
            message = await tx.messages.get_immutable(session.mailbox_id, session.item_id)
            if message is None or not message.is_draft:
                raise ItemNotFoundError("The draft of this upload session no longer exists.")
            total, _ = await tx.attachments.counts(message.id)
            now = self._clock()
            row = Attachment(
                id=attachment_id(),
                item_id=message.id,
                position=total,
                kind="file",
                name=session.name,
                content_type=session.content_type or sniff(session.name, None),
                size=size,
                is_inline=session.is_inline,
                content_id=session.content_id,
                content_location=None,
                modified_at=now,
                blob_hash=blob_hash,
            )
            await tx.attachments.insert(row)
            await touch(tx, message, now)
            return ChunkResult(None, row, message.mailbox_id, message.rest_id)

        result = await self._uow.write(unit)
        await self._blobs.drop_parts(session.id)  # joined into the blob; only after the commit
        return result

    async def cancel(self, session_id: str, token: str) -> None:
        """`DELETE {uploadUrl}`: 204; the parts are removed."""
        await self._open(session_id, token)

        async def unit(tx: Tx) -> None:
            await tx.attachments.delete_session(session_id)
            await tx.upload_parts.forget(session_id)

        await self._uow.write(unit)
        await self._blobs.drop_parts(session_id)


def _check_offset(start: int, received: int) -> None:
    """Chunks come in order, each starting at the next byte expected (Graph's two refusals)."""
    if start < received:
        raise FragmentOverlapError(
            f"The fragment overlaps bytes already received; next expected: {received}."
        )
    if start > received:
        raise FragmentOutOfOrderError(f"The fragment is out of order; next expected byte: {received}.")


async def _refusal(tx: Tx, session_id: str, start: int) -> NoReturn:
    """Why a chunk starting at `start` lost to a concurrent change of its session (raises)."""
    current = await tx.attachments.get_session(session_id)
    if current is None:
        raise UploadSessionNotFoundError("The upload session was cancelled.")
    _check_offset(start, current.received)
    raise FragmentOverlapError(  # pragma: no cover - the offset moved, so the check above raised
        f"The fragment overlaps bytes already received; next expected: {current.received}."
    )
