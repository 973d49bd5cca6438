"""refresh_token, authorization_code + PKCE (with the sign-in page) and the device code grant, end to end
through the real app: every code single-use, every refusal Microsoft-shaped, tokens that work on Graph."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from urllib.parse import parse_qs, urlsplit

from httpx import AsyncClient, Response

from mailgraph.auth.flows import pkce_matches, user_code
from mailgraph.wiring import Runtime

T = "/fabrikam.test/oauth2/v2.0"
REDIRECT = "http://localhost:8400/callback"
VERIFIER = "a-verifier-of-at-least-43-characters-0123456789abcdef"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
SCOPE = "https://graph.microsoft.com/Mail.ReadWrite openid profile offline_access"


def _authorize_params(**over: str) -> dict[str, str]:
    return {
        "client_id": "public-app",
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "st<ate>",
        "nonce": "n-1",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    } | over


async def _code(api: AsyncClient, **over: str) -> str:
    params = _authorize_params(**over)
    page = await api.get(f"{T}/authorize", params=params)
    assert (page.status_code == 200 and "Public" in page.text) or "public-app" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "st&lt;ate&gt;" in page.text  # echoed values are escaped
    form = params | {"username": "alice@fabrikam.test", "password": "alice-Passw0rd", "consent": "accept"}
    r = await api.post(f"{T}/authorize", data=form)
    assert r.status_code == 302, r.text
    location = urlsplit(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["st<ate>"]
    return query["code"][0]


async def _redeem(api: AsyncClient, code: str, **over: str) -> Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": "public-app",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        "client_info": "1",
    } | over
    return await api.post(f"{T}/token", data=form)


def _bearer(body: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['access_token']}"}


async def test_authorization_code_with_pkce(api: AsyncClient) -> None:
    code = await _code(api)
    r = await _redeem(api, code)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"access_token", "refresh_token", "id_token", "client_info"} <= body.keys()
    claims = base64.urlsafe_b64decode(body["id_token"].split(".")[1] + "==")
    assert b'"nonce":"n-1"' in claims and b"alice@fabrikam.test" in claims
    assert (await api.get("/v1.0/me/messages", headers=_bearer(body))).status_code == 200
    # Mail.Send was not asked for: the token cannot send.
    r = await api.post("/v1.0/me/sendMail", headers=_bearer(body), json={"message": {"subject": "x"}})
    assert r.status_code == 403
    again = await _redeem(api, code)  # replay
    assert again.status_code == 400 and again.json()["error_codes"] == [54005]


async def test_authorization_code_refusals(api: AsyncClient) -> None:
    wrong_verifier = await _redeem(api, await _code(api), code_verifier="x" * 43)
    assert wrong_verifier.json()["error_codes"] == [50148]
    wrong_redirect = await _redeem(api, await _code(api), redirect_uri="http://localhost:9/other")
    assert wrong_redirect.json()["error_codes"] == [50011]
    other_client = await _redeem(api, await _code(api), client_id="full-app", client_secret="full-secret")
    assert other_client.status_code == 400 and other_client.json()["error_codes"] == [70000]
    unknown = await _redeem(api, "no-such-code")
    assert unknown.json()["error"] == "invalid_grant"
    missing = await api.post(
        f"{T}/token", data={"grant_type": "authorization_code", "client_id": "public-app"}
    )
    assert missing.json()["error_codes"] == [900144]


async def test_sign_in_page_refusals(api: AsyncClient) -> None:
    r = await api.get(f"{T}/authorize", params=_authorize_params(redirect_uri="https://evil.example/cb"))
    assert r.status_code == 400 and "AADSTS50011" in r.text
    assert "location" not in r.headers  # never an open redirector
    r = await api.get(f"{T}/authorize", params=_authorize_params(client_id="nope"))
    assert r.status_code == 400 and "AADSTS700016" in r.text
    r = await api.get(f"{T}/authorize", params=_authorize_params(response_type="token"))
    assert r.status_code == 400 and "response_type" in r.text
    form = _authorize_params() | {"username": "alice@fabrikam.test", "password": "wrong", "consent": "accept"}
    r = await api.post(f"{T}/authorize", data=form)
    assert r.status_code == 200 and "AADSTS50126" in r.text and "wrong" not in r.text
    r = await api.post(f"{T}/authorize", data=_authorize_params() | {"consent": "decline"})
    assert r.status_code == 302
    assert parse_qs(urlsplit(r.headers["location"]).query)["error"] == ["access_denied"]
    r = await api.get(f"{T}/authorize", params=_authorize_params(response_mode="form_post"))
    form = _authorize_params(response_mode="form_post") | {
        "username": "alice@fabrikam.test",
        "password": "alice-Passw0rd",
        "consent": "accept",
    }
    r = await api.post(f"{T}/authorize", data=form)
    assert r.status_code == 200 and f"action='{REDIRECT}'" in r.text and "name='code'" in r.text


async def test_refresh_token(api: AsyncClient) -> None:
    password = {
        "grant_type": "password",
        "client_id": "full-app",
        "client_secret": "full-secret",
        "username": "bob@fabrikam.test",
        "password": "bob-Passw0rd",
        "scope": "Mail.ReadWrite Mail.Send offline_access",
    }
    first = (await api.post(f"{T}/token", data=password)).json()
    refresh = {"grant_type": "refresh_token", "client_id": "full-app", "client_secret": "full-secret"}
    r = await api.post(
        f"{T}/token", data=refresh | {"refresh_token": first["refresh_token"], "scope": "Mail.ReadWrite"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"].split() == ["https://graph.microsoft.com/Mail.ReadWrite", "offline_access"]
    assert (
        await api.post("/v1.0/me/messages", headers=_bearer(body), json={"subject": "x"})
    ).status_code == 201
    # Wider than granted: never more than the original grant (RFC 6749 §6).
    r = await api.post(
        f"{T}/token", data=refresh | {"refresh_token": body["refresh_token"], "scope": "Mail.Send"}
    )
    assert r.json()["scope"] == "offline_access"
    # A refresh token is not an access token, and a tampered or foreign one is refused.
    r = await api.get("/v1.0/me/messages", headers={"Authorization": f"Bearer {first['refresh_token']}"})
    assert r.status_code == 401
    head, payload, sig = first["refresh_token"].split(".")
    tampered = f"{head}.{payload[:-2]}xx.{sig}"
    r = await api.post(f"{T}/token", data=refresh | {"refresh_token": tampered})
    assert r.json()["error_codes"] == [70008]
    r = await api.post(
        f"{T}/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "public-app",
            "refresh_token": first["refresh_token"],
        },
    )
    assert r.json()["error_codes"] == [70000]
    r = await api.post(
        f"{T}/token", data=refresh | {"refresh_token": first["refresh_token"], "client_secret": "bad"}
    )
    assert r.status_code == 401 and r.json()["error_codes"] == [7000215]


async def test_device_code(api: AsyncClient) -> None:
    r = await api.post(
        f"{T}/devicecode", data={"client_id": "public-app", "scope": "Mail.Send offline_access"}
    )
    assert r.status_code == 200, r.text
    start = r.json()
    assert start["verification_uri"] == "https://graph.test/devicelogin" and start["interval"] == 5
    poll = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": "public-app",
        "device_code": start["device_code"],
    }
    pending = await api.post(f"{T}/token", data=poll)
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    page = await api.get("/devicelogin")
    assert page.status_code == 200 and "name='user_code'" in page.text
    form = {"user_code": start["user_code"].lower(), "username": "carol@fabrikam.test", "consent": "accept"}
    r = await api.post("/devicelogin", data=form | {"password": "nope"})
    assert "AADSTS50126" in r.text
    r = await api.post("/devicelogin", data=form | {"password": "carol-Passw0rd"})
    assert r.status_code == 200 and "You have signed in" in r.text
    done = await api.post(f"{T}/token", data=poll)
    assert done.status_code == 200, done.text
    assert (await api.get("/v1.0/me/mailFolders/inbox", headers=_bearer(done.json()))).status_code == 403
    assert "refresh_token" in done.json()
    again = await api.post(f"{T}/token", data=poll)
    assert again.json()["error_codes"] == [70000]
    r = await api.post("/devicelogin", data=form | {"password": "carol-Passw0rd"})
    assert "AADSTS70019" in r.text  # a code approves one device once


async def test_device_code_declined_and_refusals(api: AsyncClient) -> None:
    start = (await api.post(f"{T}/devicecode", data={"client_id": "public-app", "scope": "Mail.Send"})).json()
    form = {"user_code": start["user_code"], "username": "bob@fabrikam.test", "password": "bob-Passw0rd"}
    r = await api.post("/devicelogin", data=form | {"consent": "decline"})
    assert "declined" in r.text
    poll = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": "public-app",
        "device_code": start["device_code"],
    }
    assert (await api.post(f"{T}/token", data=poll)).json()["error"] == "authorization_declined"
    r = await api.post(f"{T}/devicecode", data={"client_id": "nope", "scope": "Mail.Send"})
    assert r.status_code == 400 and r.json()["error_codes"] == [700016]
    r = await api.post(
        f"{T}/devicecode", data={"client_id": "public-app", "scope": "https://other.example/x"}
    )
    assert r.json()["error_codes"] == [500011]
    assert (await api.get(f"{T}/devicecode")).status_code == 405
    assert re.fullmatch(r"[A-Z0-9]{9}", start["user_code"])


async def test_expired_codes(api: AsyncClient, runtime: Runtime) -> None:
    code = await _code(api)
    start = (await api.post(f"{T}/devicecode", data={"client_id": "public-app", "scope": "Mail.Send"})).json()
    flows = runtime.app.services.oauth.flows
    flows._clock = lambda: time.time() + 16 * 60  # past both lifetimes (10 and 15 min)
    expired = await _redeem(api, code)
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"
    poll = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": "public-app",
        "device_code": start["device_code"],
    }
    assert (await api.post(f"{T}/token", data=poll)).json()["error"] == "expired_token"
    form = {"user_code": start["user_code"], "username": "bob@fabrikam.test", "password": "bob-Passw0rd"}
    assert "AADSTS70019" in (await api.post("/devicelogin", data=form | {"consent": "accept"})).text


def test_pkce_and_user_codes() -> None:
    assert pkce_matches(VERIFIER, CHALLENGE, "S256")
    assert not pkce_matches(VERIFIER + "x", CHALLENGE, "S256")
    assert pkce_matches("plain-verifier", "plain-verifier", "plain")
    codes = {user_code() for _ in range(200)}
    assert len(codes) == 200 and all(not set(c) & set("AEIOU01") for c in codes)
