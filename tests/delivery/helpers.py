"""Sending through the real app and reading the queue and the Inbox back."""

from __future__ import annotations

from typing import Any

import httpx

from mailgraph.domain.model import QueueEntry
from mailgraph.wiring import Runtime


def mail(to: list[str], subject: str = "Hello", bcc: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """A sendMail body."""
    message: dict[str, Any] = {
        "subject": subject,
        "body": {"contentType": "Text", "content": "Hi there"},
        "toRecipients": [{"emailAddress": {"address": a}} for a in to],
        "bccRecipients": [{"emailAddress": {"address": a}} for a in bcc or []],
        **extra,
    }
    return {"message": message}


async def send(
    api: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any], user: str = "alice"
) -> None:
    """sendMail as `user`; asserts 202."""
    r = await api.post(f"/v1.0/users/{user}@fabrikam.test/sendMail", json=body, headers=headers)
    assert r.status_code == 202, r.text


async def entries(runtime: Runtime) -> list[QueueEntry]:
    """Every queue entry."""
    return await runtime.engine.read(lambda tx: tx.outbox.list_entries(None, 10_000))


async def inbox(api: httpx.AsyncClient, headers: dict[str, str], user: str = "alice") -> list[dict[str, Any]]:
    """The user's Inbox items (subject, from, body)."""
    r = await api.get(
        f"/v1.0/users/{user}@fabrikam.test/mailFolders/inbox/messages?$top=100", headers=headers
    )
    assert r.status_code == 200, r.text
    value: list[dict[str, Any]] = r.json()["value"]
    return value
