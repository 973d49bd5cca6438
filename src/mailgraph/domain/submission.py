"""SMTP client submission (Exchange Online's `smtp.office365.com:587`, issue 16): who may submit, as whom.

The submission listener (`smtpd/submission.py`) verifies tokens (an auth concern) and asks here:

- `password_login`: AUTH LOGIN/PLAIN, allowed only when the user's tenant turned Exchange's "SMTP AUTH"
  switch on (`Tenant.smtp_password_auth`, off by default) — else `SmtpAuthDisabledError`; the password
  check is `InboundService.authenticate`'s, under the store-backed smart lockout (`domain/lockout.py`);
- `token_login`: XOAUTH2 after the token was verified: the mailbox named by `user=` must be the token's
  user (delegated) or, for an app token, a mailbox of the app's tenant that its application access
  policy lets it reach (the rule Graph application sends obey, `delegation.check_mailbox_access`);
- `check_sender`: MAIL FROM must be the mailbox or one it may send as (`delegation.sending_identity`,
  the send-as rules of the Graph path; otherwise `SendAsDeniedError`, 550 5.7.60);
- `submit`: the message goes through `InboundService.submit` → `SendService.submit_message`, the very
  send use case of Graph's sendMail (Sent Items copy, local Inboxes, outbound queue, Bcc by envelope).

Every failure of a login is one `SubmissionAuthError` whatever the cause (no oracle for the client);
the cause goes to the log only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mailgraph.domain.addresses import is_mailbox
from mailgraph.domain.delegation import check_mailbox_access, sending_identity
from mailgraph.domain.errors import AccessDeniedError, DomainError, SendAsDeniedError
from mailgraph.domain.inbound import InboundMail, InboundResult, InboundService
from mailgraph.domain.model import Actor, EmailAddress, User
from mailgraph.domain.ports import Tx, UnitOfWork


class SubmissionAuthError(DomainError):
    """An AUTH that must fail; `reason` is for the log, never for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__("Authentication unsuccessful")
        self.reason = reason


class SmtpAuthDisabledError(SubmissionAuthError):
    """AUTH LOGIN/PLAIN for a tenant whose SMTP AUTH switch is off (Exchange Online's default)."""


@dataclass(frozen=True, slots=True)
class Submitter:
    """An authenticated submission session: the mailbox it sends from, and how it authenticated."""

    mailbox: User
    """The mailbox named at AUTH: its Sent Items get the copy, MAIL FROM is checked against it."""
    method: Literal["password", "delegated", "app"]
    app_id: str | None = None


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a verified XOAUTH2 token says (the listener verified signature, audience, expiry)."""

    tenant_id: str
    kind: Literal["user", "app"]
    object_id: str
    app_id: str


class SubmissionService:
    """The use cases of a submission session."""

    def __init__(self, uow: UnitOfWork, inbound: InboundService) -> None:
        self._uow = uow
        self._inbound = inbound

    @property
    def inbound(self) -> InboundService:
        """The inbound use cases (recipient checks) the submission listener shares."""
        return self._inbound

    async def password_login(self, login: str, password: str) -> Submitter:
        """AUTH LOGIN/PLAIN: the user's password, if the tenant of the login's domain allows it.

        The switch is checked before the password: it depends on the domain only (public anyway), so
        it reveals nothing about the user and costs no scrypt run. The password check is inbound SMTP
        AUTH's: a failure counts towards the user's smart lockout, shared with the token endpoint and
        the sign-in page, and a locked user is refused without a password check.

        Raises:
            SmtpAuthDisabledError: the tenant has SMTP AUTH off (or the domain is no tenant's).
            SubmissionAuthError: unknown login, wrong password, disabled or locked account.
        """
        if not await self._inbound.password_auth_allowed(login):
            raise SmtpAuthDisabledError(f"SMTP AUTH is disabled for the tenant of {login[:100]!r}")
        user = await self._inbound.authenticate(login, password)
        if user is None:
            raise SubmissionAuthError(f"wrong password or unknown login {login[:100]!r}")
        return Submitter(user, "password")

    async def token_login(self, token: VerifiedToken, login: str) -> Submitter:
        """XOAUTH2 `user=<login>` with a verified token of the right permission.

        Raises:
            SubmissionAuthError: the login is no user of the token's tenant, is not the token's user
                (delegated), or is outside the app's application access policy (app-only).
        """

        async def unit(tx: Tx) -> Submitter:
            user = await tx.directory.find_user(token.tenant_id, login) if is_mailbox(login) else None
            if user is None or not user.account_enabled:
                raise SubmissionAuthError(f"no enabled user {login[:100]!r} in tenant {token.tenant_id}")
            if token.kind == "user":
                if user.id != token.object_id:
                    raise SubmissionAuthError(f"the token is not {login[:100]!r}'s")
                return Submitter(user, "delegated", token.app_id)
            actor = Actor("app", token.tenant_id, token.app_id, None, frozenset())
            try:
                await check_mailbox_access(tx, actor, user)
            except AccessDeniedError:
                raise SubmissionAuthError(f"app {token.app_id} may not reach {login[:100]!r}") from None
            return Submitter(user, "app", token.app_id)

        return await self._uow.read(unit)

    async def check_sender(self, submitter: Submitter, address: str) -> None:
        """MAIL FROM: the mailbox itself, or a mailbox it holds SendAs or SendOnBehalf on.

        Raises:
            SendAsDeniedError: any other address (also the null reverse-path: a submission has a sender).
        """
        if not address or not is_mailbox(address):
            raise SendAsDeniedError()
        owner = submitter.mailbox

        async def unit(tx: Tx) -> None:
            # actor None: the mailbox owner is the real sender; the Graph-only rule that a delegated
            # token needs Mail.Send.Shared to represent another does not apply to SMTP.Send.
            await sending_identity(tx, None, owner, EmailAddress(address))

        await self._uow.read(unit)

    async def submit(self, submitter: Submitter, mail: InboundMail) -> InboundResult:
        """DATA: the send use case of Graph's sendMail, routed by the envelope; committed on return.

        Raises:
            SendAsDeniedError: the From header names a mailbox the submitter may not send as.
            DomainError: see `InboundService.submit`.
        """
        return await self._inbound.submit(submitter.mailbox, mail)
