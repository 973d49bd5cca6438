"""Small helpers shared by the API tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

JSON = {"Content-Type": "application/json"}


def q(value: str) -> str:
    """Percent-encode an id or UPN for a path, as the Kiota SDKs do."""
    return quote(value, safe="")


def draft_body(to: list[str] | None = None, subject: str = "Hello", **extra: Any) -> dict[str, Any]:
    """A JSON message body."""
    body: dict[str, Any] = {
        "subject": subject,
        "body": {"contentType": "Text", "content": "Hi there"},
        "toRecipients": [
            {"emailAddress": {"address": a}} for a in (["bob@fabrikam.test"] if to is None else to)
        ],
    }
    body.update(extra)
    return body


async def create_draft(
    api: httpx.AsyncClient, headers: dict[str, str], root: str = "/v1.0/me", **kwargs: Any
) -> dict[str, Any]:
    """Create a draft and return its JSON."""
    r = await api.post(f"{root}/messages", json=draft_body(**kwargs), headers=headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def folder_items(
    api: httpx.AsyncClient, headers: dict[str, str], root: str, folder: str
) -> list[dict[str, Any]]:
    """Every message of a folder (first page of 1000)."""
    r = await api.get(f"{root}/mailFolders/{folder}/messages?$top=1000", headers=headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["value"]
    return items


def assert_graph_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is a Graph error with this status and code, as JSON with innerError."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    assert error["innerError"]["request-id"] == r.headers["request-id"]
    return error
