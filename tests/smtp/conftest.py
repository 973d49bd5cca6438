"""Fixtures for inbound SMTP: the real server built with SMTP listeners on 127.0.0.1 (port 0).

`runtime` is overridden here, so the shared `api`, `token_for` and `directory` fixtures read the very
store the SMTP listener writes to. smtplib is blocking: tests drive it in a worker thread
(`in_thread`) while the listener runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from mailgraph.certs import tls_dir
from mailgraph.config import Settings
from mailgraph.wiring import Runtime, build

T = TypeVar("T")
TIMEOUT = 30  # generous: the machine is shared; a test never waits this long unless something is wrong
MAX_SIZE = 64 * 1024  # small, so the size tests stay fast


@dataclass
class SmtpTarget:
    """Where the listeners are and how to trust their certificate."""

    port: int
    tls_port: int
    tls: ssl.SSLContext

    @contextmanager
    def connect(self) -> Iterator[smtplib.SMTP]:
        """A plain session on the STARTTLS port, EHLO already sent."""
        client = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test", timeout=TIMEOUT)
        try:
            client.ehlo()
            yield client
        finally:
            client.close()

    @contextmanager
    def secure(self) -> Iterator[smtplib.SMTP]:
        """A session upgraded with STARTTLS (certificate verified), EHLO sent again."""
        with self.connect() as client:
            client.starttls(context=self.tls)
            client.ehlo()
            yield client


async def in_thread(fn: Callable[[], T]) -> T:
    """Run blocking client code without blocking the server's loop."""
    return await asyncio.wait_for(asyncio.to_thread(fn), timeout=TIMEOUT * 2)


@pytest.fixture
async def runtime(data_dir: Path, database: str | None) -> AsyncIterator[Runtime]:
    """The server with SMTP on free ports (STARTTLS and implicit TLS), started; on the test run's engine."""
    rt = await build(
        Settings(data_dir=data_dir, database=database, smtp_port=0, smtps_port=0, smtp_max_size=MAX_SIZE)
    )
    assert rt.smtp is not None
    await rt.smtp.start()
    yield rt
    await rt.smtp.close()
    await rt.engine.close()


@pytest.fixture
def smtp(runtime: Runtime, data_dir: Path) -> SmtpTarget:
    """The listeners of `runtime` and a client TLS context trusting the data dir's CA."""
    assert runtime.smtp is not None
    context = ssl.create_default_context(cafile=str(tls_dir(data_dir) / "ca.crt.pem"))
    return SmtpTarget(runtime.smtp.ports["smtp"], runtime.smtp.ports["smtps"], context)
