"""`…/outlook/masterCategories` CRUD and `categories/any(…)` filters (issue 15)."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.api.helpers import assert_graph_error, create_draft
from tests.conftest import TokenFor

ROOTS = ["/v1.0/me", "/beta/me", "/v1.0/users/alice@fabrikam.test"]


@pytest.mark.parametrize("root", ROOTS)
async def test_master_category_crud(api: AsyncClient, token_for: TokenFor, root: str) -> None:
    alice = token_for("alice", "MailboxSettings.ReadWrite")
    base = f"{root}/outlook/masterCategories"
    r = await api.post(base, json={"displayName": "Project X", "color": "Preset3"}, headers=alice)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["displayName"] == "Project X" and created["color"] == "preset3"
    assert created["@odata.context"].endswith("/outlook/masterCategories/$entity")
    r = await api.post(base, json={"displayName": "Plain"}, headers=alice)
    assert r.json()["color"] == "none"
    r = await api.get(base, headers=alice)
    assert [c["displayName"] for c in r.json()["value"]] == ["Project X", "Plain"]
    assert r.json()["@odata.context"].endswith("/outlook/masterCategories")
    r = await api.get(f"{base}/{created['id']}?$select=color", headers=alice)
    assert r.json()["color"] == "preset3" and "displayName" not in r.json()
    r = await api.patch(f"{base}/{created['id']}", json={"color": "preset24"}, headers=alice)
    assert r.status_code == 200 and r.json()["color"] == "preset24"
    # the same displayName in a PATCH is no change; another is refused
    r = await api.patch(
        f"{base}/{created['id']}", json={"displayName": "Project X", "color": "none"}, headers=alice
    )
    assert r.status_code == 200 and r.json()["color"] == "none"
    r = await api.patch(f"{base}/{created['id']}", json={"displayName": "Renamed"}, headers=alice)
    assert_graph_error(r, 400, "ErrorInvalidPropertySet")
    r = await api.delete(f"{base}/{created['id']}", headers=alice)
    assert r.status_code == 204
    assert_graph_error(await api.get(f"{base}/{created['id']}", headers=alice), 404, "ErrorItemNotFound")
    assert_graph_error(await api.delete(f"{base}/{created['id']}", headers=alice), 404, "ErrorItemNotFound")


async def test_master_category_errors(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "MailboxSettings.ReadWrite")
    base = "/v1.0/me/outlook/masterCategories"
    assert (await api.post(base, json={"displayName": "Red"}, headers=alice)).status_code == 201
    # unique per mailbox, case-insensitively; another mailbox may use the name
    assert_graph_error(await api.post(base, json={"displayName": "red"}, headers=alice), 409, "ErrorItemSave")
    bob = token_for("bob", "MailboxSettings.ReadWrite")
    assert (await api.post(base, json={"displayName": "Red"}, headers=bob)).status_code == 201
    for body, status, code in [
        ({"displayName": "Blue", "color": "preset25"}, 400, "RequestBodyRead"),
        ({"displayName": "Blue", "color": "red"}, 400, "RequestBodyRead"),
        ({"displayName": "Blue", "color": 3}, 400, "BadRequest"),
        ({"displayName": 5}, 400, "BadRequest"),
        ({"color": "preset1"}, 400, "ErrorInvalidParameter"),
        ({"displayName": "  "}, 400, "ErrorInvalidValueForProperty"),
        ({"displayName": "Blue", "shade": "x"}, 400, "RequestBodyRead"),
    ]:
        assert_graph_error(await api.post(base, json=body, headers=alice), status, code)
    r = await api.get(base, headers=alice)
    first = r.json()["value"][0]["id"]
    r = await api.patch(f"{base}/{first}", json={"color": "preset99"}, headers=alice)
    assert_graph_error(r, 400, "RequestBodyRead")
    # another user's category is not found through /me
    r = await api.get(f"{base}/{first}", headers=bob)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    # Graph's permission tables: MailboxSettings.Read to read, .ReadWrite to change; Mail.* reach neither.
    mail_only = token_for("alice", "Mail.ReadWrite")
    assert_graph_error(await api.get(base, headers=mail_only), 403, "ErrorAccessDenied")
    reader = token_for("alice", "MailboxSettings.Read")
    assert_graph_error(
        await api.post(base, json={"displayName": "X"}, headers=reader), 403, "ErrorAccessDenied"
    )
    assert (await api.get(base, headers=reader)).status_code == 200


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_filter_messages_by_category(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    await create_draft(api, alice, subject="a", categories=["Red category", "Blue"])
    await create_draft(api, alice, subject="b", categories=["blue"])
    await create_draft(api, alice, subject="c", categories=[])
    made = await create_draft(api, alice, subject="d")
    r = await api.patch(f"/{version}/me/messages/{made['id']}", json={"categories": ["Red"]}, headers=alice)
    assert r.status_code == 200 and r.json()["categories"] == ["Red"]

    async def subjects(flt: str) -> list[str]:
        r = await api.get(f"/{version}/me/messages?$filter={flt}&$select=subject", headers=alice)
        assert r.status_code == 200, r.text
        return sorted(m["subject"] for m in r.json()["value"])

    assert await subjects("categories/any(c:c eq 'Blue')") == ["a", "b"]
    assert await subjects("categories/any(x: x eq 'red category')") == ["a"]
    assert await subjects("categories/any(c:c eq 'Red')") == ["d"]
    assert await subjects("not categories/any(c:c eq 'blue')") == ["c", "d"]
    assert await subjects("categories/any(c:'RED' eq c) or subject eq 'c'") == ["c", "d"]
    for bad in [
        "categories/any(c:c ne 'x')",
        "categories/any(c:d eq 'x')",
        "categories/all(c:c eq 'x')",
        "toRecipients/any(r:r eq 'x')",
        "categories eq 'x'",
    ]:
        r = await api.get(f"/{version}/me/messages?$filter={bad}", headers=alice)
        assert_graph_error(r, 400, "ErrorInvalidUrlQueryFilter")
    r = await api.get(f"/{version}/me/messages?$filter=categories/any(c c eq 'x')", headers=alice)
    assert_graph_error(r, 400, "BadRequest")
