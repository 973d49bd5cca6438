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
