"""The submission listener's hooks (Exchange Online's `smtp.office365.com:587`): AUTH, then send as a mailbox.

Unlike the inbound listener (mail *to* the tenant, `handler.py`), every transaction here must be
authenticated (MAIL before AUTH is `530 5.7.57`, Exchange's reply), and AUTH is
- `XOAUTH2` (`user=<upn>\\x01auth=Bearer <token>\\x01\\x01`): one of our access tokens for Exchange Online
  (`aud` https://outlook.office.com, or Graph's), with `SMTP.Send` (delegated) or `SMTP.SendAsApp`
  (app-only); a failure is answered as Exchange answers it — a `334` challenge carrying a base64 JSON
  error, then, after the client's reply to it, `535 5.7.3 Authentication unsuccessful`;
- `LOGIN` / `PLAIN` with the user's password, only for tenants that turned SMTP AUTH on
  (`535 5.7.139` otherwise, Exchange's text).
Failed AUTHs per client IP are slowed down, then refused (`throttle.py`). What a step means is asked
of `domain.submission`; replies come from `replies.py`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import orjson
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from mailgraph.auth.claims import GRAPH_AUDIENCES, OUTLOOK_AUDIENCES, TokenError
from mailgraph.auth.permissions import OUTLOOK_RESOURCE, SMTP_DELEGATED, allows_smtp_send
from mailgraph.auth.tokens import TokenService
from mailgraph.domain.drafts import MAX_RECIPIENTS
from mailgraph.domain.errors import DomainError
from mailgraph.domain.inbound import InboundMail
from mailgraph.domain.submission import SubmissionAuthError, SubmissionService, Submitter, VerifiedToken
from mailgraph.mime.parse import parse
from mailgraph.smtpd import replies
from mailgraph.smtpd.handler import _PARSE_INLINE_MAX, InboundHandler
from mailgraph.smtpd.throttle import AuthThrottle

log = logging.getLogger("mailgraph.smtpd.submission")

_AUDIENCES: Final = OUTLOOK_AUDIENCES | GRAPH_AUDIENCES
# The error challenge of a failed XOAUTH2 (the shape Google documented for XOAUTH2 and RFC 7628 §3.2.2
# for OAUTHBEARER): status, the scheme, and the scope a client should ask for.
_ERROR_CHALLENGE: Final = orjson.dumps(
    {"status": "401", "schemes": "bearer", "scope": f"{OUTLOOK_RESOURCE}/{SMTP_DELEGATED}"}
)


def _submitter(session: Session) -> Submitter | None:
    data = session.auth_data if session.authenticated else None
    return data if isinstance(data, Submitter) else None


def _ip(server: SMTP) -> str:
    peer: Any = server.session.peer if server.session is not None else None
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"


def parse_xoauth2(blob: bytes) -> tuple[str, str] | None:
    """`user=<login>\\x01auth=Bearer <token>\\x01\\x01` → (login, token), or None if malformed."""
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
    login, auth = fields.get("user", ""), fields.get("auth", "")
    scheme, _, token = auth.partition(" ")
    if not login or scheme.casefold() != "bearer" or not token.strip():
        return None
    return login, token.strip()


class SubmissionHandler(InboundHandler):
    """aiosmtpd handler of the submission listener (the EHLO and error hooks are the inbound ones)."""

    def __init__(
        self, submission: SubmissionService, tokens: TokenService, throttle: AuthThrottle, hostname: str
    ) -> None:
        super().__init__(submission.inbound, hostname)
        self._submission = submission
        self._tokens = tokens
        self.throttle = throttle

    # -- AUTH -------------------------------------------------------------------------------------------

    async def _gate(self, server: SMTP) -> AuthResult | None:
        """The throttle: a refusal while the client IP is locked out, else the wait it has earned."""
        ip = _ip(server)
        if self.throttle.refused(ip):
            log.info("SMTP AUTH from %s refused: too many failures", ip)
            return AuthResult(success=False, handled=False, message=str(replies.AUTH_THROTTLED))
        delay = self.throttle.delay(ip)
        if delay:
            await asyncio.sleep(delay)
        return None

    def _failed(self, server: SMTP, error: SubmissionAuthError) -> AuthResult:
        self.throttle.failed(_ip(server))
        log.info("SMTP submission AUTH from %s failed: %s", _ip(server), error.reason)
        return AuthResult(success=False, handled=False, message=str(replies.reply_for(error)))

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """`AUTH XOAUTH2 [initial-response]` with one of our access tokens."""
        if (refusal := await self._gate(server)) is not None:
            return refusal
        blob = await self._response(server, args, "")
        if blob is None:
            return AuthResult(success=False, handled=True)
        try:
            submitter = await self._token_login(blob)
        except SubmissionAuthError as exc:
            # Exchange (like Gmail) first sends the error as a challenge; the client answers it (an empty
            # line, usually), and only then comes the final 535.
            answer = await server.challenge_auth(_ERROR_CHALLENGE)
            result = self._failed(server, exc)
            return AuthResult(success=False, handled=True) if not isinstance(answer, bytes) else result
        return AuthResult(success=True, auth_data=submitter, message=str(replies.AUTH_OK))

    async def _token_login(self, blob: bytes) -> Submitter:
        parsed = parse_xoauth2(blob)
        if parsed is None:
            raise SubmissionAuthError("malformed XOAUTH2 initial response")
        login, token = parsed
        try:
            claims = await self._tokens.authenticate(token, _AUDIENCES)
        except TokenError as exc:
            raise SubmissionAuthError(f"token refused: {exc.message}") from None
        if not allows_smtp_send(claims.kind, claims.permissions):
            raise SubmissionAuthError(f"token has neither SMTP.Send nor SMTP.SendAsApp ({claims.kind})")
        verified = VerifiedToken(claims.tenant_id, claims.kind, claims.object_id, claims.app_id)
        return await self._submission.token_login(verified, login)

    # PLAIN and LOGIN are the inbound handler's (smtpd/handler.py); these hooks make them the
    # submission listener's: the per-IP throttle first, Exchange's replies, the tenant's switch.

    def _refuse(self, server: SMTP, reason: str) -> AuthResult:
        return self._failed(server, SubmissionAuthError(reason))

    async def _check(self, server: SMTP, login: bytes, password: bytes) -> AuthResult:
        try:
            submitter = await self._submission.password_login(login.decode(), password.decode())
        except UnicodeDecodeError:
            return self._failed(server, SubmissionAuthError("credentials are not UTF-8"))
        except SubmissionAuthError as exc:
            return self._failed(server, exc)
        return AuthResult(success=True, auth_data=submitter, message=str(replies.AUTH_OK))

    # -- the mail transaction ------------------------------------------------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """MAIL FROM: the authenticated mailbox, or one it may send as (550 5.7.60 otherwise)."""
        submitter = _submitter(session)
        if submitter is None:
            return str(replies.NOT_AUTHENTICATED)
        try:
            await self._submission.check_sender(submitter, address)
        except DomainError as exc:
            log.info("SMTP MAIL FROM %r refused for %s", address[:100], submitter.mailbox.user_principal_name)
            return str(replies.reply_for(exc))
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return str(replies.SENDER_OK)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """RCPT TO: any mailbox (an authenticated submission relays); at most 500 per message."""
        submitter = _submitter(session)
        if submitter is None:  # defensive: no MAIL was accepted without AUTH
            return str(replies.NOT_AUTHENTICATED)
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return str(replies.TOO_MANY_RECIPIENTS)
        try:
            await self._inbound.check_recipient(address, submitter.mailbox)
        except DomainError as exc:
            return str(replies.reply_for(exc))
        if address.casefold() not in {r.casefold() for r in envelope.rcpt_tos}:
            envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return str(replies.RECIPIENT_OK)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """DATA: Graph's send use case; `250` only once the unit of work is committed."""
        submitter = _submitter(session)
        if submitter is None:  # defensive: no MAIL was accepted without AUTH
            return str(replies.NOT_AUTHENTICATED)
        raw = envelope.original_content or b""
        trace = self._received(session, envelope, server, submitter.mailbox)
        try:
            parsed = parse(raw) if len(raw) <= _PARSE_INLINE_MAX else await asyncio.to_thread(parse, raw)
            mail = InboundMail(envelope.mail_from or "", list(envelope.rcpt_tos), parsed, trace)
            result = await self._submission.submit(submitter, mail)
        except DomainError as exc:
            reply = replies.reply_for(exc)
            log.info("SMTP submission from %r refused: %s (%s)", envelope.mail_from, reply, exc.message)
            return str(reply)
        except Exception:
            log.exception("SMTP submission from %r failed", envelope.mail_from)
            return str(replies.LOCAL_ERROR)
        return str(replies.accepted(result.internet_message_id))
