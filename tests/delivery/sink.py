"""An SMTP sink on 127.0.0.1 (aiosmtpd in its own thread) that plays the relay and scripts its faults.

Faults are set per test: `rcpt_replies[address]` answers one RCPT (e.g. "550 5.1.1 no such user"),
`data_replies` answers the next DATA commands in turn (e.g. "451 4.3.0 try later"), `drop_data`
closes the connection after the message was sent, before the final reply (a lost reply), and
`stop()`/`start()` take the relay down and up on the same port. Only messages answered with 250 count
as received.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    """One message the sink accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """The parsed message."""
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SinkHandler:
    """aiosmtpd handler with scripted replies."""

    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    drop_data: int = 0  # how many DATA commands end with a dropped connection
    data_delay_s: float = 0.0  # a slow relay: each DATA waits this long before its reply (crash tests)
    flaky: float = 0.0  # this share of DATA commands is answered 451 or dropped before the reply (trials)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.lock:
            reply = self.rcpt_replies.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_delay_s:
            await asyncio.sleep(self.data_delay_s)
        if self.flaky and random.random() < self.flaky:
            if random.random() < 0.5:
                return "451 4.3.0 try again later (flaky sink)"
            transport = server.transport
            assert isinstance(transport, asyncio.Transport)
            transport.abort()  # a drop in the middle of DATA: no final reply
            return "250 never sent"
        with self.lock:
            if self.drop_data > 0:
                self.drop_data -= 1
                transport = server.transport
                assert isinstance(transport, asyncio.Transport)
                transport.abort()  # the client never sees a final reply
                return "250 never sent"
            if self.data_replies:
                return self.data_replies.pop(0)
            data = envelope.original_content or b""
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), data))
        return "250 2.0.0 queued"


class Sink:
    """A running sink; `port` stays the same across stop()/start()."""

    def __init__(self, handler: SinkHandler | None = None, **options: Any) -> None:
        self.handler = handler or SinkHandler()
        self._options = options  # aiosmtpd Controller/SMTP options: TLS, AUTH
        with socket.socket() as probe:  # aiosmtpd 1.4's readiness check cannot follow port 0
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.start()

    @property
    def url(self) -> str:
        """The relay URL pointing here."""
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        """Messages accepted so far (a copy)."""
        with self.handler.lock:
            return list(self.handler.received)

    def stop(self) -> None:
        """Take the relay down (connections are refused)."""
        self._controller.stop()

    def start(self) -> None:
        """Bring it back on the same port."""
        # ready_timeout: aiosmtpd waits 1 s by default for its thread to accept a probe connection,
        # too short on a loaded 2-core machine; a healthy start takes milliseconds either way.
        self._controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            decode_data=False,
            ready_timeout=30.0,
            **self._options,
        )
        self._controller.start()


def wait_until(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll `check` until it returns something truthy (bounded); the last value is returned or it fails."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, "condition not reached in time"
            return value
        time.sleep(interval)


async def eventually(check: Callable[[], Any], within: float = 20.0, interval: float = 0.02) -> Any:
    """`wait_until` for async tests: polls without blocking the event loop."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value or time.monotonic() > deadline:
            assert value, "condition not reached in time"
            return value
        await asyncio.sleep(interval)
