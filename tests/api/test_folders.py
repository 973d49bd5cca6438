"""mailFolders: list, get by id or well-known name, counts (spec §2.10, §3.3)."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.api.helpers import assert_graph_error, create_draft
from tests.conftest import TokenFor

VISIBLE = [
    "Archive",
    "Conversation History",
    "Deleted Items",
    "Drafts",
    "Inbox",
    "Junk Email",
    "Outbox",
    "Sent Items",
]


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_list_top_level(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.Read")
    r = await api.get(f"/{version}/me/mailFolders", headers=alice)
    assert r.status_code == 200
    data = r.json()
    assert [f["displayName"] for f in data["value"]] == VISIBLE
    assert "@odata.nextLink" not in data
    first = data["value"][0]
    assert set(first) >= {
        "id",
        "displayName",
        "parentFolderId",
        "childFolderCount",
        "unreadItemCount",
        "totalItemCount",
        "isHidden",
    }
    assert ("wellKnownName" in first) == (version == "beta")
    hidden = (await api.get(f"/{version}/me/mailFolders?includeHiddenFolders=true", headers=alice)).json()
    assert "Deletions" in [f["displayName"] for f in hidden["value"]]
    paged = (await api.get(f"/{version}/me/mailFolders?$top=3", headers=alice)).json()
    assert len(paged["value"]) == 3 and paged["@odata.nextLink"].startswith("https://graph.test/")


@pytest.mark.parametrize("name", ["inbox", "Inbox", "INBOX", "('inbox')", "('Inbox')"])
async def test_get_by_well_known_name(api: AsyncClient, token_for: TokenFor, name: str) -> None:
    alice = token_for("alice", "Mail.Read")
    path = f"/v1.0/me/mailFolders{name}" if name.startswith("(") else f"/v1.0/me/mailFolders/{name}"
    r = await api.get(path, headers=alice)
    assert r.status_code == 200, r.text
    folder = r.json()
    assert folder["displayName"] == "Inbox"
    assert folder["id"] not in {"inbox", "Inbox"}
    again = await api.get(f"/v1.0/me/mailfolders/{folder['id']}", headers=alice)
    assert again.json()["id"] == folder["id"]


async def test_counts_follow_the_items(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    await create_draft(api, alice)
    await create_draft(api, alice, to=["alice@fabrikam.test"])
    drafts = (await api.get("/v1.0/me/mailFolders/drafts", headers=alice)).json()
    assert (drafts["totalItemCount"], drafts["unreadItemCount"]) == (2, 0)
    await api.post(
        "/v1.0/me/sendMail",
        json={
            "message": {
                "subject": "s",
                "toRecipients": [{"emailAddress": {"address": "alice@fabrikam.test"}}],
            }
        },
        headers=alice,
    )
    inbox = (await api.get("/v1.0/me/mailFolders/inbox", headers=alice)).json()
    assert (inbox["totalItemCount"], inbox["unreadItemCount"]) == (1, 1)
    root = (await api.get("/v1.0/me/mailFolders/msgfolderroot", headers=alice)).json()
    assert root["childFolderCount"] == 9


async def test_unknown_folder(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.Read")
    assert_graph_error(await api.get("/v1.0/me/mailFolders/nope", headers=alice), 404, "ErrorItemNotFound")
    assert_graph_error(
        await api.get("/v1.0/me/mailFolders/nope/messages", headers=alice), 404, "ErrorItemNotFound"
    )
    r = await api.get("/v1.0/me/mailFolders?includeHiddenFolders=perhaps", headers=alice)
    assert_graph_error(r, 400, "BadRequest")


async def test_child_folders(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.Read")
    r = await api.get("/v1.0/me/mailFolders/msgfolderroot/childFolders", headers=alice)
    assert [f["displayName"] for f in r.json()["value"]] == VISIBLE
    r = await api.get("/v1.0/me/mailFolders/inbox/childFolders", headers=alice)
    assert r.json()["value"] == []
