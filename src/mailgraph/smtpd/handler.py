"""The aiosmtpd hooks: each SMTP step asks `domain.inbound` and answers through `replies`.

aiosmtpd owns the wire (command parsing, dot-stuffing, SIZE and line limits, STARTTLS); this handler
owns what the commands mean here. One handler serves every connection; per-connection state lives in
aiosmtpd's `Session` (the authenticated user is `session.auth_data`) and `Envelope`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from mailgraph.domain.drafts import MAX_RECIPIENTS
from mailgraph.domain.errors import DomainError
from mailgraph.domain.inbound import InboundMail, InboundService
from mailgraph.domain.model import InternetMessageHeader, User
from mailgraph.mime.parse import ParsedMail, parse
from mailgraph.smtpd import replies

log = logging.getLogger("mailgraph.smtpd")

# Messages above this size are parsed in a worker thread so one large message does not stall every
# other session on the event loop; small ones are parsed inline (a thread hop costs more than it saves).
_PARSE_INLINE_MAX = 256 * 1024


def _user(session: Session) -> User | None:
    data = session.auth_data if session.authenticated else None
    return data if isinstance(data, User) else None


def _peer_ip(session: Session) -> str:
    peer: Any = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"


class InboundHandler:
    """aiosmtpd handler (`handle_*` hooks and the `auth_PLAIN` / `auth_LOGIN` mechanisms)."""

    def __init__(self, inbound: InboundService, hostname: str) -> None:
        self._inbound = inbound
        self._hostname = hostname

    # -- session -----------------------------------------------------------------------------------

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        """Advertise ENHANCEDSTATUSCODES (RFC 2034): every reply of ours carries one."""
        session.host_name = hostname  # the five-argument hook must record the name itself
        return [*responses[:-1], "250-ENHANCEDSTATUSCODES", responses[-1]]

    async def handle_exception(self, error: Exception) -> str:
        """An unexpected failure: logged, and a temporary reply so the client keeps the message."""
        log.exception("SMTP session failed", exc_info=error)
        return str(replies.LOCAL_ERROR)

    # -- AUTH (RFC 4954): PLAIN (RFC 4616) and LOGIN ---------------------------------------------------

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        """`AUTH PLAIN [initial-response]`: authzid NUL authcid NUL password, base64."""
        if (refusal := await self._gate(server)) is not None:
            return refusal
        blob = await self._response(server, args, "")
        if blob is None:
            return AuthResult(success=False, handled=True)
        parts = blob.split(b"\x00")
        if len(parts) != 3:
            await server.push(str(replies.AUTH_MALFORMED))
            return AuthResult(success=False, handled=True)
        authzid, login, password = parts
        # Acting for another identity (authzid ≠ authcid) is send-as, which is not granted here.
        if authzid and authzid != login:
            return self._refuse(server, "PLAIN authzid differs from authcid")
        return await self._check(server, login, password)

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        """`AUTH LOGIN [username]`: the de-facto mechanism of Outlook and most MTAs (two challenges)."""
        if (refusal := await self._gate(server)) is not None:
            return refusal
        login = await self._response(server, args, "Username:")
        if login is None:
            return AuthResult(success=False, handled=True)
        password = await self._response(server, [args[0]], "Password:")
        if password is None:
            return AuthResult(success=False, handled=True)
        return await self._check(server, login, password)

    async def _gate(self, server: SMTP) -> AuthResult | None:
        """A refusal before any credential is read, or None (the submission listener throttles here)."""
        return None

    def _refuse(self, server: SMTP, reason: str) -> AuthResult:
        """A failed AUTH that checked no password (`reason` is for the log)."""
        return AuthResult(success=False, handled=False, message=str(replies.AUTH_INVALID))

    @staticmethod
    async def _response(server: SMTP, args: list[str], challenge: str) -> bytes | None:
        """The client's base64 answer: given with the command, or asked for with a 334 challenge."""
        if len(args) > 1:
            try:
                return base64.b64decode(args[1], validate=True)
            except (binascii.Error, ValueError):
                await server.push(str(replies.AUTH_MALFORMED))
                return None
        answer = await server.challenge_auth(challenge)  # pushes its own 501 when it cannot decode
        return answer if isinstance(answer, bytes) else None

    async def _check(self, server: SMTP, login: bytes, password: bytes) -> AuthResult:
        try:
            name, secret = login.decode(), password.decode()
        except UnicodeDecodeError:
            name, secret = "", ""
        if name and not await self._inbound.password_auth_allowed(name):
            # The tenant's SMTP AUTH switch governs this listener too: otherwise it would be a way
            # around a tenant that turned password AUTH off (docs/smtp.md, "Authenticated submission").
            log.info("SMTP AUTH for %r refused: SMTP AUTH is disabled for its tenant", name[:100])
            return AuthResult(success=False, handled=False, message=str(replies.AUTH_DISABLED))
        user = await self._inbound.authenticate(name, secret) if name else None
        if user is None:
            log.info("SMTP AUTH failed for %r", login[:100])
            return AuthResult(success=False, handled=False, message=str(replies.AUTH_INVALID))
        return AuthResult(success=True, auth_data=user, message=str(replies.AUTH_OK))

    # -- the mail transaction ---------------------------------------------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """MAIL FROM: an authenticated session sends only as its own address."""
        try:
            self._inbound.check_sender(_user(session), address)
        except DomainError as exc:
            return str(replies.reply_for(exc))
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return str(replies.SENDER_OK)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """RCPT TO: local users, or anyone for an authenticated session; at most 500 per message."""
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            # RFC 5321 §4.5.3.1.10: 452, and the client sends the rest in another transaction.
            return str(replies.TOO_MANY_RECIPIENTS)
        try:
            await self._inbound.check_recipient(address, _user(session))
        except DomainError as exc:
            return str(replies.reply_for(exc))
        if address.casefold() not in {r.casefold() for r in envelope.rcpt_tos}:
            envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return str(replies.RECIPIENT_OK)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """DATA: parse with the project's MIME code, then deliver (or submit, when authenticated)."""
        raw = envelope.original_content or b""
        user = _user(session)
        trace = self._received(session, envelope, server, user)
        try:
            parsed: ParsedMail = (
                parse(raw) if len(raw) <= _PARSE_INLINE_MAX else await asyncio.to_thread(parse, raw)
            )
            mail = InboundMail(
                envelope.mail_from or "",
                list(envelope.rcpt_tos),
                parsed,
                trace,
                client_ip=_peer_ip(session),
                server_name=self._hostname,
            )
            result = await (self._inbound.receive(mail) if user is None else self._inbound.submit(user, mail))
        except DomainError as exc:
            reply = replies.reply_for(exc)
            log.info("SMTP DATA from %r refused: %s (%s)", envelope.mail_from, reply, exc.message)
            return str(reply)
        except Exception:
            # Answered here rather than by `handle_exception` so aiosmtpd still resets the envelope.
            log.exception("SMTP DATA from %r failed", envelope.mail_from)
            return str(replies.LOCAL_ERROR)
        return str(replies.accepted(result.internet_message_id))

    def _received(
        self, session: Session, envelope: Envelope, server: SMTP, user: User | None
    ) -> InternetMessageHeader:
        """The `Received:` trace field (RFC 5321 §4.4, protocol names of RFC 3848)."""
        ip = _peer_ip(session)
        transport = server.transport  # after STARTTLS or on the implicit-TLS port: a TLS transport
        tls = transport is not None and transport.get_extra_info("sslcontext") is not None
        protocol = (
            ("ESMTP" if session.extended_smtp else "SMTP") + ("S" if tls else "") + ("A" if user else "")
        )
        helo = (session.host_name or "unknown").replace("\r", "").replace("\n", "")[:255]
        recipient = envelope.rcpt_tos[0] if len(envelope.rcpt_tos) == 1 else None
        value = f"from {helo} ([{ip}]) by {self._hostname} (mailgraph) with {protocol}"
        if recipient is not None:
            value += f" for <{recipient}>"
        value += f"; {email.utils.formatdate(localtime=False, usegmt=True)}"
        return InternetMessageHeader("Received", value)
