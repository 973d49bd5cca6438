"""The SMTP listeners: a port with STARTTLS and, optionally, an implicit-TLS port; limits; start/stop.

Beside the inbound ports, the submission ports (issue 16, docs/smtp-submission.md): `submission`
(STARTTLS, Exchange's 587) and optionally `submissions` (implicit TLS, 465), served by the
`SubmissionHandler` with the same size limit, reply map and MIME parsing; every transaction there
needs AUTH, and AUTH needs TLS unless `submission_allow_plaintext` (local testing only).

Both listeners run on the server's own event loop (no thread, unlike aiosmtpd's `Controller`): the
store's units of work are awaited from the same loop as the HTTP requests, and `close()` stops them
before the store closes. Limits: the message size (SIZE, RFC 1870; aiosmtpd discards the excess and
answers 552 after the data), the line length (RFC 5321 §4.5.3.1.6), a session idle timeout
(`timeout_s`), the number of open sessions (`max_sessions`, then 421 4.3.2), and at most a few AUTH
attempts per connection (each costs a scrypt verification). Figures: docs/limits.md.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
from dataclasses import dataclass
from typing import Any, AnyStr, cast

from aiosmtpd.smtp import SMTP, Session

from mailgraph.smtpd import replies
from mailgraph.smtpd.handler import InboundHandler

log = logging.getLogger("mailgraph.smtpd")
# aiosmtpd logs every command line at INFO on "mail.log"; our own log says what matters (refusals,
# failed AUTH, errors), so its chatter is kept for debugging only.
_AIOSMTPD_LOG = logging.getLogger("mail.log")

DEFAULT_MAX_SIZE = 35 * 1024 * 1024  # spec §6: Exchange Online's default maximum message size
_AUTH_ATTEMPTS = 5
_UNLIMITED = 1_000_000_000
_IDLE_TIMEOUT_S = 300  # RFC 5321 §4.5.3.2.7: a server should wait at least 5 minutes for the next command
_AUTH_LINE_MAX = 12_288  # RFC 4954 §4: the longest AUTH command line (and SASL response) a server takes
_LINE_MAX = SMTP.line_length_limit  # RFC 5321 §4.5.3.1.6: 1,000 octets with CRLF (aiosmtpd: 1001)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """What the listeners need: where to listen, the size limit, the EHLO name and the TLS context."""

    host: str
    port: int | None
    tls_port: int | None = None
    max_size: int = DEFAULT_MAX_SIZE
    hostname: str = "localhost"
    tls: ssl.SSLContext | None = None
    submission_port: int | None = None
    submission_tls_port: int | None = None
    submission_allow_plaintext: bool = False
    timeout_s: float = _IDLE_TIMEOUT_S
    """Seconds a session may wait for its next command line (or DATA line) before it is closed."""
    max_sessions: int = 500
    """Open sessions over all listeners; one more is answered 421 4.3.2 and closed (RFC 5321 §3.8)."""


class _Busy(asyncio.Protocol):
    """The answer to a connection over `max_sessions`: 421 and close, holding nothing."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        transport.write(b"421 4.3.2 Too many connections, try again later\r\n")
        transport.close()


class _QuietSession(Session):
    """aiosmtpd's Session, without the deprecation log line its `login_data` setter writes on every AUTH."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _Smtp(SMTP):
    """aiosmtpd's protocol with enhanced status codes on its own replies (`replies.wire`)."""

    def __init__(self, handler: InboundHandler, on_close: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._on_close = on_close

    async def push(self, status: AnyStr) -> None:
        await super().push(replies.wire(status) if isinstance(status, str) else status)

    def _create_session(self) -> Session:
        return _QuietSession(self.loop)

    def connection_lost(self, error: Exception | None) -> None:
        self._on_close(self)
        super().connection_lost(error)


class _SubmissionSmtp(_Smtp):
    """The submission protocol: an AUTH line may carry a whole access token.

    RFC 4954 §4 allows AUTH command lines of 12,288 octets (an XOAUTH2 initial response with a JWT is
    1.5-3 KB; aiosmtpd's default is 512). The stream reader's limit comes from the class attribute at
    construction; the instance attribute then keeps mail lines at RFC 5321's 1,000 octets.
    """

    line_length_limit = _AUTH_LINE_MAX + 2

    def __init__(self, handler: InboundHandler, on_close: Any, **kwargs: Any) -> None:
        super().__init__(handler, on_close, **kwargs)
        self.line_length_limit = _LINE_MAX
        # Per instance: aiosmtpd's `command_size_limits` is a class-level dict shared by all sessions.
        self.command_size_limits = collections.defaultdict(lambda: SMTP.command_size_limit)
        self.command_size_limits["AUTH"] = _AUTH_LINE_MAX


class SmtpServer:
    """The listeners of one `mailgraph serve`."""

    def __init__(
        self, handler: InboundHandler, settings: SmtpSettings, submission: InboundHandler | None = None
    ) -> None:
        self._handler = handler
        self._submission = submission
        self.settings = settings
        if _AIOSMTPD_LOG.level == logging.NOTSET:
            _AIOSMTPD_LOG.setLevel(logging.WARNING)
        self._servers: list[asyncio.Server] = []
        self._sessions: set[_Smtp] = set()
        self.ports: dict[str, int] = {}
        """Bound port per listener, `smtp`, `smtps`, `submission`, `submissions` (port 0 picks a free one)."""

    @property
    def submission(self) -> InboundHandler | None:
        """The submission listeners' handler (its `throttle` is tuned by tests and tools)."""
        return self._submission

    def _protocol(self, *, implicit_tls: bool, submission: bool = False) -> asyncio.Protocol:
        settings = self.settings
        if len(self._sessions) >= settings.max_sessions:
            log.warning("SMTP: %d sessions open, refusing a connection with 421", len(self._sessions))
            return _Busy()
        handler = self._submission if submission and self._submission is not None else self._handler
        # Submission: AUTH only over TLS unless plaintext is allowed. MAIL without AUTH is refused by the
        # handler (530 5.7.57), not by aiosmtpd's `auth_required`, which warns on every implicit-TLS
        # connection (it cannot see that such a transport is already encrypted).
        plain_auth = submission and settings.submission_allow_plaintext
        protocol = _SubmissionSmtp if submission else _Smtp
        session = protocol(
            handler,
            self._sessions.discard,
            data_size_limit=settings.max_size,
            # RFC 6531: internationalized addresses and raw UTF-8 headers (the domain accepts UTF-8
            # mailboxes, domain/addresses.py); without it such mail could not reach us at all.
            enable_SMTPUTF8=True,
            hostname=settings.hostname,
            ident="mailgraph ESMTP ready",
            # On the STARTTLS port AUTH waits for TLS (RFC 4954 §4: no plaintext passwords); the
            # implicit-TLS port is encrypted from the first byte, so AUTH is offered at once.
            tls_context=None if implicit_tls else settings.tls,
            auth_require_tls=not implicit_tls and not plain_auth,
            command_call_limit={"AUTH": _AUTH_ATTEMPTS, "*": _UNLIMITED},
            timeout=settings.timeout_s,
            loop=asyncio.get_running_loop(),
        )
        self._sessions.add(session)
        return session

    async def start(self) -> None:
        """Bind the listeners (the STARTTLS port, and the implicit-TLS port if one is set)."""
        loop = asyncio.get_running_loop()
        settings = self.settings
        try:
            if settings.port is not None:
                server = await loop.create_server(
                    lambda: self._protocol(implicit_tls=False), settings.host, settings.port
                )
                self._servers.append(server)
                self.ports["smtp"] = server.sockets[0].getsockname()[1]
            if settings.tls_port is not None:
                if settings.tls is None:
                    raise ValueError("an implicit-TLS SMTP port needs a TLS certificate")
                server = await loop.create_server(
                    lambda: self._protocol(implicit_tls=True),
                    settings.host,
                    settings.tls_port,
                    ssl=settings.tls,
                )
                self._servers.append(server)
                self.ports["smtps"] = server.sockets[0].getsockname()[1]
            await self._start_submission()
        except BaseException:
            await self.close()
            raise
        log.info("SMTP listening on %s: %s", settings.host, self.ports)

    async def _start_submission(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self.settings
        if self._submission is None:
            return
        if settings.submission_port is not None:
            server = await loop.create_server(
                lambda: self._protocol(implicit_tls=False, submission=True),
                settings.host,
                settings.submission_port,
            )
            self._servers.append(server)
            self.ports["submission"] = server.sockets[0].getsockname()[1]
        if settings.submission_tls_port is not None:
            if settings.tls is None:
                raise ValueError("an implicit-TLS submission port needs a TLS certificate")
            server = await loop.create_server(
                lambda: self._protocol(implicit_tls=True, submission=True),
                settings.host,
                settings.submission_tls_port,
                ssl=settings.tls,
            )
            self._servers.append(server)
            self.ports["submissions"] = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop accepting, end open sessions, and wait (bounded) until the listeners are closed."""
        for server in self._servers:
            server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        for server in self._servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), timeout=5)
        self._servers.clear()
        self.ports.clear()
