"""Replies and forwards: the generated draft (spec §2.7) and the direct sends (spec §2.8).

`createReply|createReplyAll|createForward` write a new draft into Drafts; `reply|replyAll|forward`
build the same draft and submit it through the send path in the same unit of work, so a failing
send (no recipients, send-as denied) leaves no draft behind.

The draft, per spec §2.7: subject `RE: ` / `FW: ` (never doubled); recipients from the original's
replyTo (else from), reply-all adding To and Cc without the mailbox owner; body from `quoting`;
the original's conversationId; conversationIndex extended by a child block (MS-OXOMSG 2.2.1.3);
In-Reply-To and References (RFC 5322 §3.6.4) so that the thread survives SMTP.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from typing import Literal

from mailgraph.domain import attachments, bodies, drafts, ids, quoting
from mailgraph.domain.mailboxes import find_item, resolve, well_known_id
from mailgraph.domain.model import (
    UNSET,
    Actor,
    EmailAddress,
    ItemBody,
    Message,
    MessageChanges,
    Timestamp,
    Unset,
    User,
)
from mailgraph.domain.moves import copy_attachments
from mailgraph.domain.ports import Tx, UnitOfWork
from mailgraph.domain.sending import SendResult, SendService

Kind = Literal["reply", "replyAll", "forward"]

_RE = re.compile(r"^\s*re\s*:", re.IGNORECASE)
_FW = re.compile(r"^\s*(?:fw|fwd)\s*:", re.IGNORECASE)
MAX_REFERENCES = 20  # keep References bounded: the first id and the most recent ones (RFC 5322 §3.6.4)


@dataclass(slots=True)
class ReplyRequest:
    """What the caller asked for: the comment, the writable message properties, forward's recipients.

    `changes.body` is used in place of the comment (the two together are refused at the edge). In MIME
    mode (`mime`), the MIME body is the whole body: no quote is generated (spec §0.2: the timezone
    preference has no effect in MIME mode), and the MIME headers override the derived fields.
    """

    kind: Kind
    comment: str | None = None
    changes: MessageChanges = field(default_factory=MessageChanges)
    to: list[EmailAddress] | None = None
    mime: bool = False


def subject(kind: Kind, original: str) -> str:
    """`RE: ` or `FW: ` + the original subject, unless it already starts with that prefix."""
    if kind == "forward":
        return original if _FW.match(original) else f"FW: {original}"
    return original if _RE.match(original) else f"RE: {original}"


def _is_owner(address: EmailAddress, owner: User) -> bool:
    return address.key in {owner.mail.casefold(), owner.user_principal_name.casefold()}


def _unique(items: list[EmailAddress], exclude: set[str]) -> list[EmailAddress]:
    out: list[EmailAddress] = []
    for item in items:
        if item.key not in exclude:
            exclude.add(item.key)
            out.append(item)
    return out


def recipients(kind: Kind, original: Message, owner: User) -> tuple[list[EmailAddress], list[EmailAddress]]:
    """(To, Cc) of the generated draft (spec §2.7; forward starts empty)."""
    if kind == "forward":
        return [], []
    sender = original.from_ or original.sender
    targets = list(original.reply_to) if original.reply_to else ([sender] if sender else [])
    if kind == "reply":
        return _unique(targets, set()), []
    owner_keys = {a.key for a in (*targets, *original.to, *original.cc) if _is_owner(a, owner)}
    to = _unique([*targets, *original.to], set(owner_keys))
    cc = _unique(list(original.cc), owner_keys | {a.key for a in to})
    return to, cc


def child_conversation_index(parent: str, now: Timestamp) -> str:
    """The parent's conversation index plus a 5-byte child block (MS-OXOMSG 2.2.1.3).

    The block holds DeltaCode (1 bit) and TimeDelta (31 bits) — the time since the header block's
    FILETIME, in units of 2^18 (or 2^23 when DeltaCode is 1) 100-ns ticks — then 4 random bits and a
    4-bit sequence count. A parent that is not a valid index (e.g. from a foreign mailer) is kept as is
    and gets the block appended to a fresh 22-byte header, so the result is always well formed.
    """
    try:
        raw = base64.b64decode(parent, validate=True)
    except ValueError:
        raw = b""
    if len(raw) < 22 or (len(raw) - 22) % 5:
        raw = base64.b64decode(ids.conversation_index(now))
    header_time = int.from_bytes(raw[1:6], "big") << 24  # FILETIME's high 40 bits (ids.py)
    now_ft = now * 10 + 116444736000000000
    delta = max(0, now_ft - header_time)
    # DeltaCode 0 when the delta fits 31 bits at 2^18 ticks (about 1.7 years), else 1 at 2^23 ticks.
    code, shift = (0, 18) if delta >> 18 < 1 << 31 else (1 << 31, 23)
    block = code | ((delta >> shift) & 0x7FFFFFFF)
    tail = (secrets.randbits(4) << 4) | (((len(raw) - 22) // 5 + 1) & 0x0F)
    return base64.b64encode(raw + block.to_bytes(4, "big") + bytes([tail])).decode("ascii")


def references(original: Message) -> str:
    """RFC 5322 §3.6.4: the parent's References (or its In-Reply-To) followed by the parent's msg-id."""
    chain = original.references.split() or original.in_reply_to.split()
    if original.internet_message_id:
        chain.append(original.internet_message_id)
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return " ".join(chain)


def build_draft(
    kind: Kind,
    original: Message,
    owner: User,
    drafts_id: str,
    request: ReplyRequest,
    zone: tzinfo,
    now: Timestamp,
) -> Message:
    """The generated draft, with the caller's message properties applied on top.

    Raises:
        DomainError: a caller property the draft rules of `drafts.apply_changes` refuse.
    """
    draft = drafts.new_draft(owner, drafts_id, MessageChanges(), now)
    draft.subject = subject(kind, original.subject)
    draft.to, draft.cc = recipients(kind, original, owner)
    if request.to is not None:
        draft.to = list(request.to)
    comment: ItemBody | None = None
    if not isinstance(request.changes.body, Unset):
        comment = request.changes.body
    elif request.comment:
        comment = ItemBody("text", request.comment)
    if request.mime:
        draft.body = bodies.normalize(comment or ItemBody("text", ""))
    else:
        draft.body = bodies.normalize(quoting.quoted_body(original, comment, zone))
    draft.body_preview = bodies.preview(draft.body)
    draft.conversation_id = original.conversation_id
    draft.conversation_index = child_conversation_index(original.conversation_index, now)
    draft.in_reply_to = original.internet_message_id
    draft.references = references(original)
    draft.from_ = draft.sender = owner.address
    drafts.apply_changes(draft, replace(request.changes, body=UNSET), now, creating=True)
    return draft


class ReplyService:
    """The reply and forward use cases."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], Timestamp], sending: SendService) -> None:
        self._uow = uow
        self._clock = clock
        self._sending = sending

    async def _draft(
        self,
        tx: Tx,
        owner: User,
        message_id: str,
        folder_key: str | None,
        request: ReplyRequest,
        zone: tzinfo,
    ) -> Message:
        original = await find_item(tx, owner, message_id, folder_key)
        drafts_id = await well_known_id(tx, owner, "drafts")
        now = self._clock()
        draft = build_draft(request.kind, original, owner, drafts_id, request, zone, now)
        await attachments.attach_new(tx, draft, request.changes, now)  # message.attachments, staged before
        await tx.messages.insert(draft)
        tx.changes.message("created", draft)
        if request.kind == "forward":  # spec §2.7: a forward carries the original's attachments
            await copy_attachments(tx, original, draft, now)
        return draft

    async def create(
        self,
        actor: Actor,
        user_key: str | None,
        message_id: str,
        folder_key: str | None,
        request: ReplyRequest,
        zone: tzinfo,
    ) -> Message:
        """createReply / createReplyAll / createForward: the new draft, saved in Drafts (spec §2.7).

        Raises:
            ItemNotFoundError: no such original here; and the property errors of `drafts.apply_changes`.
        """

        async def unit(tx: Tx) -> Message:
            owner = await resolve(tx, actor, user_key)
            return await self._draft(tx, owner, message_id, folder_key, request, zone)

        return await self._uow.write(unit)

    async def send(
        self,
        actor: Actor,
        user_key: str | None,
        message_id: str,
        folder_key: str | None,
        request: ReplyRequest,
        zone: tzinfo,
    ) -> SendResult:
        """reply / replyAll / forward: build the draft and send it at once, in one unit (spec §2.8).

        Raises:
            ItemNotFoundError, and the errors of `SendService.submit_stored` (InvalidRecipientsError, …).
        """

        async def unit(tx: Tx) -> SendResult:
            owner = await resolve(tx, actor, user_key)
            draft = await self._draft(tx, owner, message_id, folder_key, request, zone)
            return await self._sending.submit_stored(tx, owner, draft, actor=actor)

        # After the commit, like send: external recipients are relayed now, not at the next idle poll.
        return await self._uow.write(unit)
