"""The prefix mount table (api/mounts.py): which part of the server answers which path.

Precedence is by literal prefix segments, then table order; these tests pin the answers the server
gave before the table existed (a tenant named `v1.0` on the token endpoint, `/upload`, `/admin`,
unknown paths) and that mounts added later (a control namespace, a UI) need no change to app.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import pytest
from httpx import AsyncClient

from mailgraph.api.http import Request, Response
from mailgraph.api.mounts import ANY, Mount, MountTable
from mailgraph.wiring import Runtime
from tests.api.helpers import assert_graph_error
from tests.conftest import TokenFor

_CLIENT = {"grant_type": "client_credentials", "client_id": "full-app", "client_secret": "full-secret"}


async def test_token_endpoint_wins_for_any_tenant_segment(api: AsyncClient) -> None:
    reference = await api.post("/no-such-tenant.test/oauth2/v2.0/token", data=_CLIENT)
    assert reference.status_code == 400 and isinstance(reference.json()["error"], str)
    for tenant in ("v1.0", "BETA", "upload", "admin", "common%2Fx"):
        r = await api.post(f"/{tenant}/oauth2/v2.0/token", data=_CLIENT)
        assert (r.status_code, r.json()["error"]) == (reference.status_code, reference.json()["error"]), (
            tenant
        )
    scope = {"scope": "https://graph.microsoft.com/.default"}
    ok = await api.post("/fabrikam.test/oauth2/v2.0/token", data=_CLIENT | scope)
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"


async def test_a_tenant_named_like_a_version_is_graph_elsewhere(api: AsyncClient) -> None:
    ok = await api.get("/fabrikam.test/v2.0/.well-known/openid-configuration")
    assert ok.status_code == 200 and ok.json()["token_endpoint"].endswith("/oauth2/v2.0/token")
    error = assert_graph_error(
        await api.get("/v1.0/v2.0/.well-known/openid-configuration"), 400, "BadRequest"
    )
    assert error["message"] == "Resource not found for the segment 'v2.0'."


async def test_upload_mount_needs_no_bearer_and_is_case_sensitive(api: AsyncClient) -> None:
    r = await api.put(
        "/upload/v1.0/attachmentSessions/nope?authtoken=x",
        content=b"abc",
        headers={"Content-Range": "bytes 0-2/3"},
    )
    assert_graph_error(r, 404, "uploadSessionNotFound")
    error = assert_graph_error(await api.put("/upload/elsewhere", content=b""), 404, "ResourceNotFound")
    assert error["message"] == "Resource not found for the segment 'upload'."
    error = assert_graph_error(await api.put("/Upload/v1.0/attachmentSessions/nope"), 404, "ResourceNotFound")
    assert error["message"] == "Resource not found for the segment 'Upload'."


async def test_admin_mount_has_its_own_credential(
    api: AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    r = await api.get("/admin/queue", headers=token_for(app=["Mail.Read"]))  # a Graph token is not enough
    assert_graph_error(r, 401, "InvalidAuthenticationToken")
    assert r.headers["www-authenticate"] == 'Bearer realm="mailgraph-admin"'
    r = await api.get("/admin/queue", headers={"Authorization": f"Bearer {runtime.admin_token}"})
    assert r.status_code == 200 and r.json() == {"value": []}
    error = assert_graph_error(await api.get("/ADMIN/queue"), 404, "ResourceNotFound")
    assert error["message"] == "Resource not found for the segment 'ADMIN'."


@pytest.mark.parametrize(
    ("path", "status", "code", "segment"),
    [
        ("/nothing/here", 404, "ResourceNotFound", "nothing"),
        ("/v1.0/nothing", 400, "BadRequest", "nothing"),
        ("/v1.0", 400, "BadRequest", "v1.0"),
        ("/beta/me/nothing", 400, "BadRequest", "nothing"),
    ],
)
async def test_unknown_paths_are_graph_errors(
    api: AsyncClient, path: str, status: int, code: str, segment: str
) -> None:
    error = assert_graph_error(await api.get(path), status, code)
    assert error["message"] == f"Resource not found for the segment '{segment}'."


async def test_a_control_namespace_and_a_ui_are_added_without_touching_the_app(
    api: AsyncClient, runtime: Runtime
) -> None:
    async def control(req: Request, parts: Sequence[str]) -> Response:
        return Response(200, orjson.dumps({"parts": list(parts)}), b"application/json")

    async def ui(req: Request, parts: Sequence[str]) -> Response | None:
        return Response(200, b"<p>ui</p>", b"text/html") if parts[1:] == ["inbox"] else None

    # The real control namespace (issues 13, 14) and UI (issue 14) are mounted already; these
    # stand-ins show the seam.
    runtime.app.mounts.add(Mount("control-x", ("_control_x",), control))
    runtime.app.mounts.add(Mount("ui-x", ("ui_x",), ui))
    names = [m.name for m in runtime.app.mounts.mounts]
    assert names.index("control-x") < names.index("identity") and names.index("ui-x") < names.index(
        "identity"
    )
    assert names.index("control") < names.index("identity") and names.count("control") == 1
    r = await api.get("/_control_x/health%2Fz")
    assert r.status_code == 200 and r.json() == {"parts": ["_control_x", "health/z"]}
    assert r.headers["request-id"] and r.headers["cache-control"] == "private"  # common headers for all
    assert (await api.get("/ui_x/inbox")).text == "<p>ui</p>"
    assert_graph_error(
        await api.get("/ui_x/other"), 404, "ResourceNotFound"
    )  # None: the next mount, then 404
    with pytest.raises(ValueError, match="exists"):
        runtime.app.mounts.add(Mount("ui-x", ("ui2",), ui))


def _table(*names_and_prefixes: tuple[str, tuple[str | tuple[str, ...] | None, ...]]) -> MountTable:
    async def answer(req: Request, parts: Sequence[str]) -> Response:
        return Response(200)

    mounts = [Mount(name, prefix, answer, plain=name == "graph") for name, prefix in names_and_prefixes]
    return MountTable(mounts, fallback=answer)


def test_precedence_is_by_literal_segments_then_order() -> None:
    table = _table(
        ("identity", (ANY,)),
        ("graph", (("v1.0", "beta"),)),
        ("upload", ("upload",)),
        ("token", (ANY, "oauth2", "v2.0", "token")),
    )
    assert [m.name for m in table.mounts] == ["token", "graph", "upload", "identity"]


def test_the_fast_path_is_derived_from_the_table() -> None:
    table = _table(("graph", (("v1.0", "beta"),)), ("token", (ANY, "oauth2", "v2.0", "token")))
    assert table.fast(b"/v1.0/me/messages") is not None and table.fast(b"/BETA/users/x") is not None
    assert table.fast(b"/v1.0/oauth2/v2.0/token") is None  # the token mount must see it first
    table.add(Mount("preview", ("v1.0", "preview"), table.mounts[0].serve))  # two literals: before Graph
    assert table.fast(b"/v1.0/Preview/x") is None and table.fast(b"/v1.0/me") is not None
    with pytest.raises(ValueError, match="hide the fast path"):
        table.add(Mount("greedy", (ANY, ANY, "v2.0", "x"), table.mounts[0].serve))  # before Graph, any 2nd
    assert "greedy" not in [m.name for m in table.mounts] and table.fast(b"/v1.0/me") is not None


async def test_the_root_is_the_web_ui(api: AsyncClient) -> None:
    # Issue 14: `GET /` was Graph's 404 for the empty segment; it is now the web UI's entry.
    r = await api.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/ui/"
