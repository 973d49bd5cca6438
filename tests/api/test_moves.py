"""`message: move` and `message: copy` through the real app (spec §2.6, §3.5)."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.api.helpers import JSON, assert_graph_error, create_draft, folder_items, q
from tests.conftest import TokenFor

ROOTS = ["/v1.0", "/beta"]


async def _folder_id(api: AsyncClient, headers: dict[str, str], root: str, name: str) -> str:
    r = await api.get(f"{root}/mailFolders/{name}", headers=headers)
    assert r.status_code == 200, r.text
    folder_id: str = r.json()["id"]
    return folder_id


async def _immutable(api: AsyncClient, headers: dict[str, str], root: str, rest_id: str) -> str:
    r = await api.get(f"{root}/messages/{q(rest_id)}", headers={**headers, "Prefer": 'IdType="ImmutableId"'})
    assert r.status_code == 200, r.text
    immutable: str = r.json()["id"]
    return immutable


@pytest.mark.parametrize("version", ROOTS)
async def test_move_gives_a_new_id_in_the_destination(
    api: AsyncClient, token_for: TokenFor, version: str
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    root = f"{version}/me"
    draft = await create_draft(api, alice, root, subject="Move me")
    immutable = await _immutable(api, alice, root, draft["id"])
    r = await api.post(
        f"{root}/messages/{q(draft['id'])}/move", json={"destinationId": "DeletedItems"}, headers=alice
    )
    assert r.status_code == 201, r.text
    moved: dict[str, Any] = r.json()
    assert moved["@odata.context"].endswith("/messages/$entity")
    assert r.headers["location"].endswith(f"/messages('{q(moved['id'])}')")
    assert moved["id"] != draft["id"] and moved["subject"] == "Move me"
    assert moved["parentFolderId"] == await _folder_id(api, alice, root, "deleteditems")
    assert moved["internetMessageId"] == draft["internetMessageId"]
    assert moved["changeKey"] != draft["changeKey"]
    r = await api.get(f"{root}/messages/{q(draft['id'])}", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    assert (await api.get(f"{root}/messages/{q(moved['id'])}", headers=alice)).status_code == 200
    assert await _immutable(api, alice, root, moved["id"]) == immutable  # spec §3.5: survives the move
    assert await folder_items(api, alice, root, "drafts") == []
    assert [m["id"] for m in await folder_items(api, alice, root, "deleteditems")] == [moved["id"]]


@pytest.mark.parametrize("version", ROOTS)
async def test_copy_creates_a_new_item(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    root = f"{version}/me"
    draft = await create_draft(api, alice, root, subject="Copy me")
    archive = await _folder_id(api, alice, root, "archive")
    r = await api.post(
        f"{root}/messages/{q(draft['id'])}/copy", json={"DestinationId": archive}, headers=alice
    )
    assert r.status_code == 201, r.text
    clone = r.json()
    assert clone["id"] != draft["id"] and clone["parentFolderId"] == archive
    assert clone["internetMessageId"] == draft["internetMessageId"]
    assert clone["subject"] == "Copy me" and clone["isDraft"] is True
    assert await _immutable(api, alice, root, clone["id"]) != await _immutable(api, alice, root, draft["id"])
    assert [m["id"] for m in await folder_items(api, alice, root, "drafts")] == [draft["id"]]
    assert [m["id"] for m in await folder_items(api, alice, root, "archive")] == [clone["id"]]
    # The two are independent items: changing the copy leaves the original alone.
    r = await api.patch(f"{root}/messages/{q(clone['id'])}", json={"subject": "Changed"}, headers=alice)
    assert r.status_code == 200
    r = await api.get(f"{root}/messages/{q(draft['id'])}", headers=alice)
    assert r.json()["subject"] == "Copy me"


async def test_move_and_copy_below_mail_folders_and_users(api: AsyncClient, token_for: TokenFor) -> None:
    app = token_for(app=["Mail.ReadWrite"])
    root = "/v1.0/users/alice%40fabrikam.test"
    draft = await create_draft(api, app, root)
    r = await api.post(
        f"{root}/mailFolders/inbox/messages/{q(draft['id'])}/move",
        json={"destinationId": "inbox"},
        headers=app,
    )
    assert_graph_error(r, 404, "ErrorItemNotFound")  # the draft is not in the Inbox
    r = await api.post(
        f"{root}/mailFolders('Drafts')/messages('{q(draft['id'])}')/microsoft.graph.move",
        json={"destinationId": "inbox"},
        headers=app,
    )
    assert r.status_code == 201, r.text
    moved = r.json()
    r = await api.post(
        f"{root}/mailFolders/Inbox/messages/{q(moved['id'])}/copy",
        json={"destinationId": "SentItems"},
        headers=app,
    )
    assert r.status_code == 201, r.text
    assert len(await folder_items(api, app, root, "sentitems")) == 1


async def test_move_into_the_same_folder_changes_nothing(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice)
    r = await api.post(
        f"/v1.0/me/messages/{q(draft['id'])}/move", json={"destinationId": "drafts"}, headers=alice
    )
    assert r.status_code == 201
    assert r.json()["id"] == draft["id"] and r.json()["changeKey"] == draft["changeKey"]


async def test_move_and_copy_errors(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    draft = await create_draft(api, alice)
    for action in ("move", "copy"):
        url = f"/v1.0/me/messages/{q(draft['id'])}/{action}"
        assert_graph_error(
            await api.post(url, json={"destinationId": "AQMkNoSuchFolder="}, headers=alice),
            404,
            "ErrorItemNotFound",
        )
        assert_graph_error(
            await api.post(url, json={"destinationId": "nofolder"}, headers=alice), 404, "ErrorItemNotFound"
        )
        # A display name instead of an id: Graph's "Id is malformed." (python-o365 issue #619).
        r = await api.post(url, json={"destinationId": "My Folder"}, headers=alice)
        assert_graph_error(r, 400, "ErrorInvalidIdMalformed")
        assert_graph_error(await api.post(url, json={}, headers=alice), 400, "ErrorInvalidRequest")
        assert_graph_error(
            await api.post(url, json={"destinationId": ""}, headers=alice), 400, "ErrorInvalidRequest"
        )
        assert_graph_error(await api.post(url, json={"destinationId": 7}, headers=alice), 400, "BadRequest")
        assert_graph_error(
            await api.post(url, json={"destinationId": "inbox", "x": 1}, headers=alice),
            400,
            "RequestBodyRead",
        )
        assert_graph_error(await api.post(url, content=b"", headers={**alice, **JSON}), 400, "BadRequest")
        r = await api.post(
            f"/v1.0/me/messages/AAMkNoSuchItem%3D/{action}", json={"destinationId": "inbox"}, headers=alice
        )
        assert_graph_error(r, 404, "ErrorItemNotFound")
        r = await api.post(url, json={"destinationId": "inbox"}, headers=token_for("alice", "Mail.Read"))
        assert_graph_error(r, 403, "ErrorAccessDenied")
    # Nothing moved or copied by the failures.
    assert [m["id"] for m in await folder_items(api, alice, "/v1.0/me", "drafts")] == [draft["id"]]
    assert await folder_items(api, alice, "/v1.0/me", "inbox") == []


async def test_a_moved_draft_can_still_be_sent(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    draft = await create_draft(api, alice, to=["bob@fabrikam.test"])
    r = await api.post(
        f"/v1.0/me/messages/{q(draft['id'])}/move", json={"destinationId": "archive"}, headers=alice
    )
    moved = r.json()
    assert (await api.post(f"/v1.0/me/messages/{q(moved['id'])}/send", headers=alice)).status_code == 202
    assert len(await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox")) == 1
