"""The token endpoint over HTTP: tokens that the Graph routes accept, Microsoft-shaped errors (spec §4.1)."""

from __future__ import annotations

import base64

from httpx import AsyncClient

from tests.conftest import Directory

SCOPE = "https://graph.microsoft.com/.default"


async def test_client_credentials_token_works_on_graph(api: AsyncClient, directory: Directory) -> None:
    for tenant in ("fabrikam.test", "FABRIKAM-MAIL.test", directory.tenant.id, "organizations"):
        r = await api.post(
            f"/{tenant}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "full-app",
                "client_secret": "full-secret",
                "scope": SCOPE,
                "x-client-SKU": "MSAL.Python",
            },
        )
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"].startswith("no-store")
        token = r.json()["access_token"]
        assert r.json()["token_type"] == "Bearer"
    r = await api.get(
        "/v1.0/users/alice@fabrikam.test/mailFolders/inbox", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200


async def test_basic_auth_and_password_grant(api: AsyncClient) -> None:
    basic = base64.b64encode(b"full-app:full-secret").decode()
    r = await api.post(
        "/fabrikam.test/oauth2/v2.0/token",
        data={
            "grant_type": "password",
            "username": "bob@fabrikam.test",
            "password": "bob-Passw0rd",
            "scope": "https://graph.microsoft.com/Mail.Send openid offline_access",
        },
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    r = await api.post(
        "/v1.0/me/sendMail",
        json={
            "message": {
                "subject": "via password grant",
                "toRecipients": [{"emailAddress": {"address": "alice@fabrikam.test"}}],
            }
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 202
    r = await api.get("/v1.0/me/messages", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403  # only Mail.Send was granted


async def test_public_client_password_grant(api: AsyncClient) -> None:
    r = await api.post(
        "/common/oauth2/v2.0/token",
        data={
            "grant_type": "password",
            "client_id": "public-app",
            "username": "carol@fabrikam.test",
            "password": "carol-Passw0rd",
            "scope": "Mail.ReadWrite",
        },
    )
    assert r.status_code == 200, r.text


async def test_errors_have_microsoft_shape(api: AsyncClient) -> None:
    cases = [
        (
            {
                "grant_type": "client_credentials",
                "client_id": "full-app",
                "client_secret": "wrong",
                "scope": SCOPE,
            },
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials", "client_id": "nope", "client_secret": "x", "scope": SCOPE},
            400,
            None,
        ),
        (
            {
                "grant_type": "client_credentials",
                "client_id": "full-app",
                "client_secret": "full-secret",
                "scope": "Mail.Send",
            },
            400,
            "invalid_scope",
        ),
        ({"grant_type": "magic", "client_id": "full-app"}, 400, "unsupported_grant_type"),
        (
            {
                "grant_type": "password",
                "client_id": "public-app",
                "username": "bob@fabrikam.test",
                "password": "no",
                "scope": "Mail.Send",
            },
            400,
            "invalid_grant",
        ),
        ({}, 400, "invalid_request"),
    ]
    for form, status, error in cases:
        r = await api.post("/fabrikam.test/oauth2/v2.0/token", data=form)
        assert r.status_code == status, (form, r.text)
        body = r.json()
        if error:
            assert body["error"] == error
        assert body["error_description"].startswith("AADSTS")
        assert body["error_codes"] and body["trace_id"] and body["correlation_id"]
    r = await api.post("/unknown.test/oauth2/v2.0/token", data={"grant_type": "client_credentials"})
    assert r.status_code == 400
    r = await api.get("/fabrikam.test/oauth2/v2.0/token")
    assert r.status_code == 405
