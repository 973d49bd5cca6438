"""External identity provider mode: tokens of a configured issuer, verified with its JWKS (served here by
a local http server on 127.0.0.1), mapped to the tenant's users and permissions."""

from __future__ import annotations

import http.server
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

from mailgraph.config import Settings
from mailgraph.domain.errors import BadRequestError
from mailgraph.wiring import Runtime, build

ISSUER = "https://keycloak.example.test/realms/mail"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
ROTATED = ECKey.generate_key("P-256", parameters={"kid": "k2"})
STRANGER = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid, another key


class _Jwks:
    keys: list[Any] = [KEY]
    hits = 0


@pytest.fixture
def jwks_url() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            _Jwks.hits += 1
            body = orjson.dumps({"keys": [k.as_dict(private=False) for k in _Jwks.keys]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    _Jwks.keys, _Jwks.hits = [KEY], 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/certs"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
async def runtime_idp(data_dir: Path, jwks_url: str) -> AsyncIterator[Runtime]:
    settings = Settings(
        data_dir=data_dir,
        idp_issuer=ISSUER,
        idp_jwks_url=jwks_url,
        idp_audiences=("mailgraph",),
        database=os.environ.get("MAILGRAPH_DATABASE"),
    )
    runtime = await build(settings)
    yield runtime
    await runtime.engine.close()


@pytest.fixture
async def client(runtime_idp: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=runtime_idp.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://graph.test") as c:
        yield c


def _token(key: Any = KEY, alg: str = "RS256", **claims: Any) -> dict[str, str]:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": ["mailgraph", "account"], "exp": now + 300, "iat": now, "azp": "kc-client"}
    body.update(claims)
    token = jws.serialize_compact(
        {"alg": alg, "kid": key.kid, "typ": "JWT"},
        orjson.dumps(body),
        key,
        registry=jws.JWSRegistry(algorithms=[alg]),
    )
    return {"Authorization": f"Bearer {token}"}


async def test_delegated_token_maps_to_a_user(client: httpx.AsyncClient) -> None:
    alice = _token(preferred_username="alice@fabrikam.test", scope="openid profile Mail.ReadWrite mail.send")
    r = await client.post("/v1.0/me/messages", headers=alice, json={"subject": "from keycloak"})
    assert r.status_code == 201, r.text
    r = await client.get("/v1.0/me/messages", headers=alice)
    assert [m["subject"] for m in r.json()["value"]] == ["from keycloak"]
    # Only mapped permissions count: `openid profile` and unknown names grant nothing.
    r = await client.get(
        "/v1.0/me/messages", headers=_token(preferred_username="alice@fabrikam.test", scope="openid")
    )
    assert r.status_code == 403
    # The user claim falls back to email when preferred_username is not a tenant user.
    r = await client.get(
        "/v1.0/me/messages",
        headers=_token(preferred_username="alice", email="alice@fabrikam.test", scp="Mail.Read"),
    )
    assert r.status_code == 200


async def test_app_token_and_our_own_tokens_side_by_side(client: httpx.AsyncClient) -> None:
    app = _token(roles=["Mail.Read", "offline_access"], idtyp="app")
    assert (await client.get("/v1.0/users/bob@fabrikam.test/messages", headers=app)).status_code == 200
    form = {
        "grant_type": "client_credentials",
        "client_id": "full-app",
        "client_secret": "full-secret",
        "scope": "https://graph.microsoft.com/.default",
    }
    own = (await client.post("/fabrikam.test/oauth2/v2.0/token", data=form)).json()["access_token"]
    r = await client.get("/v1.0/users/bob@fabrikam.test/messages", headers={"Authorization": f"Bearer {own}"})
    assert r.status_code == 200


async def test_refusals(client: httpx.AsyncClient) -> None:
    user = {"preferred_username": "alice@fabrikam.test", "scp": "Mail.Read"}
    now = int(time.time())
    for headers in [
        _token(key=STRANGER, **user),  # right kid, wrong key
        _token(**(user | {"aud": "someone-else"})),
        _token(**(user | {"preferred_username": "mallory@fabrikam.test"})),  # no such user
        _token(**(user | {"exp": now - 3600})),
    ]:
        r = await client.get("/v1.0/me/messages", headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
    expired = await client.get("/v1.0/me/messages", headers=_token(**(user | {"exp": now - 3600})))
    assert expired.json()["error"]["message"] == "Access token has expired or is not yet valid."


async def test_rotated_key_is_fetched_at_most_once_a_minute(
    client: httpx.AsyncClient, runtime_idp: Runtime
) -> None:
    hits = _Jwks.hits
    _Jwks.keys = [KEY, ROTATED]
    rotated = _token(key=ROTATED, alg="ES256", preferred_username="bob@fabrikam.test", scp="Mail.Read")
    # Within a minute of the last fetch, an unknown kid does not make the server fetch again (no amplification).
    assert (await client.get("/v1.0/me/messages", headers=rotated)).status_code == 401
    assert _Jwks.hits == hits
    external = runtime_idp.app.services.tokens.external
    assert external is not None
    external._fetched_at -= 61  # a minute passes
    r = await client.get("/v1.0/me/messages", headers=rotated)
    assert r.status_code == 200, r.text
    assert _Jwks.hits == hits + 1


async def test_settings_go_together(data_dir: Path) -> None:
    with pytest.raises(BadRequestError):
        await build(
            Settings(data_dir=data_dir, idp_issuer=ISSUER, database=os.environ.get("MAILGRAPH_DATABASE"))
        )
