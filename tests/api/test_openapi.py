"""`/openapi.json` against the route table (issue 14): valid OpenAPI 3.1, every route in it, nothing extra.

The document is generated from the mount table (api/openapi.py); these checks route each described
path back through the server's own matchers (Graph's router, the control API's table, the mounts), so
a route added by another change must appear, and a described path that nothing serves fails.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from openapi_spec_validator import validate

from mailgraph.api.control import ControlApi
from mailgraph.api.router import VERSIONS
from mailgraph.auth.permissions import allows
from mailgraph.wiring import Runtime

_PARAM = re.compile(r"\{([^}]+)\}")
_SAMPLES = {
    "version": "v1.0",
    "user-id": "alice@fabrikam.test",
    "tenant": "fabrikam.test",
    "upn": "alice@fabrikam.test",
}
_FALLBACK = "Resource not found for the segment"


def _fill(path: str) -> str:
    return _PARAM.sub(lambda m: _SAMPLES.get(m.group(1), "AAMkAGnotthere="), path)


async def _document(api: httpx.AsyncClient) -> dict[str, Any]:
    r = await api.get("/openapi.json")  # no Authorization header
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method.upper(), op) for path, item in doc["paths"].items() for method, op in item.items()]


async def test_the_document_is_valid_openapi_31(api: httpx.AsyncClient) -> None:
    doc = await _document(api)
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # openapi-spec-validator: raises on any violation of the 3.1 schema
    assert doc["servers"] == [{"url": "https://graph.test"}]


async def test_every_graph_route_appears_once_per_version_and_root_and_nothing_else(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    graph = runtime.app.graph
    expected = {
        (id(route), method, version, root)
        for route in graph.routes
        for method in route.methods
        for version in VERSIONS
        for root in ((True,) if route.root else ("me", "users"))
    }
    seen: set[tuple[int, str, str, object]] = set()
    for path, method, op in _operations(await _document(api)):
        version = path.split("/")[1]
        if version not in VERSIONS:
            continue
        match, route = graph._router.match(_fill(path).encode())  # raises if the path names no route
        assert method in route.methods, (method, path)
        operation = route.methods[method][1]
        root: object = True if route.root else ("me" if match.user_key is None else "users")
        key = (id(route), method, version, root)
        assert key not in seen, f"{method} {path} described twice"
        seen.add(key)
        assert op["x-mailgraph-operation"] == operation, path
        # The security requirement names exactly the permissions that allow the operation.
        named = {name for req in op["security"] for name in req.get("graphToken", [])}
        for perm in named:
            assert allows("user", frozenset({perm}), operation) or allows("app", frozenset({perm}), operation)
        if operation == "none":
            assert op["security"] == [{"graphToken": []}], path
    assert seen == expected, f"missing: {len(expected - seen)}"


async def test_every_control_route_appears_and_nothing_else(api: httpx.AsyncClient, runtime: Runtime) -> None:
    control = next(m for m in runtime.app.mounts.mounts if m.name == "control")
    table = control.serve.__self__  # type: ignore[attr-defined]
    assert isinstance(table, ControlApi)
    seen = []
    for path, method, op in _operations(await _document(api)):
        if not path.startswith("/_mailgraph/"):
            continue
        parts = _fill(path).split("/")[2:]
        routes = [r for r in table.routes if r.method == method and r.match(parts) is not None]
        assert routes, (method, path)
        assert op["security"] == [{"adminToken": []}]
        seen.append(routes[0])
    assert sorted(id(r) for r in seen) == sorted(id(r) for r in table.routes)


async def test_every_mount_describes_what_it_serves(api: httpx.AsyncClient, runtime: Runtime) -> None:
    """Each mount describes at least one operation; every described path outside Graph and the control
    API reaches its mount (not the 404 of the table's fallback)."""
    doc = await _document(api)
    for mount in runtime.app.mounts.mounts:
        assert mount.describe is not None and mount.describe(), f"mount {mount.name!r} describes nothing"
    admin = {"Authorization": f"Bearer {runtime.admin_token}"}
    for path, method, op in _operations(doc):
        if path.split("/")[1] in (*VERSIONS, "_mailgraph"):
            continue
        if "text/event-stream" in str(op["responses"]):
            continue  # endless streams: their routes are covered by the UI tests
        headers = admin if op["security"] == [{"adminToken": []}] else {}
        r = await api.request(method, _fill(path), headers=headers)
        assert _FALLBACK not in r.text, (method, path, r.status_code)
        assert r.status_code not in (405, 500), (method, path, r.status_code, r.text[:200])


async def test_unknown_method_on_openapi_is_graphs_404(api: httpx.AsyncClient) -> None:
    r = await api.post("/openapi.json")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "ResourceNotFound"
