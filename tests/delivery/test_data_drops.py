"""Issue 5, Reliability: the relay connection breaks during DATA.

aiosmtpd (the usual sink) only hands over a message once the final "." has arrived, so it cannot break a
transfer half way. This relay is a scripted SMTP server on 127.0.0.1, run on the test's own loop:

- `mid`: it closes the connection after the first line of the message, before the final ".": the relay
  never took responsibility, so the retry must deliver it exactly once and no NDR is written;
- `lost`: it reads the whole message, then closes without a reply (the documented duplicate window,
  docs/delivery.md): the retry sends it again with the *same* Message-ID, so the receiver can dedupe.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from mailgraph.delivery.worker import DeliveryWorker
from mailgraph.wiring import Runtime
from tests.conftest import TokenFor
from tests.delivery.conftest import MakeWorker
from tests.delivery.helpers import entries, inbox, mail, send

TIMEOUT = "?timeout=30"  # generous: a loaded 2-core machine; the relay never stays silent in these tests


@dataclass
class FaultyRelay:
    """A minimal SMTP server (RFC 5321 §4.1) whose first DATA transfers fail as scripted."""

    faults: list[str]  # "mid" or "lost", one per DATA command, in order
    accepted: list[bytes] = field(default_factory=list)  # messages answered with 250
    seen: list[bytes] = field(default_factory=list)  # messages read completely, answered or not
    port: int = 0

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 fault.test ESMTP\r\n")
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(b"250-fault.test\r\n250 8BITMIME\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 2.0.0 bye\r\n")
                    break
                elif verb == b"DATA":
                    if not await self._data(reader, writer):
                        return
                else:  # MAIL, RCPT, RSET, NOOP
                    writer.write(b"250 2.0.0 ok\r\n")
                await writer.drain()
        finally:
            writer.close()

    async def _data(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        fault = self.faults.pop(0) if self.faults else None
        writer.write(b"354 go ahead\r\n")
        await writer.drain()
        lines: list[bytes] = []
        while (line := await reader.readline()) not in (b".\r\n", b""):
            lines.append(line)
            if fault == "mid":
                writer.transport.abort()  # half a message: the client sees the connection die
                return False
        data = b"".join(lines)
        self.seen.append(data)
        if fault == "lost":
            writer.transport.abort()  # taken, but the reply never reaches the client
            return False
        self.accepted.append(data)
        writer.write(b"250 2.0.0 queued\r\n")
        return True


@pytest.fixture
async def relay() -> AsyncIterator[FaultyRelay]:
    faulty = FaultyRelay(faults=[])
    server = await asyncio.start_server(faulty.session, "127.0.0.1", 0)
    faulty.port = server.sockets[0].getsockname()[1]
    yield faulty
    server.close()
    await server.wait_closed()


async def _handle_all(worker: DeliveryWorker, runtime: Runtime) -> None:
    """Run cycles until no entry is queued or deferred (bounded: the retry schedule is 10 ms)."""
    for _ in range(200):
        if not {e.status for e in await entries(runtime)} & {"queued", "deferred"}:
            return
        await worker.run_once()
        await asyncio.sleep(0.02)
    raise AssertionError("entries still pending")


def _message_id(data: bytes) -> str:
    return str(email.message_from_bytes(data, policy=email.policy.default)["Message-ID"])


async def test_a_drop_in_the_middle_of_data_is_retried_and_delivered_once(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, relay: FaultyRelay, make_worker: MakeWorker
) -> None:
    relay.faults.append("mid")
    body = mail(["far@example.net", "near@example.net"], subject="Half")
    body["message"]["body"]["content"] = "line\n" * 2000  # several reads: the drop is truly mid-transfer
    await send(api, token_for(), body)
    worker = make_worker(relay=f"smtp://127.0.0.1:{relay.port}{TIMEOUT}")
    assert await worker.run_once() == 2
    assert {(e.status, e.last_reply_code) for e in await entries(runtime)} == {("deferred", None)}
    assert relay.seen == []  # the relay never had the whole message
    await _handle_all(worker, runtime)
    assert {(e.status, e.attempts) for e in await entries(runtime)} == {("delivered", 2)}
    assert len(relay.accepted) == 1  # both recipients in one transaction, exactly once
    assert not [m for m in await inbox(api, token_for()) if m["subject"].startswith("Undeliverable")]


async def test_a_lost_reply_after_data_resends_with_the_same_message_id(
    api: httpx.AsyncClient, token_for: TokenFor, runtime: Runtime, relay: FaultyRelay, make_worker: MakeWorker
) -> None:
    relay.faults.append("lost")
    await send(api, token_for(), mail(["far@example.net"], subject="Twice?"))
    worker = make_worker(relay=f"smtp://127.0.0.1:{relay.port}{TIMEOUT}")
    assert await worker.run_once() == 1
    (entry,) = await entries(runtime)
    assert (entry.status, entry.last_reply_code) == ("deferred", None)
    await _handle_all(worker, runtime)
    (entry,) = await entries(runtime)
    assert (entry.status, entry.attempts) == ("delivered", 2)
    # The documented duplicate window: the relay saw it twice, both copies with one Message-ID.
    assert len(relay.seen) == 2 and len(relay.accepted) == 1
    assert _message_id(relay.seen[0]) == _message_id(relay.seen[1]) == entry.internet_message_id
    assert not [m for m in await inbox(api, token_for()) if m["subject"].startswith("Undeliverable")]
