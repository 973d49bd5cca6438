"""Inbound mail over SMTP: who may send and receive, and delivering or submitting a parsed message.

The SMTP adapter (`smtpd/`) asks here at each step of a transaction and renders the domain errors
raised as SMTP replies (`smtpd/replies.py`):

- AUTH: `password_auth_allowed` is the tenant's SMTP AUTH switch (Exchange Online's
  "SmtpClientAuthenticationDisabled", off by default), which governs password AUTH on every listener;
  `authenticate` checks a user's password (scrypt, in a thread: it costs ~50 ms of CPU);
- MAIL: an authenticated session may only use its own address (`SendAsDeniedError`, spec §4.4);
- RCPT: an address of a tenant domain must name a user (`RecipientNotFoundError`); any other domain
  needs an authenticated session (`RelayDeniedError`: no open relay, RFC 5321 §3.9 / RFC 2505);
- DATA: the parsed message goes to each local recipient's Inbox through `ingest.deliver`, the very
  code a Graph send uses; an authenticated session submits it through `SendService.submit_message`
  instead (Sent Items copy, local delivery, outbound queue), like Exchange's SMTP submission.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from mailgraph.domain import attachments, drafts, ids, ingest, spoofing
from mailgraph.domain.addresses import domain_of, has_control, is_mailbox
from mailgraph.domain.directory import Secrets
from mailgraph.domain.errors import (
    InvalidRecipientsError,
    RecipientNotFoundError,
    RelayDeniedError,
    SendAsDeniedError,
)
from mailgraph.domain.lockout import Lockout, SignInFailures, user_subject
from mailgraph.domain.model import (
    UNSET,
    EmailAddress,
    InternetMessageHeader,
    Message,
    MessageChanges,
    NewAttachment,
    Tenant,
    Timestamp,
    User,
)
from mailgraph.domain.ports import BlobStorage, Tx, UnitOfWork
from mailgraph.domain.sending import SendService
from mailgraph.domain.spoofing import SpoofedSenderError
from mailgraph.domain.tenancy import tenant_of, user_by_address, users_by_address
from mailgraph.mime.parse import ParsedAttachment, ParsedMail


@dataclass(frozen=True, slots=True)
class InboundMail:
    """One SMTP transaction as the domain sees it: the envelope, the parsed content, the trace."""

    mail_from: str
    recipients: list[str]
    """The accepted RCPT TO addresses: they, not the To/Cc headers, say who receives it (RFC 5321 §3.3)."""
    parsed: ParsedMail
    trace: InternetMessageHeader
    """The `Received:` header this server adds (RFC 5321 §4.4), stored first among the headers."""
    client_ip: str = "unknown"
    server_name: str = "localhost"
    """This server's name: the authserv-id of the `Authentication-Results` it writes (RFC 8601 §2.5)."""


@dataclass(frozen=True, slots=True)
class InboundResult:
    """What a transaction did (the SMTP reply names the Message-ID)."""

    internet_message_id: str
    delivered: int
    queued: int


_ONE_MSG_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")


def _is_msg_id(value: str) -> bool:
    # RFC 5322 §3.6.4 msg-id: "<" id-left "@" id-right ">", one token, no spaces or controls.
    return _ONE_MSG_ID.fullmatch(value) is not None and not has_control(value)


def received_message(
    parsed: ParsedMail, mailbox_id: str, trace: InternetMessageHeader, now: Timestamp, domain: str
) -> Message:
    """The item a received message becomes, before delivery copies it into Inboxes.

    The writable properties go through `drafts.apply_changes`, the rules every Graph-created message
    passes (body normalisation, bodyPreview, recipient checks). All received headers are kept (Graph
    shows them in `internetMessageHeaders`), the sender's Message-ID is kept when it is a msg-id, and the
    threading headers are kept so replies thread.

    Raises:
        DomainError: a property the message rules refuse (e.g. more than 500 recipients).
    """
    message_id = parsed.internet_message_id if _is_msg_id(parsed.internet_message_id or "") else ""
    message = Message(
        id=ids.immutable_id(),
        rest_id=ids.message_id(),
        mailbox_id=mailbox_id,
        folder_id="",
        change_key=ids.change_key(),
        created_at=now,
        modified_at=now,
        received_at=now,
        sent_at=parsed.date or now,
        is_draft=True,  # while the writable properties are applied; cleared below
        is_read=False,
        internet_message_id=message_id or ids.internet_message_id(domain),
        conversation_id=ids.conversation_id(),
        conversation_index=ids.conversation_index(now),
    )
    # Headers of a received message are not the ≤5 x- headers a Graph client may set: kept as parsed.
    drafts.apply_changes(message, replace(parsed.changes, headers=UNSET, internet_message_id=UNSET), now)
    message.is_draft = False
    # Graph shows `sender` equal to `from` when the message has no Sender field (RFC 5322 §3.6.2).
    message.sender = message.sender or message.from_
    message.headers = [trace, *parsed.headers]
    message.in_reply_to = parsed.in_reply_to or ""
    message.references = parsed.references or ""
    message.has_attachments = bool(parsed.attachments)
    return message


_MSG_ID = re.compile(r"<[^<>\s]+>")
_THREAD_IDS = 20  # the parent and the newest references are enough to find the thread


def thread_ids(parsed: ParsedMail) -> list[str]:
    """The Message-IDs a received message answers: In-Reply-To, then References newest first."""
    found = _MSG_ID.findall(parsed.in_reply_to or "") + _MSG_ID.findall(parsed.references or "")[::-1]
    return list(dict.fromkeys(found))[:_THREAD_IDS]


async def _deliver_threaded(
    tx: Tx,
    message: Message,
    users: list[User],
    parents: list[str],
    now: Timestamp,
    envelope_from: str,
    folder: str = "inbox",
) -> list[Message]:
    """`ingest.deliver`, with each copy in the conversation its mailbox already holds for this thread.

    Graph groups a reply with the message it answers (conversationId); a recipient's mailbox that holds
    the parent (by In-Reply-To/References) gets the copy in that conversation, other mailboxes in a new one.
    """
    found = await tx.messages.find_conversations([u.id for u in users], parents) if parents else {}
    groups: dict[str, list[User]] = {}
    for user in users:
        groups.setdefault(found.get(user.id, message.conversation_id), []).append(user)
    copies: list[Message] = []
    for conversation, members in groups.items():
        threaded = replace(message, conversation_id=conversation)
        copies += await ingest.deliver(tx, threaded, members, now, folder, envelope_from=envelope_from)
    return copies


def _field(value: str | None) -> str:
    """An attachment name, type or id as a bounded value without control characters (it becomes MIME)."""
    text = "".join(c for c in (value or "") if ord(c) >= 32 and ord(c) != 127)
    return text[: attachments.MAX_NAME]


async def stage_attachments(blobs: BlobStorage, found: list[ParsedAttachment]) -> list[NewAttachment]:
    """Write the bytes of a received message's attachments to the blob store, before the unit of work.

    Unlike a Graph POST (3 MB per attachment, 250 per message) nothing is refused: the SMTP size limit
    already bounds the whole message and the MIME parser the number of parts; received mail is kept.
    """
    staged: list[NewAttachment] = []
    for part in found:
        content_type = _field(part.content_type).lower() or "application/octet-stream"
        item = NewAttachment(
            kind="item" if content_type == "message/rfc822" else "file",
            name=_field(part.name) or "attachment",
            content_type=content_type,
            is_inline=part.is_inline,
            content_id=_field(part.content_id) or None,
        )
        item.blob_hash = await blobs.put(part.data)
        item.size = len(part.data)
        staged.append(item)
    return staged


class InboundService:
    """The use cases of an SMTP session."""

    def __init__(
        self,
        uow: UnitOfWork,
        clock: Callable[[], Timestamp],
        sending: SendService,
        secrets: Secrets,
        blobs: BlobStorage,
        *,
        decoy_hash: str,
    ) -> None:
        self._uow = uow
        self._blobs = blobs
        self._clock = clock
        self._sending = sending
        self._secrets = secrets
        # Checked when the login names no user, so a wrong login costs as long as a wrong password
        # (no user enumeration by timing).
        self._decoy_hash = decoy_hash
        self._lockout = Lockout(uow, clock)

    async def password_auth_allowed(self, login: str) -> bool:
        """Whether the tenant of the login's domain turned SMTP AUTH (LOGIN/PLAIN) on.

        Exchange Online has one switch for password AUTH, on by no tenant unless its admin says so; a
        password never submits mail for a tenant that left it off, whichever listener is asked. The
        answer depends on the domain only (public anyway): it reveals nothing about the user.
        """
        if not is_mailbox(login):
            return False
        tenant = await self._uow.read(lambda tx: tenant_of(tx, login))
        return tenant is not None and tenant.smtp_password_auth

    async def authenticate(self, login: str, password: str) -> User | None:
        """The enabled user with this UPN or address and password, or None.

        Failures count towards the same smart lockout as the token endpoint's (domain/lockout.py): a
        locked user is refused without a password check, so SMTP AUTH is no way around the lock.
        """

        async def load(tx: Tx) -> tuple[User | None, Tenant | None, SignInFailures | None]:
            user = await user_by_address(tx, login)  # looked up in the tenant of the login's domain
            if user is None:
                return None, None, None
            tenant = await tx.directory.get_tenant(user.tenant_id)
            return user, tenant, await tx.lockouts.get(user_subject(user.id))

        user, tenant, state = await self._uow.read(load)
        if self._lockout.locked(state):
            return None
        stored = user.password_hash if user is not None and user.account_enabled else None
        ok = await asyncio.to_thread(self._secrets.verify, password, stored or self._decoy_hash)
        if stored is None or user is None or tenant is None:
            return None
        if not ok:
            await self._lockout.failed(tenant, user_subject(user.id))
            return None
        await self._lockout.succeeded(state)
        return user

    @staticmethod
    def check_sender(submitter: User | None, address: str) -> None:
        """MAIL FROM: anyone may send to our users; an authenticated user only as themselves.

        Raises:
            SendAsDeniedError: an authenticated session names another sender (send-as rights are not
                modelled yet, spec §4.4).
        """
        if submitter is not None and address.casefold() not in {
            submitter.mail.casefold(),
            submitter.user_principal_name.casefold(),
        }:
            raise SendAsDeniedError()

    async def check_recipient(self, address: str, submitter: User | None) -> None:
        """RCPT TO: accept a local user, or any mailbox for an authenticated session.

        Raises:
            InvalidRecipientsError: not a well-formed mailbox.
            RecipientNotFoundError: a tenant domain, but no such user.
            RelayDeniedError: another domain and the session has not authenticated.
        """
        if not is_mailbox(address):
            raise InvalidRecipientsError(f"The recipient '{address}' is not a valid mailbox.")

        async def unit(tx: Tx) -> str:
            # The recipient's domain picks the tenant; the user is looked up in that tenant only.
            tenant = await tx.directory.tenant_for_domain(domain_of(address))
            if tenant is None:
                return "external"
            return "user" if await tx.directory.find_user(tenant.id, address) is not None else "unknown"

        kind = await self._uow.read(unit)
        if kind == "unknown":
            raise RecipientNotFoundError(address)
        if kind == "external" and submitter is None:
            raise RelayDeniedError(address)

    async def receive(self, mail: InboundMail) -> InboundResult:
        """Deliver a message from an unauthenticated session to the Inboxes of its local recipients.

        Anonymous mail claiming a hosted domain is marked and filed by each recipient tenant's policy
        (domain/spoofing.py: Junk Email by default, or the Inbox, or refused).

        Raises:
            RecipientNotFoundError: every recipient was removed since RCPT.
            SpoofedSenderError: it claims a hosted domain and a recipient's tenant rejects such mail.
            DomainError: a property the message rules refuse (see `received_message`).
        """
        now = self._clock()
        # Built outside the unit: parsing-side work stays off the store's writer thread.
        domain = domain_of(mail.recipients[0]) if mail.recipients else "localhost"
        message = received_message(mail.parsed, "", mail.trace, now, domain)
        # Headers only this server may write are dropped from anonymous mail (Exchange's header firewall).
        headers = spoofing.firewall(message.headers[1:], mail.server_name)
        message.headers = [mail.trace, *headers]
        header_from = message.from_.address if message.from_ is not None else ""
        staged = await stage_attachments(self._blobs, mail.parsed.attachments)
        parents = thread_ids(mail.parsed)

        async def unit(tx: Tx) -> InboundResult:
            found = await users_by_address(tx, mail.recipients)
            users = list({u.id: u for u in found.values()}.values())
            if not users:
                raise RecipientNotFoundError(mail.recipients[0] if mail.recipients else "")
            item, folders = message, {"inbox": users}
            claimed = await spoofing.hosted_claim(tx, mail.mail_from, header_from)
            if claimed is not None:
                folders = {}
                for user in users:
                    rule = spoofing.policy(await tx.directory.get_tenant(user.tenant_id))
                    if rule == "reject":
                        raise SpoofedSenderError(claimed)
                    folders.setdefault("junkemail" if rule == "junk" else "inbox", []).append(user)
                marks = spoofing.marks(mail.server_name, mail.client_ip, mail.mail_from, header_from)
                item = replace(message, headers=[mail.trace, *marks, *headers])
            # The received message is no item of its own: its attachment rows exist only while
            # `deliver` copies them to each Inbox copy (shared blobs), then they are released.
            await attachments.attach_new(tx, item, MessageChanges(attachments=staged), now)
            copies: list[Message] = []
            for folder, members in folders.items():
                copies += await _deliver_threaded(tx, item, members, parents, now, mail.mail_from, folder)
            await attachments.release(tx, item.id, now)
            return InboundResult(item.internet_message_id, len(copies), 0)

        return await self._uow.write(unit)

    async def submit(self, submitter: User, mail: InboundMail) -> InboundResult:
        """Submit a message from an authenticated session: Sent Items, local Inboxes, outbound queue.

        Raises:
            SendAsDeniedError: the From or Sender header names someone else.
            DomainError: see `SendService.submit_message` and `received_message`.
        """
        now = self._clock()
        message = received_message(mail.parsed, submitter.id, mail.trace, now, domain_of(submitter.mail))
        message.is_read = True
        parents = thread_ids(mail.parsed)
        if parents:  # a reply joins its thread in the sender's mailbox, as a Graph reply does
            found = await self._uow.read(lambda tx: tx.messages.find_conversations([submitter.id], parents))
            message.conversation_id = found.get(submitter.id, message.conversation_id)
        envelope = [EmailAddress(address) for address in mail.recipients]
        staged = await stage_attachments(self._blobs, mail.parsed.attachments)
        result = await self._sending.submit_message(submitter.id, message, envelope, staged)
        return InboundResult(message.internet_message_id, result.local_copies, result.queued)
