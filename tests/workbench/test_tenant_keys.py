"""An ephemeral tenant's token signing key, as clients see it: its tokens verify against the JWKS its
OpenID metadata names, in Entra's shape (kid = x5t = SHA-1 of the x5c certificate), each tenant
under a kid of its own although they share the server's workbench key pair (auth/keyring.py
`shared`), and it all goes with the tenant."""

from __future__ import annotations

import base64
import hashlib

import httpx
from joserfc import jws
from joserfc.jwk import KeySet

from mailgraph.wiring import Runtime
from tests.workbench.helpers import admin, app_token, new_tenant

BASE = "https://graph.test"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def _jwks(api: httpx.AsyncClient, tenant_id: str) -> list[dict[str, str]]:
    meta = await api.get(f"/{tenant_id}/v2.0/.well-known/openid-configuration")
    assert meta.status_code == 200, meta.text
    assert meta.json()["issuer"] == f"{BASE}/{tenant_id}/v2.0"
    keys = await api.get(meta.json()["jwks_uri"].replace(BASE, ""))
    assert keys.status_code == 200, keys.text
    return list(keys.json()["keys"])


async def test_a_fresh_tenants_token_verifies_against_its_own_jwks(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    a, b = await new_tenant(api, runtime), await new_tenant(api, runtime)
    keys_a, keys_b = await _jwks(api, a["id"]), await _jwks(api, b["id"])
    assert len(keys_a) == len(keys_b) == 1
    for key in (*keys_a, *keys_b):
        der = base64.b64decode(key["x5c"][0])
        assert key["kid"] == key["x5t"] == _b64url(hashlib.sha1(der).digest())
    assert keys_a[0]["kid"] != keys_b[0]["kid"]

    token = (await app_token(api, a))["Authorization"].split()[1]
    header = jws.extract_compact(token.encode()).protected
    assert header["kid"] == keys_a[0]["kid"]
    verified = jws.deserialize_compact(token, KeySet.import_key_set({"keys": keys_a}), algorithms=["RS256"])
    assert f'"tid":"{a["id"]}"'.encode() in verified.payload
    assert header["kid"] not in {k["kid"] for k in keys_b}  # b's JWKS does not vouch for a's token

    assert (await api.delete(f"/_mailgraph/tenants/{a['id']}", headers=admin(runtime))).status_code == 204
    gone = await api.get(f"/{a['id']}/discovery/v2.0/keys")
    assert gone.status_code == 400  # an unknown tenant, as Entra answers
    assert await _jwks(api, b["id"]) == keys_b  # the other tenant's key is untouched
