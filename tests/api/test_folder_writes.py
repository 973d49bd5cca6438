"""mailFolder writes: create, childFolders, rename, delete into Deleted Items, move, copy, hidden folders,
counts, list options and `$count` (spec §2.10, issue 15)."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.api.delta_helpers import round_trip
from tests.api.helpers import assert_graph_error, draft_body, q
from tests.conftest import TokenFor

VERSIONS = ["v1.0", "beta"]


async def _create(
    api: AsyncClient,
    headers: dict[str, str],
    name: str,
    root: str = "/v1.0/me",
    parent: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    path = f"{root}/mailFolders" if parent is None else f"{root}/mailFolders/{q(parent)}/childFolders"
    r = await api.post(path, json={"displayName": name, **extra}, headers=headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def _get(api: AsyncClient, headers: dict[str, str], key: str, root: str = "/v1.0/me") -> dict[str, Any]:
    r = await api.get(f"{root}/mailFolders/{q(key)}", headers=headers)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def _names(api: AsyncClient, headers: dict[str, str], path: str) -> list[str]:
    r = await api.get(path, headers=headers)
    assert r.status_code == 200, r.text
    return [f["displayName"] for f in r.json()["value"]]


@pytest.mark.parametrize("version", VERSIONS)
async def test_create_top_level_and_child(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    root = f"/{version}/me"
    top = await _create(api, alice, "Projects", root)
    context = top["@odata.context"]
    assert f"/{version}/$metadata#users('" in context and context.endswith("/mailFolders/$entity")
    assert top["displayName"] == "Projects" and top["isHidden"] is False
    assert (top["childFolderCount"], top["totalItemCount"], top["unreadItemCount"]) == (0, 0, 0)
    assert ("wellKnownName" in top) == (version == "beta")
    inbox = await _get(api, alice, "inbox", root)
    msgroot = inbox["parentFolderId"]
    assert top["parentFolderId"] == msgroot
    assert "Projects" in await _names(api, alice, f"{root}/mailFolders?$top=50")
    child = await _create(api, alice, "2026", root, parent=top["id"])
    assert child["parentFolderId"] == top["id"]
    assert (await _get(api, alice, top["id"], root))["childFolderCount"] == 1
    assert await _names(api, alice, f"{root}/mailFolders/{q(top['id'])}/childFolders") == ["2026"]
    # a child of a well-known folder, addressed by name; /users/{upn} reaches the same mailbox
    under = await _create(api, alice, "Receipts", f"/{version}/users/alice@fabrikam.test", parent="Inbox")
    assert under["parentFolderId"] == inbox["id"]
    assert (await _get(api, alice, "inbox", root))["childFolderCount"] == 1


async def test_duplicate_names_among_siblings(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    a = await _create(api, alice, "Travel")
    r = await api.post("/v1.0/me/mailFolders", json={"displayName": "TRAVEL"}, headers=alice)
    error = assert_graph_error(r, 409, "ErrorFolderExists")
    assert error["message"] == "A folder with the specified name already exists."
    r = await api.post("/v1.0/me/mailFolders", json={"displayName": "inbox"}, headers=alice)
    assert_graph_error(r, 409, "ErrorFolderExists")  # the well-known folders are siblings too
    await _create(api, alice, "Travel", parent=a["id"])  # same name elsewhere is fine
    b = await _create(api, alice, "Work")
    r = await api.patch(f"/v1.0/me/mailFolders/{q(b['id'])}", json={"displayName": "travel"}, headers=alice)
    assert_graph_error(r, 409, "ErrorFolderExists")


async def test_create_errors(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    cases: list[tuple[object, int, str]] = [
        ({}, 400, "ErrorInvalidRequest"),
        ({"displayName": "   "}, 400, "ErrorInvalidValueForProperty"),
        ({"displayName": "x" * 256}, 400, "ErrorInvalidValueForProperty"),
        ({"displayName": 5}, 400, "BadRequest"),
        ({"displayName": "x", "isHidden": "yes"}, 400, "BadRequest"),
        ({"displayName": "x", "colour": "red"}, 400, "RequestBodyRead"),
        ({"displayName": "x", "totalItemCount": 3}, 400, "ErrorInvalidPropertySet"),
    ]
    for body, status, code in cases:
        assert_graph_error(await api.post("/v1.0/me/mailFolders", json=body, headers=alice), status, code)
    r = await api.post("/v1.0/me/mailFolders", content=b"", headers=alice)
    assert_graph_error(r, 400, "BadRequest")
    r = await api.post(
        "/v1.0/me/mailFolders/AQMkAAAAnope%3D/childFolders", json={"displayName": "x"}, headers=alice
    )
    assert_graph_error(r, 404, "ErrorItemNotFound")
    reader = token_for("alice", "Mail.Read")
    r = await api.post("/v1.0/me/mailFolders", json={"displayName": "x"}, headers=reader)
    assert_graph_error(r, 403, "ErrorAccessDenied")
    assert "x" not in await _names(api, alice, "/v1.0/me/mailFolders?$top=50")  # nothing half written


@pytest.mark.parametrize("version", VERSIONS)
async def test_rename(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    root = f"/{version}/me"
    f = await _create(api, alice, "Old", root)
    r = await api.patch(f"{root}/mailFolders/{q(f['id'])}", json={"displayName": "New"}, headers=alice)
    assert r.status_code == 200 and r.json()["displayName"] == "New" and r.json()["id"] == f["id"]
    assert (await _get(api, alice, f["id"], root))["displayName"] == "New"
    r = await api.patch(f"{root}/mailFolders/inbox", json={"displayName": "Post"}, headers=alice)
    assert_graph_error(r, 400, "ErrorInvalidRequest")
    r = await api.patch(f"{root}/mailFolders/{q(f['id'])}", json={"isHidden": True}, headers=alice)
    assert_graph_error(r, 400, "ErrorInvalidPropertySet")
    r = await api.patch(f"{root}/mailFolders/AQMkAAAAnope%3D", json={"displayName": "x"}, headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")


@pytest.mark.parametrize("version", VERSIONS)
async def test_delete_moves_the_subtree_into_deleted_items(
    api: AsyncClient, token_for: TokenFor, version: str
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    root = f"/{version}/me"
    f = await _create(api, alice, "Old stuff", root)
    child = await _create(api, alice, "Older", root, parent=f["id"])
    r = await api.post(f"{root}/mailFolders/{q(child['id'])}/messages", json=draft_body(), headers=alice)
    item = r.json()
    r = await api.delete(f"{root}/mailFolders/{q(f['id'])}", headers=alice)
    assert r.status_code == 204 and not r.content
    deleted = await _get(api, alice, "deleteditems", root)
    moved = await _get(api, alice, f["id"], root)
    assert moved["parentFolderId"] == deleted["id"] and deleted["childFolderCount"] == 1
    assert "Old stuff" not in await _names(api, alice, f"{root}/mailFolders?$top=50")
    # the item keeps its folder and id
    r = await api.get(f"{root}/mailFolders/{q(child['id'])}/messages/{q(item['id'])}", headers=alice)
    assert r.status_code == 200
    # a second folder of the same name gets " (2)" in Deleted Items
    again = await _create(api, alice, "Old stuff", root)
    assert (await api.delete(f"{root}/mailFolders/{q(again['id'])}", headers=alice)).status_code == 204
    assert (await _get(api, alice, again["id"], root))["displayName"] == "Old stuff (2)"
    # from inside Deleted Items: gone for good, with the subtree and its items
    assert (await api.delete(f"{root}/mailFolders/{q(f['id'])}", headers=alice)).status_code == 204
    for gone in (f["id"], child["id"]):
        assert_graph_error(
            await api.get(f"{root}/mailFolders/{q(gone)}", headers=alice), 404, "ErrorItemNotFound"
        )
    assert_graph_error(
        await api.get(f"{root}/messages/{q(item['id'])}", headers=alice), 404, "ErrorItemNotFound"
    )
    assert (await _get(api, alice, "deleteditems", root))["childFolderCount"] == 1


@pytest.mark.parametrize(
    "name", ["inbox", "Drafts", "deleteditems", "msgfolderroot", "recoverableitemsdeletions"]
)
async def test_well_known_folders_cannot_be_deleted_or_moved(
    api: AsyncClient, token_for: TokenFor, name: str
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    error = assert_graph_error(
        await api.delete(f"/v1.0/me/mailFolders/{name}", headers=alice), 400, "ErrorDeleteDistinguishedFolder"
    )
    assert error["message"] == "Distinguished folders cannot be deleted."
    r = await api.post(f"/v1.0/me/mailFolders/{name}/move", json={"destinationId": "archive"}, headers=alice)
    assert_graph_error(r, 400, "ErrorMoveDistinguishedFolder")


@pytest.mark.parametrize("version", VERSIONS)
async def test_move(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    root = f"/{version}/me"
    f = await _create(api, alice, "Mover", root)
    sub = await _create(api, alice, "Sub", root, parent=f["id"])
    r = await api.post(
        f"{root}/mailFolders/{q(f['id'])}/move", json={"destinationId": "Archive"}, headers=alice
    )
    assert r.status_code == 201, r.text
    archive = await _get(api, alice, "archive", root)
    assert r.json()["id"] == f["id"] and r.json()["parentFolderId"] == archive["id"]
    assert archive["childFolderCount"] == 1
    assert await _names(api, alice, f"{root}/mailFolders/archive/childFolders") == ["Mover"]
    # into its own subtree, into a malformed or unknown destination, without a destination
    r = await api.post(
        f"{root}/mailFolders/{q(f['id'])}/move", json={"destinationId": sub["id"]}, headers=alice
    )
    assert_graph_error(r, 400, "ErrorMoveCopyFailed")
    r = await api.post(
        f"{root}/mailFolders/{q(f['id'])}/move", json={"destinationId": "My folder"}, headers=alice
    )
    assert_graph_error(r, 400, "ErrorInvalidIdMalformed")
    r = await api.post(
        f"{root}/mailFolders/{q(f['id'])}/move", json={"DestinationId": "AQMkAAAAnope="}, headers=alice
    )
    assert_graph_error(r, 404, "ErrorItemNotFound")
    r = await api.post(f"{root}/mailFolders/{q(f['id'])}/move", json={}, headers=alice)
    assert_graph_error(r, 400, "ErrorInvalidRequest")
    # a name taken at the destination
    await _create(api, alice, "Mover", root)
    r = await api.post(
        f"{root}/mailFolders/{q(f['id'])}/move", json={"destinationId": "msgfolderroot"}, headers=alice
    )
    assert_graph_error(r, 409, "ErrorFolderExists")


@pytest.mark.parametrize("version", VERSIONS)
async def test_copy_copies_the_tree_and_items(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    root = f"/{version}/me"
    f = await _create(api, alice, "Source", root)
    sub = await _create(api, alice, "Inner", root, parent=f["id"])
    for folder, subject in ((f, "top"), (sub, "deep")):
        r = await api.post(
            f"{root}/mailFolders/{q(folder['id'])}/messages", json=draft_body(subject=subject), headers=alice
        )
        assert r.status_code == 201
    r = await api.post(
        f"{root}/mailFolders/{q(f['id'])}/copy", json={"destinationId": "inbox"}, headers=alice
    )
    assert r.status_code == 201, r.text
    copy = r.json()
    assert copy["id"] != f["id"] and copy["displayName"] == "Source"
    assert (copy["totalItemCount"], copy["childFolderCount"]) == (1, 1)
    inner = (await api.get(f"{root}/mailFolders/{q(copy['id'])}/childFolders", headers=alice)).json()["value"]
    assert [(i["displayName"], i["totalItemCount"]) for i in inner] == [("Inner", 1)] and inner[0][
        "id"
    ] != sub["id"]
    r = await api.get(f"{root}/mailFolders/{q(inner[0]['id'])}/messages", headers=alice)
    assert [m["subject"] for m in r.json()["value"]] == ["deep"]
    assert (await _get(api, alice, f["id"], root))["totalItemCount"] == 1  # the original is unchanged
    # a well-known folder can be copied (an ordinary folder), but not into a sibling of its name
    r = await api.post(f"{root}/mailFolders/drafts/copy", json={"destinationId": f["id"]}, headers=alice)
    assert r.status_code == 201 and r.json()["displayName"] == "Drafts"
    r = await api.post(
        f"{root}/mailFolders/{q(f['id'])}/copy", json={"destinationId": "inbox"}, headers=alice
    )
    assert_graph_error(r, 409, "ErrorFolderExists")
    r = await api.post(
        f"{root}/mailFolders/{q(f['id'])}/copy", json={"destinationId": sub["id"]}, headers=alice
    )
    assert_graph_error(r, 400, "ErrorMoveCopyFailed")


async def test_hidden_folders(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    hidden = await _create(api, alice, "Secret", isHidden=True)
    assert hidden["isHidden"] is True
    assert "Secret" not in await _names(api, alice, "/v1.0/me/mailFolders?$top=50")
    assert "Secret" in await _names(api, alice, "/v1.0/me/mailFolders?$top=50&includeHiddenFolders=true")
    assert (await _get(api, alice, hidden["id"]))["isHidden"] is True


async def test_list_options(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    parent = await _create(api, alice, "Clients")
    for name in ("Contoso", "Fabrikam", "Contoso Archive"):
        await _create(api, alice, name, parent=parent["id"])
    base = f"/v1.0/me/mailFolders/{q(parent['id'])}/childFolders"
    assert await _names(api, alice, f"{base}?$filter=startswith(displayName,'contoso')") == [
        "Contoso",
        "Contoso Archive",
    ]
    assert await _names(api, alice, f"{base}?$filter=displayName eq 'FABRIKAM'") == ["Fabrikam"]
    assert await _names(
        api, alice, f"{base}?$filter=not(displayName eq 'Fabrikam') and totalItemCount eq 0"
    ) == [
        "Contoso",
        "Contoso Archive",
    ]
    r = await api.get(f"{base}?$select=displayName&$top=2&$count=true", headers=alice)
    body = r.json()
    assert body["@odata.count"] == 3 and len(body["value"]) == 2 and "@odata.nextLink" in body
    assert all(set(f) == {"id", "displayName"} for f in body["value"])
    r = await api.get(
        "/v1.0/me/mailFolders?$filter=displayName eq 'Clients'&$expand=childFolders", headers=alice
    )
    [clients] = r.json()["value"]
    assert [c["displayName"] for c in clients["childFolders"]] == ["Contoso", "Contoso Archive", "Fabrikam"]
    r = await api.get(f"/v1.0/me/mailFolders/{q(parent['id'])}?$expand=childFolders", headers=alice)
    assert len(r.json()["childFolders"]) == 3
    r = await api.get("/v1.0/me/mailFolders?$filter=nope eq 1", headers=alice)
    assert r.status_code == 400
    r = await api.get("/v1.0/me/mailFolders?$expand=messages", headers=alice)
    assert r.status_code == 400


@pytest.mark.parametrize("version", VERSIONS)
async def test_folder_counts_segment(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    root = f"/{version}/me"
    r = await api.get(f"{root}/mailFolders/$count", headers=alice)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text == "8"  # the visible well-known folders
    r = await api.get(f"{root}/mailFolders/$count?includeHiddenFolders=true", headers=alice)
    assert r.text == "9"
    parent = await _create(api, alice, "Counted", root)
    await _create(api, alice, "a", root, parent=parent["id"])
    r = await api.get(f"{root}/mailFolders/{q(parent['id'])}/childFolders/$count", headers=alice)
    assert r.text == "1"
    r = await api.get(f"{root}/mailFolders/$count?$filter=startswith(displayName,'Count')", headers=alice)
    assert r.text == "1"
    r = await api.get(f"{root}/mailFolders/$count?$top=1", headers=alice)
    assert r.status_code == 400


async def test_counts_stay_exact(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    f = await _create(api, alice, "Tally")
    ids = []
    for i in range(3):
        r = await api.post(
            f"/v1.0/me/mailFolders/{q(f['id'])}/messages", json=draft_body(subject=str(i)), headers=alice
        )
        ids.append(r.json()["id"])
    await api.patch(f"/v1.0/me/messages/{q(ids[0])}", json={"isRead": False}, headers=alice)
    got = await _get(api, alice, f["id"])
    assert (got["totalItemCount"], got["unreadItemCount"]) == (3, 1)
    r = await api.post(f"/v1.0/me/messages/{q(ids[1])}/move", json={"destinationId": "inbox"}, headers=alice)
    assert r.status_code == 201
    assert (await _get(api, alice, f["id"]))["totalItemCount"] == 2
    copied = (
        await api.post(
            f"/v1.0/me/mailFolders/{q(f['id'])}/copy", json={"destinationId": "archive"}, headers=alice
        )
    ).json()
    assert (copied["totalItemCount"], copied["unreadItemCount"]) == (2, 1)


async def test_app_token_writes_any_mailbox(api: AsyncClient, token_for: TokenFor) -> None:
    app = token_for(app=["Mail.ReadWrite"])
    made = await _create(api, app, "From the app", "/v1.0/users/bob@fabrikam.test")
    bob = token_for("bob", "Mail.Read")
    assert (await _get(api, bob, made["id"]))["displayName"] == "From the app"
    r = await api.post("/v1.0/me/mailFolders", json={"displayName": "x"}, headers=app)
    assert_graph_error(r, 400, "BadRequest")  # /me needs a delegated token


async def test_folder_delta_sees_created_renamed_and_deleted_folders(
    api: AsyncClient, token_for: TokenFor
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    _, link, _ = await round_trip(api, "/v1.0/me/mailFolders/delta", alice)
    made = await _create(api, alice, "Fresh")
    entries, link, _ = await round_trip(api, link, alice)
    assert [(e["id"], e["displayName"]) for e in entries] == [(made["id"], "Fresh")]
    await api.patch(f"/v1.0/me/mailFolders/{q(made['id'])}", json={"displayName": "Renamed"}, headers=alice)
    entries, link, _ = await round_trip(api, link, alice)
    assert [(e["id"], e["displayName"]) for e in entries] == [(made["id"], "Renamed")]
    assert (await api.delete(f"/v1.0/me/mailFolders/{q(made['id'])}", headers=alice)).status_code == 204
    entries, link, _ = await round_trip(api, link, alice)
    deleted = await _get(api, alice, "deleteditems")
    assert [(e["id"], e["parentFolderId"]) for e in entries] == [(made["id"], deleted["id"])]
    assert (await api.delete(f"/v1.0/me/mailFolders/{q(made['id'])}", headers=alice)).status_code == 204
    entries, _, _ = await round_trip(api, link, alice)
    assert [(e["id"], "@removed" in e) for e in entries] == [(made["id"], True)]


@pytest.mark.parametrize("version", VERSIONS)
async def test_child_folder_paths(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    root = f"/{version}/me"
    top = await _create(api, alice, "Outer", root)
    child = await _create(api, alice, "Inner", root, parent=top["id"])
    path = f"{root}/mailFolders/{q(top['id'])}/childFolders/{q(child['id'])}"
    r = await api.get(path, headers=alice)
    assert r.status_code == 200 and r.json()["id"] == child["id"]
    r = await api.patch(path, json={"displayName": "Inner 2"}, headers=alice)
    assert r.status_code == 200 and r.json()["displayName"] == "Inner 2"
    r = await api.post(f"{path}/childFolders", json={"displayName": "Deepest"}, headers=alice)
    assert r.status_code == 201 and r.json()["parentFolderId"] == child["id"]
    assert await _names(api, alice, f"{path}/childFolders") == ["Deepest"]
    assert (await api.get(f"{path}/childFolders/$count", headers=alice)).text == "1"
    # a child named below a folder that is not its parent is not found there
    r = await api.get(f"{root}/mailFolders/inbox/childFolders/{q(child['id'])}", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    r = await api.post(f"{path}/move", json={"destinationId": "inbox"}, headers=alice)
    assert r.status_code == 201
    r = await api.get(f"{root}/mailFolders/inbox/childFolders/{q(child['id'])}", headers=alice)
    assert r.status_code == 200
    r = await api.delete(f"{root}/mailFolders/inbox/childFolders/{q(child['id'])}", headers=alice)
    assert r.status_code == 204


@pytest.mark.parametrize("version", VERSIONS)
async def test_permanent_delete(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    root = f"/{version}/me"
    f = await _create(api, alice, "Shred", root)
    sub = await _create(api, alice, "Sub", root, parent=f["id"])
    r = await api.post(f"{root}/mailFolders/{q(sub['id'])}/messages", json=draft_body(), headers=alice)
    item = r.json()
    r = await api.post(f"{root}/mailFolders/{q(f['id'])}/permanentDelete", headers=alice)
    assert r.status_code == 204 and not r.content
    for gone in (f["id"], sub["id"]):
        r = await api.get(f"{root}/mailFolders/{q(gone)}", headers=alice)
        assert_graph_error(r, 404, "ErrorItemNotFound")
    r = await api.get(f"{root}/messages/{q(item['id'])}", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    assert (await _get(api, alice, "deleteditems", root))["childFolderCount"] == 0
    r = await api.post(f"{root}/mailFolders/inbox/permanentDelete", headers=alice)
    assert_graph_error(r, 400, "ErrorDeleteDistinguishedFolder")
    r = await api.post(f"{root}/mailFolders/{q(f['id'])}/permanentDelete", json={"x": 1}, headers=alice)
    assert_graph_error(r, 400, "BadRequest")
