"""The queue as a state machine, against the real worker and sink: random per-recipient RCPT replies and
per-attempt transaction faults (reply lost after DATA, 451 to DATA), checked against a model.

Invariants: every recipient ends delivered or failed exactly as the model says, with one attempt
recorded per transaction it took part in; the relay got each delivered recipient exactly once; each
failed recipient is listed in exactly one non-delivery report, and nothing else is.
"""

from __future__ import annotations

import uuid

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailgraph.wiring import Runtime
from tests.conftest import TokenFor
from tests.delivery.conftest import MakeWorker
from tests.delivery.helpers import entries, inbox, mail, send
from tests.delivery.sink import Sink, eventually

RCPT = st.sampled_from(["250", "451", "550"])
FAULT = st.sampled_from(["ok", "drop", "data451"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scripts=st.lists(st.lists(RCPT, max_size=3), min_size=1, max_size=3),
    faults=st.lists(FAULT, max_size=3),
)
async def test_outcomes_match_the_model(
    scripts: list[list[str]],
    faults: list[str],
    api: httpx.AsyncClient,
    token_for: TokenFor,
    runtime: Runtime,
    sink: Sink,
    make_worker: MakeWorker,
) -> None:
    tag = uuid.uuid4().hex[:8]
    rcpts = [f"r{i}-{tag}@example.net" for i in range(len(scripts))]
    subject = f"prop {tag}"
    await send(api, token_for(), mail(rcpts, subject=subject))
    worker = make_worker(relay=sink.url)
    pending = dict(enumerate(rcpts))
    expected: dict[str, tuple[str, int]] = {}
    attempt = 0
    while pending:
        replies = {i: scripts[i][attempt] if attempt < len(scripts[i]) else "250" for i in pending}
        fault = faults[attempt] if attempt < len(faults) else "ok"
        accepted = any(r == "250" for r in replies.values())
        handler = sink.handler
        with handler.lock:
            handler.rcpt_replies = {
                pending[i].lower(): f"{r} {'4.7.1 later' if r == '451' else '5.1.1 no such user'}"
                for i, r in replies.items()
                if r != "250"
            }
            handler.drop_data = 1 if accepted and fault == "drop" else 0
            handler.data_replies = ["451 4.3.0 later"] if accepted and fault == "data451" else []
        await eventually(worker.run_once, within=10)
        for i, r in list(replies.items()):
            if r == "550":
                expected[pending.pop(i)] = ("failed", attempt + 1)
            elif r == "250" and fault == "ok":
                expected[pending.pop(i)] = ("delivered", attempt + 1)
        attempt += 1
    mine = [e for e in await entries(runtime) if e.subject == subject]
    assert {e.recipient: (e.status, e.attempts) for e in mine} == expected
    relayed = [r for m in sink.received if m.message["Subject"] == subject for r in m.rcpt_tos]
    assert sorted(relayed) == sorted(r for r, (status, _) in expected.items() if status == "delivered")
    reports = [m for m in await inbox(api, token_for()) if m["subject"] == f"Undeliverable: {subject}"]
    listed = [r for m in reports for r in rcpts if r in m["body"]["content"].split("Original message")[0]]
    assert sorted(listed) == sorted(r for r, (status, _) in expected.items() if status == "failed")
