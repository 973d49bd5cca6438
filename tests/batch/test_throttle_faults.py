"""Throttling (per app + mailbox) and fault rules through the real app: 429s, injected 503s, seeds, relay."""

from __future__ import annotations

import asyncio

import httpx

from mailgraph.domain.faults import FaultRule
from mailgraph.domain.throttling import profile
from mailgraph.wiring import Runtime
from tests.api.helpers import assert_graph_error, create_draft, folder_items
from tests.conftest import TokenFor
from tests.delivery.conftest import MakeWorker, make_worker, sink
from tests.delivery.helpers import entries, mail, send
from tests.delivery.sink import Sink

__all__ = ["make_worker", "sink"]  # the delivery fixtures, used here too


def _admin(runtime: Runtime) -> dict[str, str]:
    return {"Authorization": f"Bearer {runtime.admin_token}"}


async def test_fifth_concurrent_request_on_a_mailbox_is_429(
    api: httpx.AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    runtime.app.graph.guard.throttle.server = profile("exchange-online")  # type: ignore[union-attr]
    slow = {"method": "GET", "route": "*/mailfolders", "latencyMs": 400}  # a slow request holds its slot
    assert (await api.post("/_mailgraph/faults", json=slow, headers=_admin(runtime))).status_code == 201
    alice, bob = token_for("alice", "Mail.Read"), token_for("bob", "Mail.Read")
    calls = [api.get("/v1.0/me/mailFolders", headers=alice) for _ in range(5)]
    calls += [api.get("/v1.0/me/mailFolders", headers=bob) for _ in range(4)]
    answers = await asyncio.gather(*calls)
    alice_codes = sorted(r.status_code for r in answers[:5])
    assert alice_codes == [200, 200, 200, 200, 429]
    limited = next(r for r in answers[:5] if r.status_code == 429)
    error = assert_graph_error(limited, 429, "ApplicationThrottled")
    assert error["message"] == "Application is over its MailboxConcurrency limit."
    assert int(limited.headers["retry-after"]) >= 1
    assert [r.status_code for r in answers[5:]] == [200] * 4  # another mailbox is unaffected
    assert (await api.get("/v1.0/me/mailFolders", headers=alice)).status_code == 200  # slots freed


async def test_request_window_and_inner_batch_429(
    api: httpx.AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    runtime.app.graph.guard.throttle.server = profile("exchange-online", requests=3)  # type: ignore[union-attr]
    h = token_for("alice", "Mail.Read")
    reqs = [{"id": str(i), "method": "GET", "url": "/me/mailFolders"} for i in range(5)]
    r = await api.post("/v1.0/$batch", json={"requests": reqs}, headers=h)
    inner = r.json()["responses"]
    assert sorted(e["status"] for e in inner) == [200, 200, 200, 429, 429]
    limited = next(e for e in inner if e["status"] == 429)
    assert (
        limited["body"]["error"]["code"] == "ApplicationThrottled"
        and int(limited["headers"]["Retry-After"]) > 1
    )


async def test_throttling_off_by_default(runtime: Runtime) -> None:
    guard = runtime.app.graph.guard
    assert guard is not None and not guard.active


async def test_third_send_by_alice_is_503_and_not_sent(
    api: httpx.AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    rule = {"route": "POST */messages/*/send", "mailbox": "alice@fabrikam.test", "nth": 3, "status": 503}
    r = await api.post("/_mailgraph/faults", json=rule, headers=_admin(runtime))
    assert r.status_code == 201, r.text
    h = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    codes = []
    for i in range(5):
        draft = await create_draft(api, h, subject=f"send {i}")
        codes.append((await api.post(f"/v1.0/me/messages/{draft['id']}/send", headers=h)).status_code)
    assert codes == [202, 202, 503, 202, 202]
    sent = {m["subject"] for m in await folder_items(api, h, "/v1.0/me", "sentitems")}
    assert sent == {"send 0", "send 1", "send 3", "send 4"}  # the 503 sent nothing: still a draft
    assert "send 2" in {m["subject"] for m in await folder_items(api, h, "/v1.0/me", "drafts")}
    listed = (await api.get("/_mailgraph/faults", headers=_admin(runtime))).json()["value"]
    assert [(x["seen"], x["fired"]) for x in listed] == [(5, 1)]
    bob = token_for("bob", "Mail.ReadWrite", "Mail.Send")  # bob's sends never match
    draft = await create_draft(api, bob)
    assert (await api.post(f"/v1.0/me/messages/{draft['id']}/send", headers=bob)).status_code == 202


async def test_seeded_probability_gives_the_same_sequence(
    api: httpx.AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    h = token_for("alice", "Mail.Read")
    runs: list[list[int]] = []
    for _ in range(2):
        await api.delete("/_mailgraph/faults", headers=_admin(runtime))
        rule = {"method": "GET", "route": "*/mailfolders", "probability": 0.1, "seed": 42, "status": 500}
        assert (await api.post("/_mailgraph/faults", json=rule, headers=_admin(runtime))).status_code == 201
        runs.append([(await api.get("/v1.0/me/mailFolders", headers=h)).status_code for _ in range(60)])
    assert runs[0] == runs[1]
    assert 1 <= runs[0].count(500) <= 15  # about 10 %


async def test_time_and_count_limits_and_control_auth(
    api: httpx.AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    assert (await api.get("/_mailgraph/faults")).status_code == 401
    bad = await api.post("/_mailgraph/faults", json={"status": 503, "nth": 0}, headers=_admin(runtime))
    assert_graph_error(bad, 400, "BadRequest")
    rule = {"id": "two", "method": "GET", "status": 429, "times": 2, "retryAfter": 7}
    await api.post("/_mailgraph/faults", json=rule, headers=_admin(runtime))
    h = token_for("alice", "Mail.Read")
    answers = [await api.get("/v1.0/me/mailFolders", headers=h) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["retry-after"] == "7"
    assert (await api.delete("/_mailgraph/faults/two", headers=_admin(runtime))).json() == {"removed": 1}
    expired = {"method": "GET", "status": 503, "ttlSeconds": 0}
    await api.post("/_mailgraph/faults", json=expired, headers=_admin(runtime))
    assert (await api.get("/v1.0/me/mailFolders", headers=h)).status_code == 200


async def test_queue_moves_under_the_control_namespace(api: httpx.AsyncClient, runtime: Runtime) -> None:
    for prefix in ("/_mailgraph/queue", "/admin/queue"):
        r = await api.get(prefix, headers=_admin(runtime))
        assert r.status_code == 200 and r.json() == {"value": []}
    assert (await api.get("/_mailgraph/queue")).status_code == 401


async def test_relay_faults_exercise_the_queue_retries(
    api: httpx.AsyncClient, runtime: Runtime, token_for: TokenFor, sink: Sink, make_worker: MakeWorker
) -> None:
    faults = runtime.faults
    assert faults is not None
    # 1st transaction: 451 (deferred); 2nd: connection dropped mid-DATA (deferred); 3rd: the real relay.
    await faults.add(
        FaultRule(scope="relay", route="*@example.net", nth=1, status=451, message="4.3.0 later")
    )
    await faults.add(FaultRule(scope="relay", route="*@example.net", nth=2, reset=True))
    await send(api, token_for(), mail(["far@example.net"]))
    worker = make_worker(relay=sink.url)
    worker.faults = faults
    assert await worker.run_once() == 1
    (entry,) = await entries(runtime)
    assert (entry.status, entry.last_reply_code, entry.last_reply_text) == ("deferred", 451, "4.3.0 later")
    for _ in range(200):
        await asyncio.sleep(0.01)
        if await worker.run_once():
            break
    (entry,) = await entries(runtime)
    assert entry.status == "deferred" and "during DATA" in (entry.last_reply_text or "")
    assert not sink.received  # nothing reached the relay while the rules fired
    for _ in range(200):
        await asyncio.sleep(0.01)
        if await worker.run_once():
            break
    (entry,) = await entries(runtime)
    assert (entry.status, entry.attempts) == ("delivered", 3)
    assert len(sink.received) == 1


async def test_relay_5xx_fault_fails_with_a_report(
    api: httpx.AsyncClient, runtime: Runtime, token_for: TokenFor, sink: Sink, make_worker: MakeWorker
) -> None:
    assert runtime.faults is not None
    await runtime.faults.add(
        FaultRule(scope="relay", route="far@example.net", status=550, message="5.1.1 no")
    )
    await send(api, token_for(), mail(["far@example.net"]))
    worker = make_worker(relay=sink.url)
    worker.faults = runtime.faults
    assert await worker.run_once() == 1
    (entry,) = await entries(runtime)
    assert (entry.status, entry.last_reply_code) == ("failed", 550) and not sink.received
