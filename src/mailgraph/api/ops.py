"""Operations endpoints: liveness, readiness and Prometheus metrics (no credential; no mail data).

    GET /health, /healthz              liveness: the process answers requests → 200 {"status": "ok"}
    GET /health/ready, /readyz         readiness: store reachable, migrations done, workers alive → 200/503
    GET /metrics                       Prometheus text format (prometheus-client)

Metrics (one registry per app, so several servers in one process — tests — do not mix):
`mailgraph_http_requests_total{route,method,status}` and
`mailgraph_http_request_duration_seconds{route}` (a histogram) per route *pattern* (api/handler.py
labels Graph routes, other requests carry their mount's name: bounded label values);
`mailgraph_changes_total{entity,kind}` (messages created/updated/moved/deleted, from the after-commit
signal: sends and deliveries are `message created`), `mailgraph_outbound_queued_total`;
`mailgraph_queue_entries{status}` and `mailgraph_tenants{ephemeral}`, read from the store at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from mailgraph.api.describe import PathOp
from mailgraph.api.http import Request, Response
from mailgraph.api.mounts import Mount
from mailgraph.delivery.queue import STATUSES
from mailgraph.domain.changes import AfterCommit, Commit
from mailgraph.domain.ports import Tx, UnitOfWork

JSON = b"application/json; charset=utf-8"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0)


class Metrics:
    """The server's metrics and their registry."""

    def __init__(self, signals: AfterCommit) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "mailgraph_http_requests", "HTTP requests answered", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "mailgraph_http_request_duration_seconds",
            "Time to answer a request",
            ["route"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.changes = Counter(
            "mailgraph_changes", "Committed changes to messages and folders", ["entity", "kind"], registry=r
        )
        self.queued = Counter("mailgraph_outbound_queued", "Outbound recipients queued by sends", registry=r)
        self.queue = Gauge(
            "mailgraph_queue_entries", "Outbound queue entries by status", ["status"], registry=r
        )
        self.tenants = Gauge("mailgraph_tenants", "Hosted tenants", ["ephemeral"], registry=r)
        signals.subscribe(self.on_commit)

    def observe(self, req: Request, status: int, seconds: float) -> None:
        """Count one answered request (GraphApp.observe); a few µs."""
        route = req.route or "none"
        self.requests.labels(route, req.method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def on_commit(self, commit: Commit) -> None:
        """Count a committed unit's changes (an after-commit subscriber: must be quick)."""
        for change in commit.changes:
            self.changes.labels(change.entity, change.kind).inc()
        if commit.queued:
            self.queued.inc(commit.queued)

    async def scrape(self, uow: UnitOfWork) -> bytes:
        """Refresh the store-backed gauges, then the text exposition."""

        async def unit(tx: Tx) -> tuple[dict[str, int], list[bool]]:
            depths = await tx.workbench.queue_depths()
            return {str(k): v for k, v in depths.items()}, [
                i.ephemeral for i in await tx.workbench.tenant_infos()
            ]

        depths, flags = await uow.read(unit)
        for status in STATUSES:
            self.queue.labels(status).set(depths.get(status, 0))
        self.tenants.labels("true").set(sum(flags))
        self.tenants.labels("false").set(len(flags) - sum(flags))
        return generate_latest(self.registry)


@dataclass(frozen=True, slots=True)
class Readiness:
    """What readiness checks: the store (and its schema) and the background workers."""

    uow: UnitOfWork
    schema_version: int
    """The migration the store must have reached."""
    workers: Sequence[tuple[str, Callable[[], bool]]] = ()

    async def check(self) -> dict[str, object]:
        """Each check's outcome; `ready` when all passed."""
        checks: dict[str, object] = {}
        try:
            version = await self.uow.read(lambda tx: tx.workbench.schema_version())
            checks["store"] = "ok"
            checks["migrations"] = (
                "ok" if version >= self.schema_version else f"at {version} of {self.schema_version}"
            )
        except Exception as exc:  # any failure of the store is "not ready", with its reason
            checks["store"] = f"failed: {type(exc).__name__}"
        for name, alive in self.workers:
            checks[name] = "ok" if alive() else "stopped"
        checks["ready"] = all(v == "ok" for v in checks.values())
        return checks


_HEALTH = [
    PathOp("GET", "/health", "Liveness"),
    PathOp("GET", "/health/ready", "Readiness: store, migrations, workers", responses=(200, 503)),
]
_HEALTHZ = [PathOp("GET", "/healthz", "Liveness (Kubernetes spelling)")]
_READYZ = [PathOp("GET", "/readyz", "Readiness (Kubernetes spelling)", responses=(200, 503))]
_METRICS = [PathOp("GET", "/metrics", "Prometheus text exposition", produces="text/plain")]


def ops_mounts(metrics: Metrics, readiness: Readiness) -> list[Mount]:
    """The mounts of `/health`, `/healthz`, `/readyz` and `/metrics`."""

    async def health(req: Request, parts: Sequence[str]) -> Response | None:
        if len(parts) == 1 and parts[0] in ("health", "healthz"):
            return Response(200, b'{"status":"ok"}', JSON, [(b"cache-control", b"no-store")])
        if parts in (["health", "ready"], ["readyz"]):
            checks = await readiness.check()
            return Response(
                200 if checks["ready"] else 503, orjson.dumps(checks), JSON, [(b"cache-control", b"no-store")]
            )
        return None

    async def scrape(req: Request, parts: Sequence[str]) -> Response:
        return Response(200, await metrics.scrape(readiness.uow), CONTENT_TYPE_LATEST.encode())

    return [
        Mount("health", ("health",), health, case_sensitive=True, describe=lambda: _HEALTH),
        Mount("healthz", ("healthz",), health, exact=True, case_sensitive=True, describe=lambda: _HEALTHZ),
        Mount("readyz", ("readyz",), health, exact=True, case_sensitive=True, describe=lambda: _READYZ),
        Mount("metrics", ("metrics",), scrape, exact=True, case_sensitive=True, describe=lambda: _METRICS),
    ]
