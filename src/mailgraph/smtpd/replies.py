"""THE map from failures to SMTP replies, each with its enhanced status code (RFC 3463, RFC 5248).

The domain raises typed errors; this module alone decides what the client reads. Two tables:

- `DOMAIN_REPLIES`: domain error class → reply, looked up along the class hierarchy, so a subclass
  without a row of its own answers like its parent;
- `WIRE_REPLIES`: aiosmtpd's own replies (sent before our hooks run: size limit, command order,
  syntax) → the same reply with an enhanced status code, since we advertise ENHANCEDSTATUSCODES
  (RFC 2034 §3: then every reply after EHLO carries one).

An exception that is not a domain error is a bug or an outage of ours: it answers `451 4.3.0`, a
temporary failure, so the sending MTA keeps the message and retries (RFC 5321 §4.2.5) — never a 5xx
that would bounce mail we failed to store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from mailgraph.domain import errors as d
from mailgraph.domain.send_quota import SendRateExceededError
from mailgraph.domain.spoofing import SpoofedSenderError
from mailgraph.domain.submission import SmtpAuthDisabledError, SubmissionAuthError


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply line: basic code, enhanced status code, text."""

    code: int
    status: str
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.status} {self.text}"


DOMAIN_REPLIES: Final[dict[type[d.DomainError], Reply]] = {
    # RFC 3463 §3.2: X.1.1 bad destination mailbox address (Exchange: RESOLVER.ADR.RecipNotFound).
    d.RecipientNotFoundError: Reply(550, "5.1.1", "Recipient address rejected: user unknown"),
    d.UserNotFoundError: Reply(550, "5.1.1", "Recipient address rejected: user unknown"),
    # X.1.3 bad destination mailbox address syntax.
    d.InvalidRecipientsError: Reply(553, "5.1.3", "Recipient address rejected: not a valid mailbox"),
    # X.7.1 delivery not authorized: the classic "relaying denied" (Exchange: 550 5.7.54 for unauthenticated
    # relay; 5.7.1 is the RFC 3463 code every client library recognises).
    d.RelayDeniedError: Reply(550, "5.7.1", "Relaying denied; authenticate to send to other domains"),
    # Exchange Online's reply for a submitter without send-as rights (RFC 5248 registry: 5.7.60).
    d.SendAsDeniedError: Reply(
        550, "5.7.60", "SMTP; Client does not have permissions to send as this sender"
    ),
    # Anonymous mail claiming a hosted domain, for a tenant whose policy is "reject" (domain/spoofing.py).
    # X.7.1 delivery not authorized (Exchange answers intra-org spoofing it rejects with 5.7.1 too).
    SpoofedSenderError: Reply(
        550,
        "5.7.1",
        "Sender address rejected: anonymous mail may not use this organization's domain; authenticate to send",
    ),
    d.AccessDeniedError: Reply(550, "5.7.1", "Access denied"),
    # Over the mailbox's message rate (spec §6: SMTP submission is refused, not queued): temporary, so
    # the client retries later. X.7.0 other security/policy status; Exchange's exact text unconfirmed.
    SendRateExceededError: Reply(
        450, "4.7.0", "STOREDRV.ClientSubmit; sender's message rate limit exceeded, try again later"
    ),
    # X.3.4 message too big for system.
    d.MessageSizeExceededError: Reply(552, "5.3.4", "Message size exceeds fixed maximum message size"),
    # X.6.0 other or undefined media error: content we cannot store (see docs/smtp.md).
    d.MimeContentError: Reply(550, "5.6.0", "Message content rejected: not a readable RFC 5322 message"),
    d.InvalidPropertyValueError: Reply(550, "5.6.0", "Message content rejected"),
    d.InvalidPropertySetError: Reply(550, "5.6.0", "Message content rejected"),
    # Submission AUTH failures (docs/smtp-submission.md), Exchange Online's replies and texts.
    SmtpAuthDisabledError: Reply(
        535, "5.7.139", "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."
    ),
    SubmissionAuthError: Reply(535, "5.7.3", "Authentication unsuccessful"),
    # The store is unreachable for a moment: temporary, so the sender keeps the message and retries.
    d.StoreUnavailableError: Reply(451, "4.3.0", "Local error in processing; try again later"),
    # Disk full: RFC 5321 §4.2.3 "452 insufficient system storage", RFC 3463 X.3.1 "mail system full";
    # temporary, so the sending MTA keeps the message.
    d.StorageFullError: Reply(452, "4.3.1", "Insufficient system storage"),
    d.DomainError: Reply(550, "5.6.0", "Message rejected"),
}

LOCAL_ERROR: Final = Reply(451, "4.3.0", "Local error in processing; try again later")

# Replies of our own steps.
SENDER_OK: Final = Reply(250, "2.1.0", "Sender OK")
RECIPIENT_OK: Final = Reply(250, "2.1.5", "Recipient OK")
TOO_MANY_RECIPIENTS: Final = Reply(452, "4.5.3", "Too many recipients")
AUTH_OK: Final = Reply(235, "2.7.0", "Authentication successful")
AUTH_INVALID: Final = Reply(535, "5.7.8", "Authentication credentials invalid")
AUTH_DISABLED: Final = DOMAIN_REPLIES[SmtpAuthDisabledError]  # the tenant's SMTP AUTH switch is off
AUTH_MALFORMED: Final = Reply(501, "5.5.2", "Cannot decode the authentication data")
# RFC 4954 §6: 454 4.7.0 temporary authentication failure (the submission throttle, smtpd/throttle.py).
AUTH_THROTTLED: Final = Reply(454, "4.7.0", "Too many failed authentication attempts; try again later")
# Exchange Online's reply to MAIL/RCPT/DATA before AUTH on the submission port.
NOT_AUTHENTICATED: Final = Reply(530, "5.7.57", "Client not authenticated to send mail")


def accepted(message_id: str) -> Reply:
    """The reply to a stored message (RFC 3463 X.0.0), naming its Message-ID for the sender's logs."""
    return Reply(250, "2.0.0", f"OK {message_id} queued")


def reply_for(error: BaseException) -> Reply:
    """The reply for a failure: the nearest row of `DOMAIN_REPLIES`, else a temporary local error."""
    if isinstance(error, d.DomainError):
        for klass in type(error).__mro__:
            reply = DOMAIN_REPLIES.get(klass)
            if reply is not None:
                return reply
    return LOCAL_ERROR


_SIZE: Final = str(DOMAIN_REPLIES[d.MessageSizeExceededError])

# aiosmtpd's replies (aiosmtpd/smtp.py), rewritten with RFC 3463 codes. Only exact lines are rewritten.
WIRE_REPLIES: Final[dict[str, str]] = {
    "552 Error: Too much mail data": _SIZE,
    "552 Error: message size exceeds fixed maximum message size": _SIZE,
    "250 OK": "250 2.0.0 OK",
    "221 Bye": "221 2.0.0 Bye",
    "500 Error: bad syntax": "500 5.5.2 Error: bad syntax",
    "500 Command line too long": "500 5.5.6 Command line too long",
    "500 Line too long (see RFC5321 4.5.3.1.6)": "500 5.5.6 Line too long (RFC 5321 section 4.5.3.1.6)",
    "500 Error: strict ASCII mode": "500 5.5.2 Error: non-ASCII command without SMTPUTF8",
    "503 Error: need MAIL command": "503 5.5.1 Error: need MAIL command",
    "503 Error: need RCPT command": "503 5.5.1 Error: need RCPT command",
    "503 Error: nested MAIL command": "503 5.5.1 Error: nested MAIL command",
    "503 Error: send HELO first": "503 5.5.1 Error: send HELO first",
    "503 Error: send EHLO first": "503 5.5.1 Error: send EHLO first",
    "503 Already authenticated": "503 5.5.1 Already authenticated",
    "530 Must issue a STARTTLS command first": "530 5.7.0 Must issue a STARTTLS command first",
    "554 Command refused due to lack of security": "554 5.7.0 Command refused due to lack of security",
    "454 TLS not available": "454 4.7.0 TLS not available",
    "220 Ready to start TLS": "220 2.0.0 Ready to start TLS",
    "501 Not enough value": "501 5.5.4 Syntax: AUTH mechanism [initial-response]",
    "501 Too many values": "501 5.5.4 Syntax: AUTH mechanism [initial-response]",
    "555 MAIL FROM parameters not recognized or not implemented": "555 5.5.4 MAIL FROM parameters not recognized",
    "555 RCPT TO parameters not recognized or not implemented": "555 5.5.4 RCPT TO parameters not recognized",
}
_SYNTAX_PREFIXES: Final = ("501 Syntax:", "501 Error:", "500 Error: command")


def wire(line: str) -> str:
    """An aiosmtpd reply line with an enhanced status code (unchanged when it already has one)."""
    rewritten = WIRE_REPLIES.get(line)
    if rewritten is not None:
        return rewritten
    if line.startswith(_SYNTAX_PREFIXES):
        # RFC 3463 X.5.2: syntax error; X.5.1: invalid command.
        status = "5.5.1" if line.startswith("500 Error: command") else "5.5.2"
        return f"{line[:3]} {status} {line[4:]}"
    return line
