"""A delta client for tests: follow nextLinks to the deltaLink, and replay entries onto a local copy."""

from __future__ import annotations

from typing import Any

import httpx

MAX_PAGES = 200  # bounded loops: a round that does not end is a failure


async def round_trip(
    api: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> tuple[list[dict[str, Any]], str, list[httpx.Response]]:
    """One delta round from `url`: every entry, the deltaLink, and the responses (pages)."""
    entries: list[dict[str, Any]] = []
    pages: list[httpx.Response] = []
    for _ in range(MAX_PAGES):
        r = await api.get(url, headers=headers)
        assert r.status_code == 200, r.text
        pages.append(r)
        body = r.json()
        entries.extend(body["value"])
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            link: str = body["@odata.deltaLink"]
            assert "$deltatoken=" in link
            return entries, link, pages
        url = body["@odata.nextLink"]
        assert "$skiptoken=" in url
    raise AssertionError("the round did not end")


def replay(copy: dict[str, dict[str, Any]], entries: list[dict[str, Any]]) -> None:
    """Apply delta entries to a client's copy (id → item), as a syncing client does."""
    for entry in entries:
        assert entry["@odata.type"] in ("#microsoft.graph.message", "#microsoft.graph.mailFolder")
        if "@removed" in entry:
            assert entry["@removed"] == {"reason": "deleted"}
            copy.pop(entry["id"], None)
        else:
            copy[entry["id"]] = entry
