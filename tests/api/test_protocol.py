"""Wire conventions: auth errors, permissions, routing errors, headers, limits (spec §0, §4, §5)."""

from __future__ import annotations

import base64
import json

import pytest
from httpx import AsyncClient

from tests.api.helpers import JSON, assert_graph_error, create_draft, draft_body, folder_items, q
from tests.conftest import Directory, TokenFor


async def test_missing_and_bad_tokens_are_401(api: AsyncClient, token_for: TokenFor) -> None:
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}):
        r = await api.get("/v1.0/me/messages", headers=headers)
        error = assert_graph_error(r, 401, "InvalidAuthenticationToken")
        assert error["message"] == "Access token is empty."
        assert r.headers["www-authenticate"].startswith("Bearer realm=")
    r = await api.get("/v1.0/me/messages", headers={"Authorization": "Bearer garbage"})
    assert_graph_error(r, 401, "InvalidAuthenticationToken")
    good = token_for("alice", "Mail.Read")["Authorization"]
    head, payload, sig = good.removeprefix("Bearer ").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scp"] = "Mail.ReadWrite Mail.Send"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    r = await api.get("/v1.0/me/messages", headers={"Authorization": f"Bearer {head}.{forged}.{sig}"})
    assert_graph_error(r, 401, "InvalidAuthenticationToken")


@pytest.mark.parametrize(
    ("method", "path", "scopes", "allowed"),
    [
        ("GET", "/v1.0/me/messages", ["Mail.Read"], True),
        ("GET", "/v1.0/me/messages", ["Mail.ReadWrite"], True),
        ("GET", "/v1.0/me/messages", ["Mail.Send"], False),
        ("POST", "/v1.0/me/messages", ["Mail.Read"], False),
        ("POST", "/v1.0/me/messages", ["Mail.ReadWrite"], True),
        ("POST", "/v1.0/me/sendMail", ["Mail.ReadWrite"], False),
        ("POST", "/v1.0/me/sendMail", ["Mail.Send"], True),
        ("GET", "/v1.0/me/mailFolders", ["Mail.Send"], False),
        ("GET", "/v1.0/me/mailFolders", ["Mail.ReadBasic"], True),
    ],
)
async def test_delegated_permission_matrix(
    api: AsyncClient, token_for: TokenFor, method: str, path: str, scopes: list[str], allowed: bool
) -> None:
    body = {"message": draft_body()} if path.endswith("sendMail") else draft_body()
    r = await api.request(
        method, path, headers=token_for("alice", *scopes), json=body if method == "POST" else None
    )
    if allowed:
        assert r.status_code in (200, 201, 202), r.text
    else:
        assert_graph_error(r, 403, "ErrorAccessDenied")


async def test_send_needs_mail_send_not_readwrite(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice)
    assert_graph_error(
        await api.post(f"/v1.0/me/messages/{q(draft['id'])}/send", headers=alice), 403, "ErrorAccessDenied"
    )
    app = token_for(app=["Mail.ReadWrite"])
    r = await api.post(f"/v1.0/users/alice@fabrikam.test/messages/{q(draft['id'])}/send", headers=app)
    assert_graph_error(r, 403, "ErrorAccessDenied")
    assert len(await folder_items(api, alice, "/v1.0/me", "drafts")) == 1


async def test_read_basic_hides_the_body(api: AsyncClient, token_for: TokenFor) -> None:
    await create_draft(api, token_for("alice", "Mail.ReadWrite"))
    r = await api.get("/v1.0/me/messages", headers=token_for("alice", "Mail.ReadBasic"))
    item = r.json()["value"][0]
    assert "body" not in item and "bodyPreview" not in item
    assert item["subject"] == "Hello"


async def test_me_with_app_token_is_400(api: AsyncClient, token_for: TokenFor) -> None:
    r = await api.get("/v1.0/me/messages", headers=token_for(app=["Mail.Read"]))
    error = assert_graph_error(r, 400, "BadRequest")
    assert error["message"] == "/me request is only valid with delegated authentication flow."


async def test_delegated_token_reaches_only_its_own_mailbox(
    api: AsyncClient, token_for: TokenFor, directory: Directory
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    assert (await api.get("/v1.0/users/alice@fabrikam.test/messages", headers=alice)).status_code == 200
    for key in ("bob@fabrikam.test", directory.users["bob"].id):
        assert_graph_error(
            await api.get(f"/v1.0/users/{key}/messages", headers=alice), 403, "ErrorAccessDenied"
        )


async def test_unknown_user(api: AsyncClient, token_for: TokenFor) -> None:
    r = await api.get("/v1.0/users/nobody@fabrikam.test/messages", headers=token_for(app=["Mail.Read"]))
    error = assert_graph_error(r, 404, "ErrorInvalidUser")
    assert error["message"] == "The requested user 'nobody@fabrikam.test' is invalid."


@pytest.mark.parametrize(
    ("path", "segment"),
    [("/v1.0/me/nope", "nope"), ("/v1.0/contacts", "contacts"), ("/beta/me/messages/x/y/z", "y")],
)
async def test_unknown_segments_are_400(
    api: AsyncClient, token_for: TokenFor, path: str, segment: str
) -> None:
    r = await api.get(path, headers=token_for("alice", "Mail.Read"))
    error = assert_graph_error(r, 400, "BadRequest")
    assert error["message"] == f"Resource not found for the segment '{segment}'."


async def test_paths_outside_the_versions_are_404(api: AsyncClient, token_for: TokenFor) -> None:
    r = await api.get("/v2.0/me/messages", headers=token_for("alice", "Mail.Read"))
    assert_graph_error(r, 404, "ResourceNotFound")


async def test_wrong_method_is_405(api: AsyncClient, token_for: TokenFor) -> None:
    r = await api.put("/v1.0/me/messages", headers=token_for("alice", "Mail.ReadWrite"), json={})
    assert_graph_error(r, 405, "BadRequest")
    assert r.headers["allow"] == "GET, POST"


async def test_request_ids(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.Read")
    r = await api.get("/v1.0/me/mailFolders", headers={**alice, "client-request-id": "abc-123"})
    assert r.headers["client-request-id"] == "abc-123"
    assert len(r.headers["request-id"]) == 36
    r = await api.get("/v1.0/me/mailFolders", headers=alice)
    assert r.headers["client-request-id"] == r.headers["request-id"]
    assert r.headers["cache-control"] == "private"
    r = await api.get("/v1.0/me/messages/nope", headers={**alice, "client-request-id": "xyz"})
    assert r.json()["error"]["innerError"]["client-request-id"] == "xyz"
    assert "T" in r.json()["error"]["innerError"]["date"] and not r.json()["error"]["innerError"][
        "date"
    ].endswith("Z")


async def test_body_over_4_mb_is_413(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    big = json.dumps(
        draft_body(subject="big", body={"contentType": "text", "content": "x" * (4 * 1024 * 1024)})
    )
    r = await api.post("/v1.0/me/messages", content=big.encode(), headers={**alice, **JSON})
    assert_graph_error(r, 413, "RequestEntityTooLarge")
    assert await folder_items(api, alice, "/v1.0/me", "drafts") == []


async def test_non_utf8_path_is_400(api: AsyncClient, token_for: TokenFor) -> None:
    r = await api.get("/v1.0/me/messages/%FF%FE", headers=token_for("alice", "Mail.Read"))
    assert_graph_error(r, 400, "BadRequest")
