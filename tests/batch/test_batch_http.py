"""`POST /{version}/$batch` over raw HTTP: Graph's whole-batch 400s, per-item 400s, dependsOn, 424."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.api.helpers import JSON, assert_graph_error, create_draft, draft_body
from tests.conftest import TokenFor


def _get(rid: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": rid, "method": "GET", "url": url, **extra}


async def _batch(
    api: httpx.AsyncClient, headers: dict[str, str], requests: Any, version: str = "v1.0"
) -> Any:
    return await api.post(f"/{version}/$batch", json={"requests": requests}, headers=headers)


def _by_id(r: httpx.Response) -> dict[str, dict[str, Any]]:
    assert r.status_code == 200, r.text
    return {e["id"]: e for e in r.json()["responses"]}


async def test_parallel_batch_of_gets_answers_each(api: httpx.AsyncClient, token_for: TokenFor) -> None:
    h = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, h)
    r = await _batch(
        api,
        h,
        [
            _get("1", f"/me/messages/{draft['id']}?$select=subject"),
            _get("2", "me/mailFolders/drafts"),
            _get("3", "/me/messages/nope"),
        ],
        "beta",
    )
    out = _by_id(r)
    assert out["1"]["status"] == 200 and out["1"]["body"]["subject"] == "Hello"
    assert out["1"]["headers"]["OData-Version"] == "4.0"
    assert "/beta/$metadata" in out["2"]["body"]["@odata.context"]
    assert out["3"]["status"] in (400, 404) and out["3"]["body"]["error"]["code"]


async def test_sequential_chain_creates_updates_lists(api: httpx.AsyncClient, token_for: TokenFor) -> None:
    h = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    draft = await create_draft(api, h)
    r = await _batch(
        api,
        h,
        [
            {"id": "a", "method": "POST", "url": "/me/messages", "headers": JSON, "body": draft_body()},
            {
                "id": "b",
                "dependsOn": ["a"],
                "method": "PATCH",
                "url": f"/me/messages/{draft['id']}",
                "headers": {"content-type": "application/json"},  # lower-case, as the JS SDK sends it
                "body": {"subject": "patched"},
            },
            _get("c", "/me/mailFolders/drafts/messages?$select=subject", dependsOn=["b"]),
            {"id": "d", "dependsOn": ["c"], "method": "DELETE", "url": f"/me/messages/{draft['id']}"},
        ],
    )
    out = _by_id(r)
    assert out["a"]["status"] == 201 and out["a"]["headers"]["Location"]
    assert out["b"]["status"] == 200 and out["b"]["body"]["subject"] == "patched"
    assert "patched" in [m["subject"] for m in out["c"]["body"]["value"]]
    assert out["d"]["status"] == 204 and "body" not in out["d"]


async def test_failed_dependency_gives_424_down_the_chain(
    api: httpx.AsyncClient, token_for: TokenFor
) -> None:
    h = token_for("alice", "Mail.ReadWrite")
    r = await _batch(
        api,
        h,
        [
            _get("1", "/me/messages/unknown-id"),
            _get("2", "/me/mailFolders", dependsOn=["1"]),
            _get("3", "/me/mailFolders", dependsOn=["2"]),
        ],
    )
    out = _by_id(r)
    assert out["1"]["status"] >= 400
    assert out["2"]["status"] == 424 and out["3"]["status"] == 424
    assert out["2"]["body"]["error"]["code"] == "FailedDependency"


async def test_same_dependency_shape_runs(api: httpx.AsyncClient, token_for: TokenFor) -> None:
    h = token_for("alice", "Mail.ReadWrite")
    reqs = [_get("1", "/me/mailFolders"), _get("2", "/me/messages", dependsOn=["1"])]
    reqs.append(_get("3", "/me/mailFolders/inbox", dependsOn=["1"]))
    out = _by_id(await _batch(api, h, reqs))
    assert [out[k]["status"] for k in "123"] == [200, 200, 200]


async def test_21_requests_is_400(api: httpx.AsyncClient, token_for: TokenFor) -> None:
    h = token_for("alice", "Mail.Read")
    r = await _batch(api, h, [_get(str(i), "/me/mailFolders") for i in range(21)])
    assert_graph_error(r, 400, "BadRequest")
    assert (await _batch(api, h, [_get(str(i), "/me/mailFolders") for i in range(20)])).status_code == 200


@pytest.mark.parametrize(
    "requests",
    [
        # mixed: one parallel item beside a chain
        [_get("1", "/me"), _get("2", "/me", dependsOn=["1"]), _get("3", "/me", dependsOn=["2"]), _get("4", "/me")],
        # two dependencies
        [_get("1", "/me"), _get("2", "/me"), _get("3", "/me", dependsOn=["1", "2"])],
        # dependency on a later request
        [_get("1", "/me", dependsOn=["2"]), _get("2", "/me")],
        # unknown dependency
        [_get("1", "/me"), _get("2", "/me", dependsOn=["x"])],
        # a tree: two different dependencies
        [_get("1", "/me"), _get("2", "/me", dependsOn=["1"]), _get("3", "/me", dependsOn=["1"]),
         _get("4", "/me", dependsOn=["2"])],
    ],
)  # fmt: skip
async def test_bad_dependency_shapes_are_400(
    api: httpx.AsyncClient, token_for: TokenFor, requests: list[dict[str, Any]]
) -> None:
    r = await _batch(api, token_for("alice", "Mail.Read"), requests)
    assert_graph_error(r, 400, "BadRequest")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        b'{"requests": {}}',
        b'{"requests": [{"id": "1", "method": "FETCH", "url": "/me/messages"}]}',
        b'{"requests": [{"id": "1", "method": "GET"}]}',
        b'{"requests": [{"id": "a", "method": "GET", "url": "/me"}, {"id": "A", "method": "GET", "url": "/me"}]}',
        b'{"requests": [{"id": "1", "method": "POST", "url": "/$batch"}]}',
    ],
)
async def test_malformed_batches_are_400(api: httpx.AsyncClient, token_for: TokenFor, body: bytes) -> None:
    h = {**token_for("alice", "Mail.Read"), **JSON}
    r = await api.post("/v1.0/$batch", content=body, headers=h)
    error = assert_graph_error(r, 400, "BadRequest")
    if body == b"not json":
        assert error["message"] == "Invalid batch payload format."


async def test_version_prefixed_and_absolute_urls_fail_alone(
    api: httpx.AsyncClient, token_for: TokenFor
) -> None:
    h = token_for("alice", "Mail.Read")
    r = await _batch(
        api,
        h,
        [
            _get("1", "/v1.0/me/mailFolders"),
            _get("2", "beta/me/mailFolders"),
            _get("3", "https://graph.microsoft.com/v1.0/me/mailFolders"),
            _get("4", "/me/mailFolders"),
        ],
    )
    out = _by_id(r)
    assert out["1"]["body"]["error"]["message"] == "Resource not found for the segment 'v1.0'."
    assert out["2"]["body"]["error"]["message"] == "Resource not found for the segment 'beta'."
    assert out["3"]["body"]["error"]["message"] == "Resource not found for the segment 'https:'."
    assert [out[k]["status"] for k in "1234"] == [400, 400, 400, 200]
    assert out["1"]["body"]["error"]["code"] == "BadRequest"


async def test_batch_needs_a_token_and_items_keep_their_own_authorization(
    api: httpx.AsyncClient, token_for: TokenFor
) -> None:
    r = await api.post("/v1.0/$batch", json={"requests": []})
    assert_graph_error(r, 401, "InvalidAuthenticationToken")
    h = token_for("alice", "Mail.Read")  # no Mail.Send
    body = {"message": draft_body()}
    out = _by_id(
        await _batch(
            api, h, [{"id": "1", "method": "POST", "url": "/me/sendMail", "headers": JSON, "body": body}]
        )
    )
    assert out["1"]["status"] == 403 and out["1"]["body"]["error"]["code"] == "ErrorAccessDenied"


async def test_body_needs_content_type_and_value_is_base64(
    api: httpx.AsyncClient, token_for: TokenFor
) -> None:
    h = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, h)
    out = _by_id(
        await _batch(
            api,
            h,
            [
                {"id": "1", "method": "POST", "url": "/me/messages", "body": draft_body()},
                _get("2", f"/me/messages/{draft['id']}/$value"),
            ],
        )
    )
    assert out["1"]["status"] == 400
    assert out["2"]["headers"]["Content-Type"].startswith("text/plain")
    mime = base64.b64decode(out["2"]["body"])
    assert b"Subject: Hello" in mime


async def test_mime_body_in_base64_creates_a_draft(api: httpx.AsyncClient, token_for: TokenFor) -> None:
    h = token_for("alice", "Mail.ReadWrite")
    mime = b"From: alice@fabrikam.test\r\nTo: bob@fabrikam.test\r\nSubject: from mime\r\n\r\nbody\r\n"
    item = {
        "id": "1",
        "method": "POST",
        "url": "/me/messages",
        "headers": {"Content-Type": "text/plain"},
        "body": base64.b64encode(base64.b64encode(mime)).decode(),  # Graph's MIME input is base64 text
    }
    out = _by_id(await _batch(api, h, [item]))
    assert out["1"]["status"] == 201, out["1"]
    assert out["1"]["body"]["subject"] == "from mime"
