"""`POST …/translateExchangeIds` (spec §2.16, issue 15): every format pair, per-id errors, request errors."""

from __future__ import annotations

import base64

import pytest
from httpx import AsyncClient

from tests.api.helpers import assert_graph_error, create_draft
from tests.conftest import TokenFor

FORMATS = ["entryId", "ewsId", "immutableEntryId", "restId", "restImmutableEntryId"]


async def _translate(
    api: AsyncClient, headers: dict[str, str], root: str, ids: list[str], source: str, target: str
) -> list[dict[str, object]]:
    body = {"inputIds": ids, "sourceIdType": source, "targetIdType": target}
    r = await api.post(f"{root}/translateExchangeIds", json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["@odata.context"].endswith("$metadata#Collection(microsoft.graph.convertIdResult)")
    value: list[dict[str, object]] = r.json()["value"]
    return value


@pytest.mark.parametrize("root", ["/v1.0/me", "/beta/me", "/v1.0/users/alice@fabrikam.test"])
async def test_every_format_pair_round_trips(api: AsyncClient, token_for: TokenFor, root: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "User.Read")
    rest = (await create_draft(api, alice))["id"]
    r = await api.get(f"/v1.0/me/messages/{rest}", headers={**alice, "Prefer": 'IdType="ImmutableId"'})
    immutable = r.json()["id"]
    raw = base64.urlsafe_b64decode(rest)
    spelled = {
        "restId": rest,
        "ewsId": base64.b64encode(raw).decode(),
        "entryId": rest.rstrip("=") + str(len(rest) - len(rest.rstrip("="))),
        "restImmutableEntryId": immutable,
        "immutableEntryId": immutable.rstrip("=") + str(len(immutable) - len(immutable.rstrip("="))),
    }
    for source in FORMATS:
        for target in FORMATS:
            (result,) = await _translate(api, alice, root, [spelled[source]], source, target)
            assert result == {"sourceId": spelled[source], "targetId": spelled[target]}, (source, target)
    # the REST id changes on move; the immutable one follows the item there
    r = await api.post(f"/v1.0/me/messages/{rest}/move", json={"destinationId": "inbox"}, headers=alice)
    moved = r.json()["id"]
    (result,) = await _translate(api, alice, root, [immutable], "restImmutableEntryId", "restId")
    assert result["targetId"] == moved
    # case-insensitive format names, folders (one id in both families)
    inbox = (await api.get("/v1.0/me/mailFolders/inbox", headers=alice)).json()["id"]
    (result,) = await _translate(api, alice, root, [inbox], "RESTID", "restimmutableentryid")
    assert result == {"sourceId": inbox, "targetId": inbox}


async def test_per_id_errors_and_request_errors(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "User.Read")
    rest = (await create_draft(api, alice))["id"]
    gone = (await create_draft(api, alice))["id"]
    assert (await api.delete(f"/v1.0/me/messages/{gone}", headers=alice)).status_code == 204
    bob = token_for("bob", "Mail.ReadWrite", "User.Read")
    results = await _translate(api, alice, "/v1.0/me", [rest, "not base64!", gone, "AAAA"], "restId", "ewsId")
    assert "targetId" in results[0]
    codes = [r.get("errorDetails", {}).get("code") for r in results[1:]]  # type: ignore[union-attr]
    assert codes == ["ErrorInvalidIdMalformed", "ErrorItemNotFound", "ErrorInvalidIdMalformed"]
    # another mailbox's id is not found in this one
    (other,) = await _translate(api, bob, "/v1.0/me", [rest], "restId", "restImmutableEntryId")
    assert other["errorDetails"]["code"] == "ErrorItemNotFound"  # type: ignore[index]
    url = "/v1.0/me/translateExchangeIds"
    ok = {"inputIds": [rest], "sourceIdType": "restId", "targetIdType": "ewsId"}
    for body, status, code in [
        ({**ok, "targetIdType": "mapiId"}, 400, "RequestBodyRead"),
        ({**ok, "inputIds": "x"}, 400, "BadRequest"),
        ({**ok, "inputIds": []}, 400, "BadRequest"),
        ({**ok, "inputIds": ["a"] * 1001}, 400, "BadRequest"),
        ({"inputIds": [rest], "targetIdType": "ewsId"}, 400, "BadRequest"),
        ({**ok, "extra": 1}, 400, "RequestBodyRead"),
    ]:
        assert_graph_error(await api.post(url, json=body, headers=alice), status, code)
    app = token_for(app=["Mail.ReadWrite", "User.Read.All"])
    r = await api.post("/v1.0/users/alice@fabrikam.test/translateExchangeIds", json=ok, headers=app)
    assert_graph_error(r, 403, "ErrorAccessDenied")
