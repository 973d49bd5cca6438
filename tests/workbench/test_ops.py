"""Liveness, readiness and the Prometheus metrics."""

from __future__ import annotations

import httpx

from mailgraph.wiring import Runtime
from tests.workbench.helpers import admin, app_token, new_tenant, send_mail


async def test_health_and_readiness(api: httpx.AsyncClient, runtime: Runtime) -> None:
    for path in ("/health", "/healthz"):
        r = await api.get(path)
        assert r.status_code == 200 and r.json() == {"status": "ok"}
    # The test runtime's worker is not started (no lifespan): readiness says so, with the reason.
    for path in ("/health/ready", "/readyz"):
        r = await api.get(path)
        checks = r.json()
        assert checks["store"] == "ok" and checks["migrations"] == "ok"
        assert r.status_code == (200 if checks["ready"] else 503)
        assert checks["ready"] is (checks.get("delivery", "ok") == "ok")
    await runtime.engine.close()  # a closed store is not ready
    r = await api.get("/readyz")
    assert r.status_code == 503 and r.json()["store"].startswith("failed")


async def test_metrics_count_requests_per_route_pattern_changes_and_queue(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await new_tenant(api, runtime)
    token = await app_token(api, tenant)
    alice, bob = (u["userPrincipalName"] for u in tenant["users"])
    await send_mail(api, token, alice, [bob, "far@example.net"], "Counted")
    await api.get(f"/v1.0/users/{bob}/messages", headers=token)
    text = (await api.get("/metrics")).text
    assert (
        'mailgraph_http_requests_total{method="POST",route="/{v}/users/{id}/sendmail",status="202"} 1.0'
        in text
    )
    assert 'mailgraph_http_request_duration_seconds_count{route="/{v}/users/{id}/messages"} 1.0' in text
    assert 'mailgraph_http_requests_total{method="POST",route="control",status="201"} 1.0' in text
    assert 'mailgraph_changes_total{entity="message",kind="created"}' in text
    assert "mailgraph_outbound_queued_total 1.0" in text
    assert 'mailgraph_queue_entries{status="queued"} 1.0' in text
    assert 'mailgraph_tenants{ephemeral="true"} 1.0' in text
    # Bounded labels: ids never become label values.
    assert tenant["id"] not in text and bob not in text
    assert (await api.get("/metrics", headers=admin(runtime))).status_code == 200
