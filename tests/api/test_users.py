"""The directory: GET /me, GET /users (options, paging, $count), GET /users/{id|upn}, permissions (issue 15)."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.api.helpers import assert_graph_error, q
from tests.conftest import TokenFor

VERSIONS = ["v1.0", "beta"]
EVENTUAL = {"ConsistencyLevel": "eventual"}
DEFAULT = {
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("scope", ["User.Read", "User.ReadBasic.All", "User.Read.All"])
async def test_me(api: AsyncClient, token_for: TokenFor, version: str, scope: str) -> None:
    r = await api.get(f"/{version}/me", headers=token_for("alice", scope))
    assert r.status_code == 200, r.text
    me = r.json()
    assert me.pop("@odata.context") == f"https://graph.test/{version}/$metadata#users/$entity"
    assert set(me) == DEFAULT
    assert me["userPrincipalName"] == "alice@fabrikam.test" and me["displayName"] == "Alice Able"
    assert (me["givenName"], me["surname"], me["jobTitle"]) == ("Alice", "Able", "Engineer")
    assert me["businessPhones"] == ["+1 425 555 0100"] and me["preferredLanguage"] == "en-US"
    assert (me["mobilePhone"], me["officeLocation"]) == ("+1 425 555 0101", "18/2111")
    r = await api.get(f"/{version}/me?$select=displayName,mail", headers=token_for("alice", scope))
    assert r.json()["@odata.context"].endswith("#users(displayName,mail)/$entity")
    assert set(r.json()) == {"@odata.context", "displayName", "mail", "id"}


async def test_me_without_profile_fields_and_errors(api: AsyncClient, token_for: TokenFor) -> None:
    bob = (await api.get("/v1.0/me", headers=token_for("bob", "User.Read"))).json()
    assert bob["givenName"] is None and bob["businessPhones"] == [] and bob["mail"] == "bob@fabrikam.test"
    r = await api.get("/v1.0/me", headers=token_for("alice", "Mail.ReadWrite"))
    assert_graph_error(r, 403, "ErrorAccessDenied")  # mail permissions do not read the directory
    r = await api.get("/v1.0/me", headers=token_for(app=["User.Read.All"]))
    assert_graph_error(r, 400, "BadRequest")
    assert_graph_error(await api.get("/v1.0/me"), 401, "InvalidAuthenticationToken")
    r = await api.get("/v1.0/me?$select=nope", headers=token_for("alice", "User.Read"))
    assert_graph_error(r, 400, "Request_BadRequest")
    r = await api.get("/v1.0/me?$top=1", headers=token_for("alice", "User.Read"))
    assert r.status_code == 400


@pytest.mark.parametrize("version", VERSIONS)
async def test_get_user_by_id_and_upn(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    headers = token_for(app=["User.Read.All"])
    carol = (await api.get(f"/{version}/users/carol@fabrikam.test", headers=headers)).json()
    assert carol["mail"] == "carol@fabrikam-mail.test" and set(carol) == DEFAULT | {"@odata.context"}
    by_id = await api.get(f"/{version}/users/{carol['id']}", headers=headers)
    assert by_id.json()["userPrincipalName"] == "carol@fabrikam.test"
    by_key = await api.get(f"/{version}/users('{q('CAROL@fabrikam.test')}')", headers=headers)
    assert by_key.json()["id"] == carol["id"]
    r = await api.get(f"/{version}/users/nobody@fabrikam.test", headers=headers)
    error = assert_graph_error(r, 404, "Request_ResourceNotFound")
    assert "'nobody@fabrikam.test' does not exist" in error["message"]
    r = await api.get(f"/{version}/users/00000000-0000-0000-0000-000000000000", headers=headers)
    assert_graph_error(r, 404, "Request_ResourceNotFound")


async def test_permissions_reach(api: AsyncClient, token_for: TokenFor) -> None:
    own = token_for("alice", "User.Read")
    alice_id = (await api.get("/v1.0/me", headers=own)).json()["id"]
    assert (await api.get(f"/v1.0/users/{alice_id}", headers=own)).status_code == 200
    r = await api.get("/v1.0/users/bob@fabrikam.test", headers=own)
    error = assert_graph_error(r, 403, "Authorization_RequestDenied")
    assert error["message"] == "Insufficient privileges to complete the operation."
    assert_graph_error(await api.get("/v1.0/users", headers=own), 403, "Authorization_RequestDenied")
    # User.ReadBasic.All: the basic properties of others, everything of oneself
    basic = token_for("alice", "User.ReadBasic.All")
    other = (
        await api.get("/v1.0/users/alice@fabrikam.test", headers=token_for("bob", "User.ReadBasic.All"))
    ).json()
    assert set(other) == {
        "@odata.context",
        "id",
        "displayName",
        "givenName",
        "surname",
        "mail",
        "userPrincipalName",
    }
    assert other["givenName"] == "Alice"
    listed = (await api.get("/v1.0/users", headers=basic)).json()["value"]
    mine = next(u for u in listed if u["id"] == alice_id)
    assert mine["jobTitle"] == "Engineer" and all("jobTitle" not in u for u in listed if u["id"] != alice_id)
    full = (await api.get("/v1.0/users", headers=token_for("bob", "User.Read.All"))).json()["value"]
    assert all(set(u) == DEFAULT for u in full)
    assert_graph_error(
        await api.get("/v1.0/users", headers=token_for(app=["Mail.Read"])), 403, "ErrorAccessDenied"
    )


@pytest.mark.parametrize("version", VERSIONS)
async def test_list_options(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    headers = token_for(app=["User.Read.All"])
    base = f"/{version}/users"
    r = await api.get(base, headers=headers)
    body = r.json()
    assert body["@odata.context"] == f"https://graph.test/{version}/$metadata#users"
    assert [u["userPrincipalName"] for u in body["value"]] == [
        "alice@fabrikam.test",
        "bob@fabrikam.test",
        "carol@fabrikam.test",
    ]
    cases = {
        "mail eq 'carol@fabrikam-mail.test'": ["carol@fabrikam.test"],
        "startswith(displayName,'b')": ["bob@fabrikam.test"],
        "userPrincipalName eq 'ALICE@fabrikam.test'": ["alice@fabrikam.test"],
        "startswith(mail,'a') or startswith(mail,'b')": ["alice@fabrikam.test", "bob@fabrikam.test"],
    }
    for expr, expected in cases.items():
        r = await api.get(base, params={"$filter": expr}, headers=headers)
        assert [u["userPrincipalName"] for u in r.json()["value"]] == expected, expr
    r = await api.get(base, params={"$select": "displayName", "$top": "2"}, headers=headers)
    page = r.json()
    assert page["@odata.context"].endswith("#users(displayName)")
    assert [set(u) for u in page["value"]] == [{"id", "displayName"}] * 2
    link = page["@odata.nextLink"]
    assert link.startswith(f"https://graph.test/{version}/users?") and "$skiptoken=" in link
    rest = (await api.get(link, headers=headers)).json()
    assert [u["displayName"] for u in rest["value"]] == ["Carol Clark"] and "@odata.nextLink" not in rest
    assert (await api.get(f"{base}?$skiptoken=garbage", headers=headers)).status_code == 400
    assert (await api.get(f"{base}?$skip=1", headers=headers)).status_code == 400
    assert (await api.get(f"{base}?$top=1000", headers=headers)).status_code == 400


async def test_count_needs_consistency_level(api: AsyncClient, token_for: TokenFor) -> None:
    headers = token_for(app=["User.Read.All"])
    r = await api.get("/v1.0/users?$count=true", headers=headers)
    assert_graph_error(r, 400, "Request_BadRequest")
    r = await api.get("/v1.0/users?$count=true&$top=1", headers={**headers, **EVENTUAL})
    assert r.json()["@odata.count"] == 3 and len(r.json()["value"]) == 1
    assert_graph_error(await api.get("/v1.0/users/$count", headers=headers), 400, "Request_BadRequest")
    r = await api.get("/beta/users/$count", headers={**headers, **EVENTUAL})
    assert (r.status_code, r.text) == (200, "3") and r.headers["content-type"].startswith("text/plain")
    r = await api.get("/v1.0/users/$count?$filter=startswith(mail,'c')", headers={**headers, **EVENTUAL})
    assert r.text == "1"
    # advanced filters (ne, not, contains) need the header as on Graph
    r = await api.get("/v1.0/users", params={"$filter": "mail ne 'x'"}, headers=headers)
    assert_graph_error(r, 400, "Request_BadRequest")
    r = await api.get(
        "/v1.0/users", params={"$filter": "contains(displayName,'a')"}, headers={**headers, **EVENTUAL}
    )
    assert len(r.json()["value"]) == 3
