"""Property: for random batches, each inner response equals what the same request gives alone.

Requests are drawn (seeded, so a failure replays) from reads of every kind and from writes that fail
before changing anything, so the state is the same whether a request runs inside a batch or alone.
Compared: status, the headers that matter to clients, and the body with its volatile ids removed.
"""

from __future__ import annotations

import random
from typing import Any

import httpx

from tests.api.helpers import JSON, create_draft
from tests.conftest import TokenFor

ROUNDS = 30


def _stable(body: Any) -> Any:
    """The body without what differs per request (request ids, error dates)."""
    if isinstance(body, dict) and "error" in body:
        return {"code": body["error"]["code"], "message": body["error"]["message"]}
    return body


def _pool(ids: list[str]) -> list[tuple[str, str, dict[str, Any] | None]]:
    some = ids[0]
    return [
        ("GET", "/me/mailFolders", None),
        ("GET", "/me/mailFolders/inbox", None),
        ("GET", "/me/mailFolders/drafts/messages?$select=subject&$top=2", None),
        ("GET", "/me/messages?$orderby=subject&$select=subject,importance", None),
        ("GET", f"/me/messages/{some}", None),
        ("GET", f"/me/messages/{ids[1]}?$select=subject,toRecipients", None),
        ("GET", f"/me/messages/{some}/attachments", None),
        ("GET", "/me/messages/AAMkAGunknown=", None),
        ("GET", "/me/messages?$filter=bogus eq 1", None),
        ("GET", "/me/nothing", None),
        ("GET", "/users/bob@fabrikam.test/messages", None),
        ("GET", "/users/nobody@fabrikam.test/mailFolders", None),
        ("PATCH", "/me/messages/AAMkAGunknown=", {"subject": "x"}),
        ("POST", "/me/messages", {"noSuchProperty": 1}),
        ("DELETE", "/me/mailFolders/inbox", None),
        ("POST", f"/me/messages/{some}/move", {"destinationId": "nowhere"}),
    ]


async def test_inner_responses_equal_the_same_requests_alone(
    api: httpx.AsyncClient, token_for: TokenFor
) -> None:
    h = token_for("alice", "Mail.ReadWrite")
    ids = [(await create_draft(api, h, subject=f"s{i}"))["id"] for i in range(3)]
    pool = _pool(ids)
    rng = random.Random(1313)
    for _ in range(ROUNDS):
        chosen = [rng.choice(pool) for _ in range(rng.randint(1, 20))]
        sequential = rng.random() < 0.3
        requests: list[dict[str, Any]] = []
        for n, (method, url, body) in enumerate(chosen):
            item: dict[str, Any] = {"id": str(n), "method": method, "url": url}
            if body is not None:
                item |= {"headers": JSON, "body": body}
            if sequential and n:
                item["dependsOn"] = [str(n - 1)]
            requests.append(item)
        r = await api.post("/v1.0/$batch", json={"requests": requests}, headers=h)
        assert r.status_code == 200, r.text
        inner = {e["id"]: e for e in r.json()["responses"]}
        failed = False
        for n, (method, url, body) in enumerate(chosen):
            got = inner[str(n)]
            if sequential and failed:
                assert got["status"] == 424
                continue
            alone = await api.request(method, f"/v1.0{url}", json=body, headers=h)
            assert got["status"] == alone.status_code, (url, got)
            assert _stable(got.get("body")) == _stable(alone.json() if alone.content else None), url
            assert got["headers"].get("Content-Type") == alone.headers.get("content-type"), url
            failed = failed or got["status"] >= 400
