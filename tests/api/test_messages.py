"""Drafts and messages: create, get, PATCH, delete, list and paging (spec §2.2–§2.5, §2.9, §3)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from httpx import AsyncClient

from tests.api.helpers import JSON, assert_graph_error, create_draft, draft_body, folder_items, q
from tests.conftest import Directory, TokenFor

DEFAULT_PROPERTIES = {
    "@odata.etag", "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime",
    "sentDateTime", "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance", "parentFolderId",
    "conversationId", "conversationIndex", "isDeliveryReceiptRequested", "isReadReceiptRequested", "isRead",
    "isDraft", "webLink", "inferenceClassification", "body", "sender", "from", "toRecipients", "ccRecipients",
    "bccRecipients", "replyTo", "flag",
}  # fmt: skip


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_create_returns_full_draft(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    r = await api.post(f"/{version}/me/messages", json=draft_body(subject="Plan"), headers=alice)
    assert r.status_code == 201
    m = r.json()
    expected = DEFAULT_PROPERTIES | (
        {"mentionsPreview", "unsubscribeData", "unsubscribeEnabled"} if version == "beta" else set()
    )
    assert set(m) - {"@odata.context"} == expected
    assert m["@odata.context"].startswith(f"https://graph.test/{version}/$metadata#users(")
    assert m["@odata.etag"] == f'W/"{m["changeKey"]}"'
    assert m["isDraft"] is True and m["isRead"] is True
    assert m["sentDateTime"] == m["receivedDateTime"] == m["createdDateTime"]
    assert m["internetMessageId"].startswith("<") and m["internetMessageId"].endswith("@fabrikam.test>")
    assert m["from"] is None and m["sender"] is None
    assert m["importance"] == "normal" and m["inferenceClassification"] == "focused"
    assert m["flag"] == {"flagStatus": "notFlagged"}
    assert m["body"] == {"contentType": "text", "content": "Hi there"}
    assert m["bodyPreview"] == "Hi there"
    assert m["id"].endswith("=")
    assert r.headers["location"].endswith(f"/messages('{q(m['id'])}')")
    assert r.headers["odata-version"] == "4.0"
    assert r.headers["content-type"].startswith("application/json;odata.metadata=minimal")
    drafts = await folder_items(api, alice, f"/{version}/me", "drafts")
    assert [d["id"] for d in drafts] == [m["id"]]
    assert drafts[0]["parentFolderId"] == m["parentFolderId"]


async def test_html_body_is_wrapped_and_previewed(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    body = {
        "subject": "h",
        "body": {"contentType": "HTML", "content": "<p>Hello <b>world</b></p><script>x()</script>"},
    }
    m = (await api.post("/v1.0/me/messages", json=body, headers=alice)).json()
    assert m["body"]["contentType"] == "html"
    assert m["body"]["content"].startswith("<html>\r\n<head>\r\n<meta http-equiv=")
    assert "<p>Hello <b>world</b></p>" in m["body"]["content"]
    assert m["bodyPreview"] == "Hello world"


async def test_create_in_a_named_folder(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    r = await api.post("/v1.0/me/mailFolders('Inbox')/messages", json=draft_body(), headers=alice)
    assert r.status_code == 201
    inbox = (await api.get("/v1.0/me/mailFolders/inbox", headers=alice)).json()
    assert r.json()["parentFolderId"] == inbox["id"]
    assert r.json()["isDraft"] is True


async def test_get_by_both_key_syntaxes_and_select(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    m = await create_draft(api, alice)
    for path in (
        f"/v1.0/me/messages/{q(m['id'])}",
        f"/v1.0/me/Messages('{m['id']}')",
        f"/v1.0/ME/messages/{m['id']}",
    ):
        r = await api.get(path, headers=alice)
        assert r.status_code == 200, path
        assert r.json()["id"] == m["id"]
    r = await api.get(f"/v1.0/me/messages/{q(m['id'])}?$select=subject,toRecipients", headers=alice)
    assert set(r.json()) == {"@odata.context", "@odata.etag", "id", "subject", "toRecipients"}
    assert "messages(subject,toRecipients)/$entity" in r.json()["@odata.context"]


async def test_patch_updates_and_bumps_change_key(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    m = await create_draft(api, alice)
    patch = {
        "@odata.type": "#microsoft.graph.message",
        "subject": "Changed",
        "importance": "HIGH",
        "categories": ["Red"],
        "ccRecipients": [{"emailAddress": {"address": "carol@fabrikam-mail.test", "name": "Carol"}}],
        "flag": {
            "flagStatus": "flagged",
            "startDateTime": {"dateTime": "2029-12-01T00:00:00", "timeZone": "UTC"},
            "dueDateTime": {"dateTime": "2030-01-01T00:00:00", "timeZone": "UTC"},
        },
        "isDeliveryReceiptRequested": True,
    }
    r = await api.patch(f"/v1.0/me/messages/{q(m['id'])}", json=patch, headers=alice)
    assert r.status_code == 200, r.text
    u = r.json()
    assert r.headers["etag"] == f'W/"{u["changeKey"]}"'
    assert u["changeKey"] != m["changeKey"]
    assert u["id"] == m["id"]
    assert (u["subject"], u["importance"], u["categories"]) == ("Changed", "high", ["Red"])
    assert u["ccRecipients"] == [{"emailAddress": {"name": "Carol", "address": "carol@fabrikam-mail.test"}}]
    assert u["flag"]["flagStatus"] == "flagged"
    assert u["flag"]["dueDateTime"] == {"dateTime": "2030-01-01T00:00:00", "timeZone": "UTC"}
    assert u["isDeliveryReceiptRequested"] is True
    again = (await api.get(f"/v1.0/me/messages/{q(m['id'])}", headers=alice)).json()
    assert again["subject"] == "Changed" and again["changeKey"] == u["changeKey"]


async def test_patch_rules_for_sent_items(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    await api.post("/v1.0/me/sendMail", json={"message": draft_body()}, headers=alice)
    sent = (await folder_items(api, alice, "/v1.0/me", "sentitems"))[0]
    url = f"/v1.0/me/messages/{q(sent['id'])}"
    r = await api.patch(url, json={"isRead": False, "categories": ["Blue"]}, headers=alice)
    assert r.status_code == 200 and r.json()["isRead"] is False
    for prop in ({"subject": "no"}, {"from": {"emailAddress": {"address": "alice@fabrikam.test"}}}):
        error = assert_graph_error(
            await api.patch(url, json=prop, headers=alice), 400, "ErrorInvalidPropertySet"
        )
        assert error["message"] == "Message is not draft."


@pytest.mark.parametrize(
    ("patch", "status", "code"),
    [
        ({"nope": 1}, 400, "RequestBodyRead"),
        ({"subject": 5}, 400, "BadRequest"),
        ({"importance": "urgent"}, 400, "BadRequest"),
        ({"isRead": "yes"}, 400, "BadRequest"),
        ({"toRecipients": {"emailAddress": {}}}, 400, "BadRequest"),
        ({"toRecipients": [{"emailAddress": {"address": "a@b.test", "extra": 1}}]}, 400, "RequestBodyRead"),
        ({"body": {"contentType": "rtf", "content": "x"}}, 400, "BadRequest"),
        ({"id": "x"}, 400, "ErrorInvalidPropertySet"),
        ({"isDraft": False}, 400, "ErrorInvalidPropertySet"),
        ({"internetMessageHeaders": [{"name": "x-a", "value": "b"}]}, 400, "ErrorInvalidPropertySet"),
        ({"attachments": []}, 400, "ErrorInvalidRequest"),
        ({"mentionsPreview": None}, 400, "RequestBodyRead"),
    ],
)
async def test_patch_errors_leave_the_draft_unchanged(
    api: AsyncClient, token_for: TokenFor, patch: dict[str, object], status: int, code: str
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    m = await create_draft(api, alice)
    assert_graph_error(
        await api.patch(f"/v1.0/me/messages/{q(m['id'])}", json=patch, headers=alice), status, code
    )
    again = (await api.get(f"/v1.0/me/messages/{q(m['id'])}", headers=alice)).json()
    assert again["changeKey"] == m["changeKey"]


async def test_custom_headers_at_creation(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    headers = [{"name": "x-ticket", "value": "T-42"}, {"name": "X-Other", "value": "1"}]
    m = (
        await api.post("/v1.0/me/messages", json=draft_body(internetMessageHeaders=headers), headers=alice)
    ).json()
    assert "internetMessageHeaders" not in m
    r = await api.get(f"/v1.0/me/messages/{q(m['id'])}?$select=internetMessageHeaders", headers=alice)
    assert r.json()["internetMessageHeaders"] == headers


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ([{"name": "Subject", "value": "x"}], "InvalidInternetMessageHeader"),
        ([{"name": "x-a", "value": "b\r\nBcc: e@x.test"}], "InvalidInternetMessageHeader"),
        ([{"name": "x-a:b", "value": "v"}], "InvalidInternetMessageHeader"),
        ([{"name": f"x-{i}", "value": "v"} for i in range(6)], "InvalidInternetMessageHeaderCollection"),
    ],
)
async def test_bad_custom_headers(
    api: AsyncClient, token_for: TokenFor, headers: list[object], code: str
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    r = await api.post("/v1.0/me/messages", json=draft_body(internetMessageHeaders=headers), headers=alice)
    assert_graph_error(r, 400, code)
    assert await folder_items(api, alice, "/v1.0/me", "drafts") == []


async def test_delete_soft_deletes_then_purges(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    m = await create_draft(api, alice)
    r = await api.delete(f"/v1.0/me/messages/{q(m['id'])}", headers=alice)
    assert r.status_code == 204 and r.content == b""
    assert_graph_error(
        await api.get(f"/v1.0/me/messages/{q(m['id'])}", headers=alice), 404, "ErrorItemNotFound"
    )
    assert (await api.get("/v1.0/me/messages", headers=alice)).json()["value"] == []
    deletions = await folder_items(api, alice, "/v1.0/me", "recoverableitemsdeletions")
    assert len(deletions) == 1
    r = await api.delete(f"/v1.0/me/messages/{q(deletions[0]['id'])}", headers=alice)
    assert r.status_code == 204
    assert await folder_items(api, alice, "/v1.0/me", "recoverableitemsdeletions") == []
    assert_graph_error(
        await api.delete(f"/v1.0/me/messages/{q(m['id'])}", headers=alice), 404, "ErrorItemNotFound"
    )


async def test_item_in_another_folder_path_is_not_found(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    m = await create_draft(api, alice)
    assert (
        await api.get(f"/v1.0/me/mailFolders/drafts/messages/{q(m['id'])}", headers=alice)
    ).status_code == 200
    r = await api.get(f"/v1.0/me/mailFolders/inbox/messages/{q(m['id'])}", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")


async def test_paging_with_absolute_next_links(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    for i in range(23):
        await create_draft(api, alice, subject=f"n{i:02}")
    seen: list[str] = []
    url: str | None = "/v1.0/me/mailFolders/drafts/messages?$select=subject&$orderby=receivedDateTime%20asc"
    pages = 0
    while url and pages < 10:
        r = await api.get(
            url, headers={**alice, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "mail.example.test:8443"}
        )
        assert r.status_code == 200
        data = r.json()
        seen += [m["subject"] for m in data["value"]]
        url = data.get("@odata.nextLink")
        if url:
            parts = urlsplit(url)
            assert (parts.scheme, parts.netloc) == ("https", "mail.example.test:8443")
            assert "$select=subject" in url and "%24skip=" in url
            url = url.removeprefix("https://mail.example.test:8443")
        pages += 1
    assert pages == 3
    assert seen == [f"n{i:02}" for i in range(23)]


async def test_default_order_is_newest_first_and_top_and_skip(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    for i in range(5):
        await create_draft(api, alice, subject=f"s{i}")
    r = await api.get("/v1.0/me/messages?$top=2&$skip=1", headers=alice)
    assert [m["subject"] for m in r.json()["value"]] == ["s3", "s2"]
    r = await api.get(
        "/v1.0/me/messages?%24top=3&%24orderby=receivedDateTime+desc&$count=true", headers=alice
    )
    assert [m["subject"] for m in r.json()["value"]] == ["s4", "s3", "s2"]
    assert r.json()["@odata.count"] == 5


@pytest.mark.parametrize(
    "query",
    [
        "$top=0",
        "$top=1001",
        "$top=abc",
        "$skip=-1",
        "$select=nope",
        "$orderby=nope",
        "$bogus=1",
        "$top=1&$top=2",
    ],
)
async def test_bad_query_options_are_400(api: AsyncClient, token_for: TokenFor, query: str) -> None:
    r = await api.get(f"/v1.0/me/messages?{query}", headers=token_for("alice", "Mail.Read"))
    assert r.status_code == 400
    assert r.json()["error"]["code"]


async def test_users_key_echoes_in_context(
    api: AsyncClient, token_for: TokenFor, directory: Directory
) -> None:
    app = token_for(app=["Mail.ReadWrite"])
    r = await api.post("/v1.0/users/alice%40fabrikam.test/messages", json=draft_body(), headers=app)
    assert r.status_code == 201
    r = await api.get("/v1.0/users/alice%40fabrikam.test/messages", headers=app)
    assert (
        r.json()["@odata.context"]
        == "https://graph.test/v1.0/$metadata#users('alice%40fabrikam.test')/messages"
    )
    r = await api.get(f"/v1.0/users('{directory.users['alice'].id}')/messages", headers=app)
    assert r.status_code == 200 and len(r.json()["value"]) == 1


async def test_malformed_json_and_empty_patch(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    r = await api.post("/v1.0/me/messages", content=b"{nope", headers={**alice, **JSON})
    assert_graph_error(r, 400, "BadRequest")
    r = await api.post("/v1.0/me/messages", content=b"[1]", headers={**alice, **JSON})
    assert_graph_error(r, 400, "BadRequest")
    m = await create_draft(api, alice)
    r = await api.patch(f"/v1.0/me/messages/{q(m['id'])}", content=b"", headers={**alice, **JSON})
    assert_graph_error(r, 400, "BadRequest")
    r = await api.post("/v1.0/me/messages", content=b"", headers={**alice, **JSON})
    assert r.status_code == 201  # an empty draft is a valid draft


async def test_text_plain_create_is_mime_mode(api: AsyncClient, token_for: TokenFor) -> None:
    # spec §2.2: text/plain means base64 MIME (tests/api/test_mime_api.py covers MIME mode in full).
    alice = token_for("alice", "Mail.ReadWrite")
    r = await api.post(
        "/v1.0/me/messages", content=b"U3ViamVjdDogeA==", headers={**alice, "Content-Type": "text/plain"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["subject"] == "x"
