"""Schemathesis over `/openapi.json` against a running server: every operation, real credentials.

`fuzz(target, per_operation)` loads the server's own description (api/openapi.py), draws cases for
every operation (positive and negative generation: bodies, path keys and query options that fit the
schema and ones that do not), sends each with the credential its security names (a Graph app or
delegated token, the admin token, none), and counts statuses. A 5xx, or a request that gets no answer
within the timeout (a hang), is a finding. Half the cases get real keys (alice's mailbox, her Inbox,
a real message id) so they reach the handlers instead of stopping at a 404.

Endless streams (Server-Sent Events) and long-polls are sent with a short timeout and skipped as
hangs: they are meant to stay open.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.attack.server import Target

_STREAMS = ("/events", "/wait")
_TIMEOUT_S = 10.0


@dataclass
class Report:
    """What a fuzzing run sent and what came back."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    """5xx answers and hangs: `METHOD path -> status` with a curl line to reproduce."""
    by_operation: Counter[tuple[str, int]] = field(default_factory=Counter)
    operations: int = 0
    seconds: float = 0.0
    slowest: list[tuple[float, str]] = field(default_factory=list)
    """Seconds spent per operation (drawing and sending), the slowest first."""


def _real_keys(target: Target) -> dict[str, list[str]]:
    """Keys that exist, so that drawn cases get past the 404s (a draft of alice's, her folders)."""
    base = f"{target.url}/v1.0/users/alice@fabrikam.test"
    draft = httpx.post(
        f"{base}/messages",
        json={"subject": "fuzz", "toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test"}}]},
        headers=target.app,
        timeout=30,
    ).json()
    attachment = httpx.post(
        f"{base}/messages/{draft['id']}/attachments",
        json={"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentBytes": "aGk="},
        headers=target.app,
        timeout=30,
    ).json()
    return {
        "user-id": ["alice@fabrikam.test", "bob@fabrikam.test"],
        "mailFolder-id": ["inbox", "drafts", "sentitems", "deleteditems"],
        "message-id": [draft["id"]],
        "attachment-id": [attachment["id"]],
        "tenant": ["fabrikam.test", "11111111-2222-3333-4444-555555555555", "common"],
        "upn": ["alice@fabrikam.test"],
        "version": ["v1.0", "beta"],
    }


def _credential(operation: Any, target: Target, rng: random.Random) -> dict[str, str]:
    security = operation.definition.raw.get("security") or []
    names = {name for req in security for name in req}
    if "graphToken" in names:
        return dict(rng.choice([target.app, target.user]))
    if "adminToken" in names:
        return dict(target.admin)
    return {}


def fuzz(
    target: Target, per_operation: int, seed_value: int = 17, modes: str = "all", report: Report | None = None
) -> Report:
    """Send about `per_operation` drawn cases to every operation of the target's `/openapi.json`
    (reproducible per `seed_value`); adds to `report` when given (several rounds, other seeds)."""
    schema = schemathesis.openapi.from_url(f"{target.url}/openapi.json")
    generation = (
        [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if modes == "all" else [GenerationMode.POSITIVE]
    )
    keys = _real_keys(target)
    rng = random.Random(seed_value)
    report = report if report is not None else Report()
    started = time.monotonic()
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        report.operations += 1
        stream = any(operation.path.endswith(s) for s in _STREAMS)
        strategy = st.one_of(*(operation.as_strategy(generation_mode=m) for m in generation))
        op_started = time.monotonic()

        send = _sender(operation, stream, keys, rng, target, session, report)
        run = settings(
            max_examples=per_operation,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )(seed(seed_value)(given(case=strategy)(send)))
        run()
        report.slowest.append((time.monotonic() - op_started, f"{operation.method.upper()} {operation.path}"))
    report.slowest.sort(reverse=True)
    del report.slowest[20:]
    session.close()
    report.seconds += time.monotonic() - started
    return report


def _sender(
    operation: Any,
    stream: bool,
    keys: dict[str, list[str]],
    rng: random.Random,
    target: Target,
    session: requests.Session,
    report: Report,
) -> Any:
    def send(case: Any) -> None:
        # Real keys, but never in the control API's writes: a drawn DELETE of the real tenant would
        # end the run (the suite's own tenant is what every other case needs).
        control_write = operation.path.startswith(("/_mailgraph", "/admin")) and case.method != "GET"
        if not control_write and rng.random() < 0.5:
            for name in list(case.path_parameters or {}):
                if name in keys:
                    case.path_parameters[name] = rng.choice(keys[name])
        headers = _credential(operation, target, rng)
        report.requests += 1
        try:
            response = case.call(
                base_url=target.url,
                session=session,
                headers=headers,
                timeout=1.0 if stream else _TIMEOUT_S,
                allow_redirects=False,
            )
        except requests.exceptions.Timeout:
            if not stream:
                report.failures.append(f"hang: {case.method} {case.formatted_path}")
            return
        except requests.exceptions.ConnectionError as exc:
            report.failures.append(f"connection error: {case.method} {case.formatted_path}: {exc}")
            return
        if operation.path.startswith("/_mailgraph/faults") and case.method == "POST":
            # A fault rule drawn by the fuzzer would inject its own failures into every later case.
            session.delete(f"{target.url}/_mailgraph/faults", headers=target.admin, timeout=_TIMEOUT_S)
        report.statuses[response.status_code] += 1
        report.by_operation[(f"{case.method} {operation.path}", response.status_code)] += 1
        if response.status_code >= 500:
            report.failures.append(
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:200]}\n    {case.as_curl_command(headers=headers)[:2000]}"
            )

    return send
