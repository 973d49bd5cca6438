"""Helpers of the workbench tests: the control API over the ASGI client, tokens of ephemeral tenants."""

from __future__ import annotations

from typing import Any

import httpx

from mailgraph.wiring import Runtime


def admin(runtime: Runtime) -> dict[str, str]:
    """The admin bearer header."""
    return {"Authorization": f"Bearer {runtime.admin_token}"}


async def new_tenant(api: httpx.AsyncClient, runtime: Runtime, **body: Any) -> dict[str, Any]:
    """Create an ephemeral tenant through the control API."""
    r = await api.post("/_mailgraph/tenants", json=body, headers=admin(runtime))
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def app_token(api: httpx.AsyncClient, tenant: dict[str, Any]) -> dict[str, str]:
    """An app-only token of the tenant's first app, through its token URL (client credentials)."""
    app = tenant["apps"][0]
    r = await api.post(
        tenant["tokenUrl"].replace("https://graph.test", ""),
        data={
            "grant_type": "client_credentials",
            "client_id": app["clientId"],
            "client_secret": app["clientSecret"],
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def send_mail(
    api: httpx.AsyncClient, token: dict[str, str], sender: str, to: list[str], subject: str, **extra: Any
) -> None:
    """`sendMail` as `sender` with an app token."""
    message = {
        "subject": subject,
        "body": {"contentType": "text", "content": f"body of {subject}"},
        "toRecipients": [{"emailAddress": {"address": a}} for a in to],
        **extra,
    }
    r = await api.post(f"/v1.0/users/{sender}/sendMail", json={"message": message}, headers=token)
    assert r.status_code == 202, r.text
