"""The SMTP client to the smart host (aiosmtplib): relay URLs, TLS, AUTH, and per-recipient replies.

A relay URL names the smart host and how to talk to it:

- `smtp://host[:25]`: plain SMTP (no STARTTLS, no AUTH: credentials are refused on a clear channel);
- `smtp+starttls://user:password@host[:587]`: STARTTLS required (RFC 3207), then AUTH (RFC 4954);
- `smtps://user:password@host[:465]`: implicit TLS (RFC 8314 §3.3), then AUTH.

Certificates are checked against the system's trust store by default. Query options relax or change
that: `?ca=/path/ca.pem` trusts that CA file instead, `?verify=false` skips checking (tests, lab
relays); `?timeout=SECONDS` bounds each SMTP command (default 60). Unknown options are an error.

One transaction sends one message to the recipients of one group: MAIL, one RCPT per recipient (each
reply kept), DATA once if any recipient was accepted. Connections are pooled and reused (RSET between
transactions) — reconnecting per message would triple the round trips of a queue drain.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib

from mailgraph.delivery.policy import Reply

TlsMode = Literal["none", "starttls", "tls"]
_SCHEMES: dict[str, tuple[TlsMode, int]] = {
    "smtp": ("none", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}
_IDLE_S = 10.0  # a pooled connection idle longer than this is closed rather than reused
OnData = Callable[[dict[str, Reply]], Awaitable[None]]
"""Called with the DATA reply of every accepted recipient the moment it arrives (before RSET or reuse)."""


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """A parsed relay URL."""

    host: str
    port: int
    tls: TlsMode
    username: str | None = None
    password: str | None = None
    verify: bool = True
    ca_file: str | None = None
    timeout_s: float = 60.0

    def display(self) -> str:
        """The URL without the password, for banners and logs."""
        scheme = {v[0]: k for k, v in _SCHEMES.items()}[self.tls]
        user = f"{self.username}@" if self.username else ""
        extra = "" if self.verify else " (certificate checking OFF)"
        return f"{scheme}://{user}{self.host}:{self.port}{extra}"

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS client context: system trust (or `ca`), hostname checked unless `verify=false`."""
        if self.tls == "none":
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def parse_relay_url(url: str) -> RelayConfig:
    """Parse `smtp://…`, `smtp+starttls://…` or `smtps://…`; raises ValueError saying what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in _SCHEMES:
        raise ValueError(f"relay URL must start with smtp://, smtp+starttls:// or smtps://, not {url!r}")
    tls, default_port = _SCHEMES[parts.scheme.lower()]
    if not parts.hostname:
        raise ValueError(f"relay URL has no host: {url!r}")
    try:
        port = parts.port or default_port
    except ValueError:
        raise ValueError(f"relay URL has an invalid port: {url!r}") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if username and tls == "none":
        raise ValueError("relay credentials need TLS: use smtp+starttls:// or smtps://")
    if parts.path not in ("", "/"):
        raise ValueError(f"relay URL takes no path: {url!r}")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - {"verify", "ca", "timeout"})
    if unknown:
        raise ValueError(f"unknown relay URL option(s): {', '.join(unknown)} (known: verify, ca, timeout)")
    verify = options.get("verify", "true").lower()
    if verify not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"relay option verify must be true or false, not {verify!r}")
    try:
        timeout = float(options.get("timeout", "60"))
    except ValueError:
        raise ValueError("relay option timeout must be a number of seconds") from None
    if timeout <= 0:
        raise ValueError("relay option timeout must be positive")
    return RelayConfig(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=username,
        password=password,
        verify=verify in ("true", "1", "yes"),
        ca_file=options.get("ca") or None,
        timeout_s=timeout,
    )


def _smtp_options(addresses: list[str]) -> tuple[list[str], str]:
    """SMTPUTF8 (RFC 6531) when an address is not ASCII."""
    if all(a.isascii() for a in addresses):
        return [], "ascii"
    return ["SMTPUTF8"], "utf-8"


class RelayClient:
    """Sends one message to one group of recipients through the smart host, reusing connections."""

    def __init__(self, config: RelayConfig, local_hostname: str, max_idle: int = 8) -> None:
        self.config = config
        self._local_hostname = local_hostname
        self._max_idle = max_idle
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._context = config.tls_context()
        self.unreachable: Reply | None = None
        """Set while the last attempt to open a connection failed (the worker defers the rest of a cycle)."""

    async def _open(self) -> aiosmtplib.SMTP:
        c = self.config
        smtp = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            username=c.username,
            password=c.password,
            local_hostname=self._local_hostname,
            timeout=c.timeout_s,
            use_tls=c.tls == "tls",
            start_tls=True if c.tls == "starttls" else False if c.tls == "none" else None,
            tls_context=self._context,
        )
        await smtp.connect()
        return smtp

    def _take(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            smtp, since = self._idle.pop()
            if smtp.is_connected and time.monotonic() - since < _IDLE_S:
                return smtp
            smtp.close()
        return None

    async def send(
        self, mail_from: str, recipients: list[str], data: bytes, on_data: OnData | None = None
    ) -> dict[str, Reply]:
        """One transaction; returns each recipient's reply (code None: no final reply was received).

        `on_data` gets the DATA reply of the accepted recipients as soon as it arrives, so the worker
        can commit their outcome before anything else happens on this connection (issue 17, defect 6).

        A failure before any RCPT was accepted on a reused connection (the relay closed it while idle)
        is retried once on a fresh connection: nothing was accepted, so this cannot duplicate.
        """
        smtp = self._take()
        if smtp is not None:
            replies, reusable, accepted_any = await self._transaction(
                smtp, mail_from, recipients, data, on_data
            )
            if reusable or accepted_any or any(r.code is not None for r in replies.values()):
                return self._finish(smtp, replies, reusable)
            smtp.close()
        try:
            smtp = await asyncio.wait_for(self._open(), self.config.timeout_s * 2)
        except aiosmtplib.SMTPResponseException as exc:
            # Refused before MAIL (greeting, EHLO, STARTTLS, AUTH): a relay or configuration problem,
            # not a verdict on the message — defer (Postfix's soft bounce), keeping the reply visible.
            self.unreachable = Reply(None, f"the relay refused the session: {exc.code} {exc.message}")
            return self._all(recipients, self.unreachable)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self.unreachable = self._failure(exc)
            return self._all(recipients, self.unreachable)
        self.unreachable = None
        replies, reusable, _ = await self._transaction(smtp, mail_from, recipients, data, on_data)
        return self._finish(smtp, replies, reusable)

    def _finish(self, smtp: aiosmtplib.SMTP, replies: dict[str, Reply], reusable: bool) -> dict[str, Reply]:
        if reusable and len(self._idle) < self._max_idle:
            self._idle.append((smtp, time.monotonic()))
        else:
            smtp.close()
        return replies

    async def _transaction(
        self,
        smtp: aiosmtplib.SMTP,
        mail_from: str,
        recipients: list[str],
        data: bytes,
        on_data: OnData | None = None,
    ) -> tuple[dict[str, Reply], bool, bool]:
        """(replies, connection reusable, some RCPT accepted)."""
        replies: dict[str, Reply] = {}
        accepted: list[str] = []
        options, encoding = _smtp_options([mail_from, *recipients])
        try:
            await smtp.mail(mail_from, options=options, encoding=encoding)
            for rcpt in recipients:
                try:
                    r = await smtp.rcpt(rcpt, encoding=encoding)
                    accepted.append(rcpt)
                    replies[rcpt] = Reply(r.code, r.message)
                except aiosmtplib.SMTPRecipientRefused as exc:
                    replies[rcpt] = Reply(exc.code, exc.message)
            if accepted:
                r = await smtp.data(data)
                for rcpt in accepted:  # RFC 5321 §4.1.1.4: one DATA reply covers every accepted RCPT
                    replies[rcpt] = Reply(r.code, r.message)
                if on_data is not None:  # the relay holds the message now: say so before anything else
                    await on_data({rcpt: replies[rcpt] for rcpt in accepted})
            else:
                await smtp.rset()
            return replies, True, bool(accepted)
        except aiosmtplib.SMTPResponseException as exc:
            # MAIL refused, or DATA answered with an error: the reply applies to everyone still open.
            reply = Reply(exc.code, exc.message)
            for rcpt in recipients:
                if rcpt not in replies or rcpt in accepted:
                    replies[rcpt] = reply
            return replies, await self._reset(smtp), bool(accepted)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # The connection broke: whoever has no final reply waits (a lost reply after DATA is the
            # documented duplicate window — the retry carries the same Message-ID).
            lost = self._failure(exc)
            for rcpt in recipients:
                if rcpt not in replies or rcpt in accepted:
                    replies[rcpt] = lost
            smtp.close()
            return replies, False, bool(accepted)

    @staticmethod
    async def _reset(smtp: aiosmtplib.SMTP) -> bool:
        try:
            await smtp.rset()
            return True
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            smtp.close()
            return False

    @staticmethod
    def _failure(exc: BaseException) -> Reply:
        return Reply(None, f"connection to the relay failed: {type(exc).__name__}: {exc}".strip())

    @staticmethod
    def _all(recipients: list[str], reply: Reply) -> dict[str, Reply]:
        return dict.fromkeys(recipients, reply)

    async def close(self) -> None:
        """Say QUIT on pooled connections (best effort) and drop them."""
        idle, self._idle = self._idle, []
        for smtp, _ in idle:
            try:
                await asyncio.wait_for(smtp.quit(), 2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()
