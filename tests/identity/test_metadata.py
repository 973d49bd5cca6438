"""Identity metadata endpoints through the real app: discovery, JWKS, userrealm, instance discovery."""

from __future__ import annotations

import base64

from httpx import AsyncClient
from joserfc import jws
from joserfc.jwk import KeySet

from tests.conftest import Directory, TokenFor

BASE = "https://graph.test"


async def test_openid_configuration_per_tenant_segment(api: AsyncClient, directory: Directory) -> None:
    tid = directory.tenant.id
    for segment in ("fabrikam.test", tid, "common", "organizations", "FABRIKAM-MAIL.TEST"):
        r = await api.get(f"/{segment}/v2.0/.well-known/openid-configuration")
        assert r.status_code == 200, r.text
        doc = r.json()
        # msal-node compares issuer's scheme+host+port with the authority (client-wire fact 8).
        assert doc["issuer"] == f"{BASE}/{tid}/v2.0"
        assert doc["token_endpoint"] == f"{BASE}/{tid}/oauth2/v2.0/token"
        assert doc["jwks_uri"] == f"{BASE}/{tid}/discovery/v2.0/keys"
        assert doc["authorization_endpoint"].startswith(f"{BASE}/{tid}/")
        assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
        assert "client_credentials" in doc["grant_types_supported"]


async def test_issuer_follows_forwarded_host(api: AsyncClient) -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "login.example.test:8443"}
    r = await api.get("/common/v2.0/.well-known/openid-configuration", headers=headers)
    assert r.json()["issuer"].startswith("https://login.example.test:8443/")


async def test_unknown_tenant_and_consumers(api: AsyncClient) -> None:
    r = await api.get("/nope.example/v2.0/.well-known/openid-configuration")
    assert r.status_code == 400
    assert r.json()["error_codes"] == [90002]
    r = await api.get("/consumers/discovery/v2.0/keys")
    assert r.status_code == 400 and r.json()["error_codes"] == [9002331]


async def test_jwks_verifies_issued_tokens(api: AsyncClient, token_for: TokenFor) -> None:
    r = await api.get("/fabrikam.test/discovery/v2.0/keys")
    assert r.status_code == 200
    keys = r.json()["keys"]
    assert keys and all({"kty", "use", "kid", "x5t", "n", "e", "x5c"} <= k.keys() for k in keys)
    assert all("d" not in k for k in keys)  # never the private part
    token = token_for(app=["Mail.Read"])["Authorization"].split()[1]
    obj = jws.deserialize_compact(token, KeySet.import_key_set({"keys": keys}), algorithms=["RS256"])
    assert b'"roles":["Mail.Read"]' in obj.payload
    header = base64.urlsafe_b64decode(token.split(".")[0] + "==")
    assert keys[0]["kid"].encode() in header


async def test_userrealm_managed_for_our_domains(api: AsyncClient) -> None:
    r = await api.get("/common/userrealm/alice@fabrikam.test", params={"api-version": "1.0"})
    assert r.status_code == 200
    assert r.json()["account_type"] == "Managed"
    assert r.json()["domain_name"] == "fabrikam.test"
    r = await api.get("/common/userrealm/someone@elsewhere.example")
    assert r.json()["account_type"] == "Unknown"  # never "Federated": MSAL would try WS-Trust


async def test_instance_discovery(api: AsyncClient) -> None:
    r = await api.get(
        "/common/discovery/instance",
        params={
            "api-version": "1.1",
            "authorization_endpoint": f"{BASE}/fabrikam.test/oauth2/v2.0/authorize",
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert body["tenant_discovery_endpoint"] == f"{BASE}/fabrikam.test/v2.0/.well-known/openid-configuration"
    assert body["metadata"][0]["aliases"] == ["graph.test"]
    r = await api.get(
        "/common/discovery/instance",
        params={"authorization_endpoint": "https://login.microsoftonline.com/x/oauth2/v2.0/authorize"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_instance"
    r = await api.get("/common/discovery/instance")
    assert r.status_code == 400


async def test_graph_paths_are_not_identity_paths(api: AsyncClient) -> None:
    r = await api.get("/fabrikam.test/nothing/here")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "ResourceNotFound"


async def test_own_host_scope_means_graph(api: AsyncClient) -> None:
    # Kiota's auth provider, given no scopes, asks for `{scheme}://{request host}/.default`.
    form = {"grant_type": "client_credentials", "client_id": "full-app", "client_secret": "full-secret"}
    r = await api.post(
        "/fabrikam.test/oauth2/v2.0/token", data=form | {"scope": "https://graph.test/.default"}
    )
    assert r.status_code == 200, r.text
    r = await api.post(
        "/fabrikam.test/oauth2/v2.0/token", data=form | {"scope": "https://other.test/.default"}
    )
    assert r.status_code == 400 and r.json()["error_codes"] == [500011]
