"""Items as MIME and items from MIME: `$value`, and create/sendMail in MIME mode (spec §2.1, §2.2, §2.4).

- `export`: the RFC 5322 form of an item with its attachments (`mime.compose`). Bcc appears only in
  the sender's own copy — a draft, or an item in Sent Items (RFC 5322 §3.6.3: recipients' copies
  never show it). A draft with no `from` shows the mailbox owner, as it will once sent (spec §2.2).
- `create` / `send`: a message parsed from MIME (`mime.parse`, bounded) becomes a draft through the same
  rules as a JSON one (`drafts.new_draft`), keeping what MIME carries and JSON cannot: the sender's
  Message-ID, In-Reply-To/References (threads survive), and every custom x- header (the JSON limit of
  five applies to `internetMessageHeaders`, not to a message's own header block). Attachments are staged
  like inline JSON attachments (bytes to the blob store before the unit).

`$value` of an item with large file attachments (one above 1 MiB, or above 4 MiB together) is a
`mime.stream.StreamedMime`: the same bytes, with the files streamed from the blob store as they are sent
(issue 4: a 150 MB attachment never sits whole in memory). The relay still composes in memory.

`load_attachments` is THE hook that turns stored attachment rows into `MimeAttachment`s: the SMTP relay
uses the same function with an outbound snapshot's parts.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import replace

from mailgraph.domain import attachments, drafts
from mailgraph.domain.errors import BadRequestError
from mailgraph.domain.mailboxes import find_item, folder, resolve, well_known_id
from mailgraph.domain.model import (
    UNSET,
    Actor,
    Attachment,
    ItemBody,
    Message,
    MessageChanges,
    NewAttachment,
    Timestamp,
    Unset,
    User,
)
from mailgraph.domain.ports import BlobStorage, Tx, UnitOfWork
from mailgraph.domain.sending import SendResult, SendService
from mailgraph.mime.compose import MimeAttachment, compose
from mailgraph.mime.parse import ParsedMail, parse
from mailgraph.mime.stream import StreamedFile, StreamedMime, compose_streamed

# Parsing or composing a few hundred kilobytes inline costs less than a thread hop; larger MIME is
# handled in a worker thread so one request does not stall the event loop (3 MB of HTML: ~2 s).
_INLINE_MAX = 256 * 1024
# `$value` streams when one file attachment exceeds _STREAM_FILE or all of them exceed _STREAM_TOTAL.
_STREAM_FILE = 1024 * 1024
_STREAM_TOTAL = 4 * 1024 * 1024


async def load_attachments(blobs: BlobStorage, parts: list[Attachment]) -> list[MimeAttachment]:
    """MimeAttachments from `attachments.attachment_parts`, their bytes read whole (call off the unit).

    A referenceAttachment has no bytes of its own (a link, spec §2.11) and is not a MIME part.
    """
    out: list[MimeAttachment] = []
    for row in parts:
        if row.blob_hash is None or row.kind == "reference":
            continue
        data = await blobs.read(row.blob_hash)
        if row.kind == "item":
            out.append(MimeAttachment(row.name, "message/rfc822", b"", message=data))
        else:
            out.append(MimeAttachment(row.name, row.content_type, data, row.is_inline, row.content_id))
    return out


async def streamed_attachments(
    blobs: BlobStorage, parts: list[Attachment]
) -> list[MimeAttachment | StreamedFile]:
    """`load_attachments`, but file attachments stay in the blob store (`StreamedFile`)."""
    out: list[MimeAttachment | StreamedFile] = []
    for row in parts:
        blob_hash = row.blob_hash
        if blob_hash is None or row.kind == "reference":
            continue
        if row.kind == "item":
            out.extend(await load_attachments(blobs, [row]))
            continue
        part = MimeAttachment(row.name, row.content_type, b"", row.is_inline, row.content_id)
        out.append(StreamedFile(part, functools.partial(blobs.stream, blob_hash), row.size))
    return out


def _streams(parts: list[Attachment]) -> bool:
    sizes = [row.size for row in parts if row.kind == "file" and row.blob_hash is not None]
    return any(size > _STREAM_FILE for size in sizes) or sum(sizes) > _STREAM_TOTAL


def new_attachments(parsed: ParsedMail) -> list[NewAttachment]:
    """The attachments of parsed MIME as a create/sendMail body's attachments (stage, then attach_new)."""
    return [
        NewAttachment(
            kind="item" if a.content_type == "message/rfc822" else "file",
            name=a.name[: attachments.MAX_NAME],
            content_type=a.content_type,
            is_inline=a.is_inline,
            content_id=(a.content_id or "")[: attachments.MAX_NAME] or None,
            data=a.data,
        )
        for a in parsed.attachments
    ]


def draft_from_mime(owner: User, folder_id: str, parsed: ParsedMail, now: Timestamp) -> Message:
    """A new draft with the fields of `parsed` (validated like a JSON draft).

    Raises:
        DomainError: a property the draft rules refuse (e.g. more than 500 recipients).
    """
    changes = replace(parsed.changes, headers=UNSET, internet_message_id=UNSET, attachments=UNSET)
    draft = drafts.new_draft(owner, folder_id, changes, now)
    if parsed.internet_message_id:  # a msg-id (checked by mime.parse); otherwise ours stays
        draft.internet_message_id = parsed.internet_message_id
    draft.in_reply_to = parsed.in_reply_to
    draft.references = parsed.references
    draft.headers = [] if isinstance(parsed.changes.headers, Unset) else list(parsed.changes.headers)
    return draft


def attached_item_mime(changes: MessageChanges, now: Timestamp) -> bytes:
    """The RFC 5322 bytes of a message attached as JSON (an itemAttachment's `item`, spec §2.11).

    Only the fields a reader of the attachment sees are taken; `mime.compose` cleans the headers.

    Raises:
        BadRequestError: a body whose content type is neither text nor HTML.
    """
    m = Message("", "", "", "", "", now, now, now, now, False, True, "", "", "")
    for name in ("subject", "body", "importance", "from_", "sender", "to", "cc", "bcc", "reply_to"):
        value = getattr(changes, name)
        if not isinstance(value, Unset):
            setattr(m, name, value)
    if isinstance(m.body, ItemBody) and m.body.content_type not in ("text", "html"):
        raise BadRequestError("Property item.body in payload has a value that does not match schema.")
    return compose(m, include_bcc=True)


class MimeService:
    """The MIME use cases."""

    def __init__(
        self,
        uow: UnitOfWork,
        blobs: BlobStorage,
        clock: Callable[[], Timestamp],
        sending: SendService,
    ) -> None:
        self._uow = uow
        self._blobs = blobs
        self._clock = clock
        self._sending = sending

    async def export(
        self, actor: Actor, user_key: str | None, message_id: str, folder_key: str | None = None
    ) -> bytes | StreamedMime:
        """`GET …/messages/{id}/$value`: the item's MIME (streamed when its files are large).

        Raises:
            ItemNotFoundError: no such item here (or not in the named folder).
        """

        async def unit(tx: Tx) -> tuple[Message, bool, list[Attachment]]:
            owner = await resolve(tx, actor, user_key)
            message = await find_item(tx, owner, message_id, folder_key)
            own = message.is_draft or message.folder_id == await well_known_id(tx, owner, "sentitems")
            if message.is_draft and message.from_ is None:
                message = replace(message, from_=owner.address)
            return message, own, await attachments.attachment_parts(tx, message.id)

        message, own_copy, parts = await self._uow.read(unit)
        if not parts and len(message.body.content) <= _INLINE_MAX:
            return compose(message, include_bcc=own_copy)
        if _streams(parts):
            streamed = await streamed_attachments(self._blobs, parts)
            return await asyncio.to_thread(compose_streamed, message, streamed, include_bcc=own_copy)
        # The HTML-to-text and encoding work of big bodies off the event loop (blob reads are async).
        files = await load_attachments(self._blobs, parts) if parts else []
        return await asyncio.to_thread(compose, message, files, include_bcc=own_copy)

    async def _parse(self, raw: bytes) -> tuple[ParsedMail, MessageChanges]:
        parsed = parse(raw) if len(raw) <= _INLINE_MAX else await asyncio.to_thread(parse, raw)
        items = new_attachments(parsed)
        await attachments.stage(self._blobs, items)  # bytes to the blob store before the unit
        return parsed, MessageChanges(attachments=items)

    async def create(
        self, actor: Actor, user_key: str | None, raw: bytes, folder_key: str | None = None
    ) -> Message:
        """`POST …/messages` in MIME mode: 201 with the new draft (spec §2.2).

        Raises:
            MimeContentError: unreadable MIME; ItemNotFoundError: an unknown folder; and the property
            errors of `drafts.apply_changes` and `attachments.stage`.
        """
        parsed, staged = await self._parse(raw)

        async def unit(tx: Tx) -> Message:
            owner = await resolve(tx, actor, user_key)
            target = (await folder(tx, owner, folder_key)).id if folder_key else None
            now = self._clock()
            draft = draft_from_mime(owner, target or await well_known_id(tx, owner, "drafts"), parsed, now)
            await attachments.attach_new(tx, draft, staged, now)
            await tx.messages.insert(draft)
            tx.changes.message("created", draft)
            return draft

        return await self._uow.write(unit)

    async def send(
        self, actor: Actor, user_key: str | None, raw: bytes, save_to_sent_items: bool
    ) -> SendResult:
        """`POST …/sendMail` in MIME mode: create and submit in one unit; 202 (spec §2.1).

        Raises:
            MimeContentError, InvalidRecipientsError, SendAsDeniedError (a From that is not the
            mailbox), and the property errors of `drafts.apply_changes`.
        """
        parsed, staged = await self._parse(raw)

        async def unit(tx: Tx) -> SendResult:
            owner = await resolve(tx, actor, user_key)
            now = self._clock()
            draft = draft_from_mime(owner, await well_known_id(tx, owner, "drafts"), parsed, now)
            await attachments.attach_new(tx, draft, staged, now)
            await tx.messages.insert(draft)
            tx.changes.message("created", draft)
            return await self._sending.submit_stored(
                tx, owner, draft, actor=actor, save_copy=save_to_sent_items
            )

        return await self._uow.write(unit)
