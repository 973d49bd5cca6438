"""followupFlag rules and `flag/flagStatus` filters; inferenceClassification and its overrides (issue 15)."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.api.helpers import assert_graph_error, create_draft
from tests.conftest import TokenFor


def _dt(value: str, zone: str = "UTC") -> dict[str, str]:
    return {"dateTime": value, "timeZone": zone}


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_flag_rules_and_filter(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    a = await create_draft(api, alice, subject="a")
    b = await create_draft(api, alice, subject="b")
    await create_draft(api, alice, subject="c")
    url = f"/{version}/me/messages"
    flagged = {
        "flagStatus": "flagged",
        "startDateTime": _dt("2026-01-01T09:00:00"),
        "dueDateTime": _dt("2026-01-02T09:00:00"),
    }
    r = await api.patch(f"{url}/{a['id']}", json={"flag": flagged}, headers=alice)
    assert r.status_code == 200, r.text
    assert r.json()["flag"]["dueDateTime"] == _dt("2026-01-02T09:00:00")
    r = await api.patch(f"{url}/{b['id']}", json={"flag": {"flagStatus": "complete"}}, headers=alice)
    completed = r.json()["flag"]
    assert completed["flagStatus"] == "complete" and completed["completedDateTime"]["timeZone"] == "UTC"

    async def subjects(flt: str) -> list[str]:
        r = await api.get(f"{url}?$filter={flt}&$select=subject", headers=alice)
        assert r.status_code == 200, r.text
        return sorted(m["subject"] for m in r.json()["value"])

    assert await subjects("flag/flagStatus eq 'flagged'") == ["a"]
    assert await subjects("flag/flagStatus eq 'complete'") == ["b"]
    assert await subjects("flag/flagStatus ne 'notFlagged'") == ["a", "b"]
    bad: list[dict[str, Any]] = [
        {"flagStatus": "flagged", "dueDateTime": _dt("2026-01-02T09:00:00")},  # due needs start
        {**flagged, "dueDateTime": _dt("2025-12-31T09:00:00")},  # due before start
        {"flagStatus": "flagged", "completedDateTime": _dt("2026-01-02T09:00:00")},
        {"flagStatus": "notFlagged", "startDateTime": _dt("2026-01-01T09:00:00")},
        {"flagStatus": "flagged", "startDateTime": _dt("soon")},
    ]
    for flag in bad:
        r = await api.patch(f"{url}/{a['id']}", json={"flag": flag}, headers=alice)
        assert_graph_error(r, 400, "ErrorInvalidValueForProperty")
    assert_graph_error(
        await api.patch(f"{url}/{a['id']}", json={"flag": {"flagStatus": "red"}}, headers=alice),
        400,
        "BadRequest",
    )
    # nothing half written: the flag is as the last good PATCH left it
    r = await api.get(f"{url}/{a['id']}", headers=alice)
    assert r.json()["flag"]["dueDateTime"] == _dt("2026-01-02T09:00:00")
    r = await api.patch(f"{url}/{a['id']}", json={"flag": {"flagStatus": "notFlagged"}}, headers=alice)
    assert r.json()["flag"] == {"flagStatus": "notFlagged"}


async def _send(api: AsyncClient, headers: dict[str, str], subject: str) -> None:
    message = {
        "subject": subject,
        "body": {"contentType": "Text", "content": "hi"},
        "toRecipients": [{"emailAddress": {"address": "alice@fabrikam.test"}}],
    }
    r = await api.post("/v1.0/me/sendMail", json={"message": message}, headers=headers)
    assert r.status_code == 202, r.text


async def _inbox(api: AsyncClient, headers: dict[str, str], flt: str = "") -> dict[str, str]:
    query = f"&$filter={flt}" if flt else ""
    r = await api.get(
        f"/v1.0/me/mailFolders/inbox/messages?$select=subject,inferenceClassification{query}", headers=headers
    )
    assert r.status_code == 200, r.text
    return {m["subject"]: m["inferenceClassification"] for m in r.json()["value"]}


@pytest.mark.parametrize("root", ["/v1.0/me", "/beta/me", "/v1.0/users/alice@fabrikam.test"])
async def test_overrides_crud_and_delivery(api: AsyncClient, token_for: TokenFor, root: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    bob = token_for("bob", "Mail.Send")
    carol = token_for("carol", "Mail.Send")
    await _send(api, bob, "before")
    await _send(api, carol, "from carol")
    assert await _inbox(api, alice) == {"before": "focused", "from carol": "focused"}
    base = f"{root}/inferenceClassification/overrides"
    body = {"classifyAs": "other", "senderEmailAddress": {"name": "Bob", "address": "BOB@fabrikam.test"}}
    r = await api.post(base, json=body, headers=alice)
    assert r.status_code == 201, r.text
    created = r.json()
    assert (
        created["classifyAs"] == "other" and created["senderEmailAddress"]["address"] == "BOB@fabrikam.test"
    )
    # bob's mail already in the Inbox is reclassified; new mail from him is classified on delivery
    await _send(api, bob, "after")
    assert await _inbox(api, alice) == {"before": "other", "after": "other", "from carol": "focused"}
    assert await _inbox(api, alice, "inferenceClassification eq 'other'") == {
        "before": "other",
        "after": "other",
    }
    # POST for the same sender updates that override (Graph's upsert), it does not add one
    r = await api.post(base, json={**body, "classifyAs": "Focused"}, headers=alice)
    assert r.status_code == 201 and r.json()["id"] == created["id"]
    assert await _inbox(api, alice) == {"before": "focused", "after": "focused", "from carol": "focused"}
    r = await api.patch(f"{base}/{created['id']}", json={"classifyAs": "other"}, headers=alice)
    assert r.status_code == 200 and r.json()["classifyAs"] == "other"
    r = await api.get(base, headers=alice)
    assert [o["id"] for o in r.json()["value"]] == [created["id"]]
    assert r.json()["@odata.context"].endswith("/inferenceClassification/overrides")
    assert (await api.delete(f"{base}/{created['id']}", headers=alice)).status_code == 204
    await _send(api, bob, "later")
    assert (await _inbox(api, alice))["later"] == "focused"
    assert (await _inbox(api, alice))["after"] == "other"  # deleting keeps what was classified


async def test_override_errors(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    base = "/v1.0/me/inferenceClassification/overrides"
    sender = {"address": "bob@fabrikam.test"}
    for body, code in [
        ({"classifyAs": "spam", "senderEmailAddress": sender}, "BadRequest"),
        ({"classifyAs": "other"}, "ErrorInvalidParameter"),
        ({"classifyAs": "other", "senderEmailAddress": {"address": "nope"}}, "BadRequest"),
        ({"classifyAs": "other", "senderEmailAddress": sender, "extra": 1}, "RequestBodyRead"),
    ]:
        assert_graph_error(await api.post(base, json=body, headers=alice), 400, code)
    r = await api.post(base, json={"classifyAs": "other", "senderEmailAddress": sender}, headers=alice)
    oid = r.json()["id"]
    r = await api.patch(
        f"{base}/{oid}", json={"senderEmailAddress": {"address": "carol@fabrikam.test"}}, headers=alice
    )
    assert_graph_error(r, 400, "ErrorInvalidPropertySet")
    bob = token_for("bob", "Mail.ReadWrite")
    assert_graph_error(await api.delete(f"{base}/{oid}", headers=bob), 404, "ErrorItemNotFound")
    reader = token_for("alice", "Mail.Read")
    assert_graph_error(
        await api.post(base, json={"classifyAs": "other", "senderEmailAddress": sender}, headers=reader),
        403,
        "ErrorAccessDenied",
    )
