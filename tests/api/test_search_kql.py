"""KQL `$search` on dates, hasAttachments and importance; refusals instead of silent empty answers (issue 15)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from httpx import AsyncClient

from tests.api.helpers import assert_graph_error, create_draft
from tests.conftest import TokenFor

FILE = {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentBytes": "aGk="}


async def _subjects(api: AsyncClient, headers: dict[str, str], version: str, kql: str) -> list[str]:
    r = await api.get(f'/{version}/me/messages?$search="{kql}"&$select=subject', headers=headers)
    assert r.status_code == 200, r.text
    return sorted(m["subject"] for m in r.json()["value"])


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_kql_dates_flags_and_importance(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    made = await create_draft(api, alice, subject="plain budget")
    await create_draft(api, alice, subject="with file", attachments=[FILE])
    await create_draft(api, alice, subject="urgent budget", importance="high")
    today = date.fromisoformat(made["receivedDateTime"][:10])
    everything = ["plain budget", "urgent budget", "with file"]
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)
    cases = {
        "received>=2026-01-01": everything,
        f"received:{today}": everything,
        f"received={today}": everything,
        f"received:{today.month}/{today.day}/{today.year}": everything,
        f"received>{today}": [],
        f"received<{today}": [],
        f"received<={today}": everything,
        f"received>={tomorrow}": [],
        f"received>{yesterday}": everything,
        f"received:{yesterday}..{today}": everything,
        f"received:{tomorrow}..{tomorrow}": [],
        f"received<{made['receivedDateTime']}": [],
        f"sent>={yesterday}": everything,
        "received<2000-01-01": [],
        "hasAttachments:true": ["with file"],
        "hasAttachment:false": ["plain budget", "urgent budget"],
        "importance:high": ["urgent budget"],
        "importance:medium": ["plain budget", "with file"],
        f"budget received>={today}": ["plain budget", "urgent budget"],
        "subject:budget importance:high": ["urgent budget"],
    }
    for kql, want in cases.items():
        assert await _subjects(api, alice, version, kql) == want, kql


async def test_kql_refusals_are_errors_not_empty_answers(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.Read")
    for kql in [
        "received>=yesterday",
        "received:2026-13-01",
        "received:",
        "hasAttachments:maybe",
        "hasAttachments>true",
        "importance:urgent",
        "size>100",
        "kind:email",
        "attachment:a.txt",
        "subject>=x",
        "subject=x",
        "colour>=blue",
        "a OR b",
    ]:
        r = await api.get(f'/v1.0/me/messages?$search="{kql}"', headers=alice)
        assert_graph_error(r, 400, "BadRequest")
