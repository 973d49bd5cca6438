"""`Prefer: odata.maxpagesize`, `$select` on attachment lists, `$expand=attachments($select=…)` (issue 15)."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.api.helpers import assert_graph_error, create_draft
from tests.conftest import TokenFor


def _file(name: str) -> dict[str, str]:
    return {"@odata.type": "#microsoft.graph.fileAttachment", "name": name, "contentBytes": "aGk="}


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_maxpagesize_on_message_and_folder_lists(
    api: AsyncClient, token_for: TokenFor, version: str
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    for i in range(3):
        await create_draft(api, alice, subject=f"m{i}")
    prefer = {**alice, "Prefer": 'odata.maxpagesize=2, outlook.body-content-type="text"'}
    r = await api.get(f"/{version}/me/messages", headers=prefer)
    assert len(r.json()["value"]) == 2
    assert "odata.maxpagesize=2" in r.headers["preference-applied"]
    r = await api.get(r.json()["@odata.nextLink"], headers=prefer)
    assert len(r.json()["value"]) == 1 and "@odata.nextLink" not in r.json()
    # $top is the explicit size: it wins, and the preference is not reported as applied
    r = await api.get(f"/{version}/me/messages?$top=3", headers=prefer)
    assert len(r.json()["value"]) == 3
    assert "odata.maxpagesize" not in r.headers.get("preference-applied", "")
    r = await api.get(f"/{version}/me/mailFolders", headers={**alice, "Prefer": "odata.maxpagesize=4"})
    assert len(r.json()["value"]) == 4 and "@odata.nextLink" in r.json()
    assert r.headers["preference-applied"] == "odata.maxpagesize=4"
    # junk or 0 is ignored (RFC 7240 §2), above 1000 is capped
    for junk in ("odata.maxpagesize=0", "odata.maxpagesize=abc"):
        r = await api.get(f"/{version}/me/messages", headers={**alice, "Prefer": junk})
        assert len(r.json()["value"]) == 3 and "preference-applied" not in r.headers
    r = await api.get(f"/{version}/me/messages", headers={**alice, "Prefer": "odata.maxpagesize=5000"})
    assert r.headers["preference-applied"] == "odata.maxpagesize=1000"


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_attachment_list_select_and_paging(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    made = await create_draft(api, alice, attachments=[_file("a.txt"), _file("b.txt"), _file("c.txt")])
    base = f"/{version}/me/messages/{made['id']}/attachments"
    r = await api.get(f"{base}?$select=name,size", headers=alice)
    assert r.status_code == 200, r.text
    for item in r.json()["value"]:
        assert set(item) == {"@odata.type", "id", "name", "size"}
    r = await api.get(base, headers={**alice, "Prefer": "odata.maxpagesize=2"})
    assert [a["name"] for a in r.json()["value"]] == ["a.txt", "b.txt"]
    assert r.headers["preference-applied"] == "odata.maxpagesize=2"
    r = await api.get(r.json()["@odata.nextLink"], headers=alice)
    assert [a["name"] for a in r.json()["value"]] == ["c.txt"]
    r = await api.get(f"{base}?$top=1&$skip=1&$count=true", headers=alice)
    assert [a["name"] for a in r.json()["value"]] == ["b.txt"] and r.json()["@odata.count"] == 3
    assert_graph_error(await api.get(f"{base}?$select=nope", headers=alice), 400, "RequestBroker--ParseUri")
    assert_graph_error(await api.get(f"{base}?$filter=size gt 1", headers=alice), 400, "BadRequest")


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_expand_attachments_with_nested_select(
    api: AsyncClient, token_for: TokenFor, version: str
) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    made = await create_draft(api, alice, attachments=[_file("a.txt")])
    for url in (
        f"/{version}/me/messages/{made['id']}?$expand=attachments($select=name,size)",
        f"/{version}/me/messages?$expand=attachments($select=name,size)&$select=subject",
    ):
        r = await api.get(url, headers=alice)
        assert r.status_code == 200, r.text
        item = r.json() if "value" not in r.json() else r.json()["value"][0]
        assert [set(a) for a in item["attachments"]] == [{"@odata.type", "id", "name", "size"}]
    r = await api.get(f"/{version}/me/messages/{made['id']}?$expand=attachments", headers=alice)
    assert "contentBytes" in r.json()["attachments"][0]
    for bad, code in [
        ("attachments($select=nope)", "RequestBroker--ParseUri"),
        ("attachments($filter=size gt 1)", "BadRequest"),
        ("attachments($select=name", "BadRequest"),
    ]:
        r = await api.get(f"/{version}/me/messages/{made['id']}?$expand={bad}", headers=alice)
        assert_graph_error(r, 400, code)
    r = await api.get(
        f"/{version}/me/mailFolders/drafts/messages/delta?$expand=attachments($select=name)", headers=alice
    )
    assert_graph_error(r, 400, "ErrorInvalidUrlQuery")
