"""The SMTP listeners: a port with STARTTLS and, optionally, an implicit-TLS port; limits; start/stop.

Both listeners run on the server's own event loop (no thread, unlike aiosmtpd's `Controller`): the
store's units of work are awaited from the same loop as the HTTP requests, and `close()` stops them
before the store closes. Limits: the message size (SIZE, RFC 1870; aiosmtpd discards the excess and
answers 552 after the data), the line length (RFC 5321 §4.5.3.1.6), a session idle timeout, and at
most a few AUTH attempts per connection (each costs a scrypt verification).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from typing import Any, AnyStr

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


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """What the listeners need: where to listen, the size limit, the EHLO name and the TLS context."""

    host: str
    port: int | None
    tls_port: int | None = None
    max_size: int = DEFAULT_MAX_SIZE
    hostname: str = "localhost"
    tls: ssl.SSLContext | None = None


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


class SmtpServer:
    """The listeners of one `mailgraph serve`."""

    def __init__(self, handler: InboundHandler, settings: SmtpSettings) -> None:
        self._handler = handler
        self.settings = settings
        if _AIOSMTPD_LOG.level == logging.NOTSET:
            _AIOSMTPD_LOG.setLevel(logging.WARNING)
        self._servers: list[asyncio.Server] = []
        self._sessions: set[_Smtp] = set()
        self.ports: dict[str, int] = {}
        """Bound port per listener, `smtp` and `smtps` (port 0 in the settings picks a free one)."""

    def _protocol(self, *, implicit_tls: bool) -> _Smtp:
        settings = self.settings
        session = _Smtp(
            self._handler,
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
            auth_require_tls=not implicit_tls,
            command_call_limit={"AUTH": _AUTH_ATTEMPTS, "*": _UNLIMITED},
            timeout=_IDLE_TIMEOUT_S,
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
        except BaseException:
            await self.close()
            raise
        log.info("SMTP listening on %s: %s", settings.host, self.ports)

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
