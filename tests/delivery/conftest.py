"""Fixtures of the delivery tests: an SMTP sink on 127.0.0.1 and a worker built like `serve` builds it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace

import pytest

from mailgraph.config import Settings
from mailgraph.delivery.worker import DeliveryWorker
from mailgraph.wiring import Runtime, delivery_worker
from tests.delivery.sink import Sink

# Short, injected back-off so retries are due at once in tests (settings, not monkeypatching).
FAST = Settings(retry_schedule=(0.01,), queue_poll_s=0.05, queue_lease_s=30.0)


@pytest.fixture
def sink() -> Iterator[Sink]:
    """An aiosmtpd sink playing the relay."""
    s = Sink()
    yield s
    with contextlib.suppress(AssertionError, RuntimeError):  # already stopped by the test
        s.stop()


MakeWorker = Callable[..., DeliveryWorker]


@pytest.fixture
async def make_worker(runtime: Runtime) -> AsyncIterator[MakeWorker]:
    """`make_worker(relay=url, **settings)` → a worker on the test's store (stopped at teardown)."""
    made: list[DeliveryWorker] = []

    def make(**overrides: object) -> DeliveryWorker:
        settings = replace(FAST, data_dir=runtime.data_dir, **overrides)  # type: ignore[arg-type]
        worker = delivery_worker(settings, runtime.engine)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        await worker.stop()
