"""OData options through the real app and store: $filter, $search, $orderby rules (spec §2.9)."""

from __future__ import annotations

from httpx import AsyncClient

from tests.api.helpers import assert_graph_error, create_draft
from tests.conftest import TokenFor


async def seed(api: AsyncClient, token: dict[str, str]) -> None:
    await create_draft(api, token, subject="Budget 2026", to=["bob@fabrikam.test"])
    await create_draft(api, token, subject="Lunch plans", to=["carol@fabrikam-mail.test"])
    await create_draft(api, token, subject="budget review", to=["bob@fabrikam.test"], importance="high")


async def test_filter_as_each_client_encodes_it(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    await seed(api, alice)
    queries = [
        "$filter=startswith(subject,%27budget%27)",  # Kiota: %20 and %27
        "%24filter=startswith%28subject%2C+%27Budget%27%29",  # O365: %24, + for spaces, space after comma
        "$filter=startswith(subject,'BUDGET')",  # graph-client: raw parentheses and quotes
    ]
    for query in queries:
        r = await api.get(f"/v1.0/me/messages?{query}&$select=subject", headers=alice)
        assert r.status_code == 200, r.text
        assert sorted(m["subject"] for m in r.json()["value"]) == ["Budget 2026", "budget review"]
    r = await api.get("/v1.0/me/messages?$filter=importance eq 'high'", headers=alice)
    assert [m["subject"] for m in r.json()["value"]] == ["budget review"]
    r = await api.get(
        "/v1.0/me/messages?$filter=receivedDateTime ge 2000-01-01T00:00:00%2B00:00 and isDraft eq true"
        "&$orderby=receivedDateTime desc",
        headers=alice,
    )
    assert len(r.json()["value"]) == 3


async def test_search_and_count(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    await seed(api, alice)
    r = await api.get('/v1.0/me/messages?$search="lunch"&$count=true', headers=alice)
    assert [m["subject"] for m in r.json()["value"]] == ["Lunch plans"]
    assert r.json()["@odata.count"] == 1


async def test_query_errors(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.Read")
    cases = [
        ("$filter=endswith(subject,'x')", "ErrorInvalidUrlQueryFilter"),
        ("$filter=subject eq 'x'&$orderby=receivedDateTime desc", "InefficientFilter"),
        ('$search="x"&$orderby=receivedDateTime desc', "SearchWithOrderBy"),
        ("$select=nope", "RequestBroker--ParseUri"),
        ("$filter=(((", "BadRequest"),
    ]
    for query, code in cases:
        assert_graph_error(await api.get(f"/v1.0/me/messages?{query}", headers=alice), 400, code)
    r = await api.get("/v1.0/me/messages/abc?$filter=isRead eq true", headers=alice)
    assert_graph_error(r, 400, "BadRequest")
