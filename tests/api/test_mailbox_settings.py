"""`GET/PATCH …/mailboxSettings` and the sub-property GETs, both versions, errors as Graph documents."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.api.helpers import assert_graph_error
from tests.conftest import TokenFor

ROOTS = ["/v1.0", "/beta"]


@pytest.mark.parametrize("version", ROOTS)
async def test_defaults_of_a_new_mailbox(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "MailboxSettings.Read")
    r = await api.get(f"{version}/me/mailboxSettings", headers=alice)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["@odata.context"].endswith("/$metadata#me/mailboxSettings")
    assert s["timeZone"] == "UTC" and s["userPurpose"] == {"value": "user"}
    assert s["automaticRepliesSetting"]["status"] == "disabled"
    assert s["workingHours"]["daysOfWeek"] == ["monday", "tuesday", "wednesday", "thursday", "friday"]
    assert s["language"]["locale"] == "en-US"
    archive = await api.get(f"{version}/me/mailFolders/archive", headers=token_for("alice", "Mail.Read"))
    assert s["archiveFolder"] == archive.json()["id"]


@pytest.mark.parametrize("version", ROOTS)
async def test_patch_merges_and_answers_the_properties_sent(
    api: AsyncClient, token_for: TokenFor, version: str
) -> None:
    alice = token_for("alice", "MailboxSettings.ReadWrite")
    body = {
        "automaticRepliesSetting": {
            "status": "Scheduled",  # enum names are case-insensitive (the doc's example)
            "scheduledStartDateTime": {"dateTime": "2030-03-20T18:00:00.0000000", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2030-03-28T18:00:00.0000000", "timeZone": "UTC"},
        },
        "timeZone": "Pacific Standard Time",
    }
    r = await api.patch(f"{version}/me/mailboxSettings", json=body, headers=alice)
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) == {"@odata.context", "automaticRepliesSetting", "timeZone"}
    assert out["automaticRepliesSetting"]["status"] == "scheduled"
    assert out["automaticRepliesSetting"]["externalAudience"] == "all"  # kept
    r = await api.patch(
        f"{version}/me/mailboxSettings",
        json={"workingHours": {"startTime": "09:00", "daysOfWeek": ["Monday", "Saturday"],
                               "timeZone": {"name": "W. Europe Standard Time"}},
              "language": {"locale": "de-DE"}, "dateFormat": "dd.MM.yyyy", "timeFormat": "HH:mm",
              "delegateMeetingMessageDeliveryOptions": "sendToDelegateAndPrincipal"},
        headers=alice,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    s = (await api.get(f"{version}/me/mailboxSettings", headers=alice)).json()
    assert s["timeZone"] == "Pacific Standard Time"
    assert s["automaticRepliesSetting"]["scheduledEndDateTime"]["dateTime"] == "2030-03-28T18:00:00.0000000"
    assert s["workingHours"] == {
        "daysOfWeek": ["monday", "saturday"], "startTime": "09:00:00.0000000", "endTime": "17:00:00.0000000",
        "timeZone": {"name": "W. Europe Standard Time"},
    }  # fmt: skip
    assert s["language"]["locale"] == "de-DE" and s["dateFormat"] == "dd.MM.yyyy"
    assert s["delegateMeetingMessageDeliveryOptions"] == "sendToDelegateAndPrincipal"


@pytest.mark.parametrize(
    ("segment", "expect"),
    [
        ("automaticRepliesSetting", {"status": "disabled"}),
        ("timeZone", {"value": "UTC"}),
        ("dateFormat", {"value": "M/d/yyyy"}),
        ("timeFormat", {"value": "h:mm tt"}),
        ("language", {"locale": "en-US"}),
        ("workingHours", {"startTime": "08:00:00.0000000"}),
        ("userPurpose", {"value": "user"}),
        ("delegateMeetingMessageDeliveryOptions", {"value": "sendToDelegateOnly"}),
    ],
)
async def test_sub_property_gets(
    api: AsyncClient, token_for: TokenFor, segment: str, expect: dict[str, Any]
) -> None:
    r = await api.get(f"/v1.0/users/alice@fabrikam.test/mailboxSettings/{segment}", headers=token_for(
        "alice", "MailboxSettings.Read"))  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["@odata.context"].endswith(f"/mailboxSettings/{segment}")
    assert expect.items() <= r.json().items()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"workingHours": {"startTime": "08"}}, "RequestBodyRead"),
        ({"workingHours": {"startTime": "18:00:00", "endTime": "08:00:00"}}, "ErrorInvalidTimeSettings"),
        ({"workingHours": {"daysOfWeek": ["RandomDay"]}}, "InvalidArguments"),
        ({"timeZone": "Mars/Olympus"}, "InvalidTimeZone"),
        ({"workingHours": {"timeZone": {"name": "Nowhere Standard Time"}}}, "InvalidTimeZone"),
        ({"automaticRepliesSetting": {"status": "sometimes"}}, "RequestBodyRead"),
        ({"automaticRepliesSetting": {"externalAudience": "everyone"}}, "RequestBodyRead"),
        ({"delegateMeetingMessageDeliveryOptions": "nobody"}, "RequestBodyRead"),
        ({"automaticRepliesSetting": {"status": "scheduled"}}, "ErrorInvalidTimeSettings"),
        ({"automaticRepliesSetting": {
            "status": "scheduled",
            "scheduledStartDateTime": {"dateTime": "2030-03-28T18:00:00", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2030-03-20T18:00:00", "timeZone": "UTC"}}},
         "ErrorInvalidTimeSettings"),
        ({"automaticRepliesSetting": {
            "status": "scheduled",
            "scheduledStartDateTime": {"dateTime": "2030-03-20T18:00:00", "timeZone": "Nowhere"},
            "scheduledEndDateTime": {"dateTime": "2030-03-28T18:00:00", "timeZone": "UTC"}}},
         "InvalidTimeZone"),
        ({"userPurpose": {"value": "shared"}}, "ErrorInvalidRequest"),
        ({"archiveFolder": "AQMk"}, "ErrorInvalidRequest"),
        ({"nope": 1}, "RequestBodyRead"),
        ({"timeZone": 5}, "BadRequest"),
    ],
)  # fmt: skip
async def test_invalid_patches_are_refused_and_change_nothing(
    api: AsyncClient, token_for: TokenFor, body: dict[str, Any], code: str
) -> None:
    alice = token_for("alice", "MailboxSettings.ReadWrite")
    before = (await api.get("/v1.0/me/mailboxSettings", headers=alice)).json()
    assert_graph_error(await api.patch("/v1.0/me/mailboxSettings", json=body, headers=alice), 400, code)
    assert (await api.get("/v1.0/me/mailboxSettings", headers=alice)).json() == before


async def test_bad_json_and_permissions(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "MailboxSettings.ReadWrite")
    r = await api.patch(
        "/v1.0/me/mailboxSettings", content=b"{", headers={**alice, "Content-Type": "application/json"}
    )
    assert_graph_error(r, 400, "BadRequest")
    reader = token_for("alice", "MailboxSettings.Read")
    assert_graph_error(await api.patch("/v1.0/me/mailboxSettings", json={"timeZone": "UTC"}, headers=reader), 403,
                       "ErrorAccessDenied")  # fmt: skip
    assert_graph_error(await api.get("/v1.0/me/mailboxSettings", headers=token_for("alice", "Mail.ReadWrite")), 403,
                       "ErrorAccessDenied")  # fmt: skip
    app = token_for(app=["MailboxSettings.Read"])
    r = await api.get("/v1.0/users/bob@fabrikam.test/mailboxSettings", headers=app)
    assert r.status_code == 200
    assert r.json()["@odata.context"].endswith("/$metadata#users('bob%40fabrikam.test')/mailboxSettings")
    r = await api.get("/v1.0/me/mailboxSettings/nothing", headers=alice)
    assert_graph_error(r, 400, "BadRequest")
