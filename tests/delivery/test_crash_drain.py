"""Duplicate relays after a crash are bounded by the transactions in flight (issue 17, defect 6).

A real `mailgraph serve` process drains 40 queued messages to a slow counting sink; it is killed with
SIGKILL mid-drain and started again. Each recipient's outcome is committed the moment its DATA reply
arrives, so only the transactions in flight at the kill can reach the sink twice: at most the
worker's concurrency. Nothing acknowledged is missing at the sink.
"""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.delivery.sink import Sink, SinkHandler, wait_until
from tests.trials.harness import CONCURRENCY, EXTERNAL, ServerProcess, drained, token

pytestmark = pytest.mark.e2e
MESSAGES = 40


def test_kill_mid_drain_duplicates_only_what_was_in_flight() -> None:
    sink = Sink(SinkHandler(data_delay_s=0.1))
    with tempfile.TemporaryDirectory(prefix="mg-crash-") as tmp:
        server = ServerProcess(Path(tmp) / "data", None, 1, sink.url)
        try:
            assert server.start(120), server.log.read_text()
            auth = token(server.url)
            subjects = [f"drain-{i}" for i in range(MESSAGES)]
            with httpx.Client(base_url=server.url, headers=auth, timeout=30) as client:
                for subject in subjects:
                    message = {"subject": subject, "toRecipients": [{"emailAddress": {"address": EXTERNAL}}]}
                    r = client.post("/v1.0/users/alice@fabrikam.test/sendMail", json={"message": message})
                    assert r.status_code == 202, r.text
            wait_until(lambda: len(sink.received) >= 8, timeout=60)
            server.kill9(random.Random(0))
            assert len(sink.received) < MESSAGES, "the drain finished before the kill"
            assert server.start(120), server.log.read_text()
            wait_until(lambda: drained(server.url), timeout=120, interval=0.2)
            wait_until(
                lambda: len({str(r.message["Subject"]) for r in sink.received}) == MESSAGES, timeout=30
            )
        finally:
            server.stop()
            sink.stop()
    copies = Counter(str(r.message["Subject"]) for r in sink.received)
    assert set(copies) == set(subjects)  # nothing acknowledged is lost
    duplicates = sum(n - 1 for n in copies.values())
    assert duplicates <= CONCURRENCY, copies  # one recipient per transaction: in flight ≤ concurrency
