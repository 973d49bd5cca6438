"""client_credentials with a certificate assertion (RFC 7523, private_key_jwt), and the tenant file's
identity sections (certificates, access policies, mailbox permissions)."""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from httpx import AsyncClient
from joserfc import jws
from joserfc.jwk import OctKey, RSAKey

from mailgraph.config import TenantFileError, parse_tenant
from mailgraph.config.identity import certificate
from mailgraph.wiring import Runtime
from tests.certificates import self_signed

TOKEN = "/fabrikam.test/oauth2/v2.0/token"
AUD = "https://graph.test/fabrikam.test/oauth2/v2.0/token"
TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


KEY, CERT = self_signed("daemon")
OTHER_KEY, OTHER_CERT = self_signed("daemon")
PEM = CERT.public_bytes(serialization.Encoding.PEM).decode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _assertion(
    key: rsa.RSAPrivateKey = KEY, cert: x509.Certificate = CERT, alg: str = "RS256", **claims: Any
) -> str:
    now = int(time.time())
    body = {
        "aud": AUD,
        "iss": "full-app",
        "sub": "full-app",
        "jti": str(uuid.uuid4()),
        "nbf": now,
        "exp": now + 600,
    }
    body.update(claims)
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if alg == "PS256":
        header["x5t#S256"] = _b64(cert.fingerprint(hashes.SHA256()))
    else:
        header["x5t"] = _b64(cert.fingerprint(hashes.SHA1()))  # what MSAL Python sends
    registry = jws.JWSRegistry(algorithms=[alg])
    return jws.serialize_compact(header, orjson.dumps(body), RSAKey.import_key(key), registry=registry)


def _form(assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": "full-app",
        "client_assertion_type": TYPE,
        "client_assertion": assertion,
        "scope": "https://graph.microsoft.com/.default",
    }


@pytest.fixture
async def registered(runtime: Runtime) -> None:
    await runtime.engine.write(lambda tx: tx.delegation.replace_certificates("full-app", [certificate(PEM)]))


async def test_certificate_assertion(api: AsyncClient, registered: None) -> None:
    assertion = _assertion()
    r = await api.post(TOKEN, data=_form(assertion))
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await api.get("/v1.0/users/alice@fabrikam.test/messages", headers=headers)).status_code == 200
    replay = await api.post(TOKEN, data=_form(assertion))
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
    ps = await api.post(TOKEN, data=_form(_assertion(alg="PS256")))
    assert ps.status_code == 200, ps.text


async def test_assertion_refusals(api: AsyncClient, registered: None) -> None:
    now = int(time.time())
    cases = [
        (_assertion(key=OTHER_KEY), 700026),  # names our certificate, signed by another key
        (_assertion(key=OTHER_KEY, cert=OTHER_CERT), 700027),  # a certificate not registered
        (_assertion(aud="https://elsewhere.example/t/oauth2/v2.0/token"), 700023),
        (_assertion(exp=now - 3600, nbf=now - 4000), 700024),
        (_assertion(exp=now + 86400), 700024),  # too long-lived
        (_assertion(iss="other-app"), 700021),
        ("not-a-jwt", 50027),
    ]
    for assertion, code in cases:
        r = await api.post(TOKEN, data=_form(assertion))
        assert (r.status_code, r.json()["error_codes"]) == (401, [code]), (code, r.text)
    hs = jws.serialize_compact(
        {"alg": "HS256"},
        b'{"iss":"full-app"}',
        OctKey.import_key(b"k" * 32),
        registry=jws.JWSRegistry(algorithms=["HS256"]),
    )
    assert (await api.post(TOKEN, data=_form(hs))).json()["error_codes"] == [50027]
    none = _b64(b'{"alg":"none"}') + "." + _b64(b'{"iss":"full-app","sub":"full-app"}') + "."
    assert (await api.post(TOKEN, data=_form(none))).json()["error_codes"] == [50027]
    wrong_type = _form(_assertion()) | {"client_assertion_type": "urn:other"}
    assert (await api.post(TOKEN, data=wrong_type)).json()["error_codes"] == [900144]


async def test_no_certificate_registered(api: AsyncClient) -> None:
    r = await api.post(TOKEN, data=_form(_assertion()))
    assert r.status_code == 401 and r.json()["error_codes"] == [700027]


def test_tenant_file_identity_sections(tmp_path: Path) -> None:
    (tmp_path / "app.pem").write_text(PEM)
    data = {
        "tenant": {"domains": ["contoso.test"]},
        "apps": [
            {
                "clientId": "daemon",
                "certificates": ["app.pem", PEM],
                "accessPolicy": {"accessRight": "RestrictAccess", "mailboxes": ["a@contoso.test"]},
            }
        ],
        "mailboxPermissions": [
            {"mailbox": "b@contoso.test", "delegate": "a@contoso.test", "rights": ["SendAs"]}
        ],
    }
    spec = parse_tenant(data, str(tmp_path / "tenant.toml"))
    assert len(spec.apps[0].certificates) == 2 and spec.apps[0].certificates[0] == certificate(PEM)
    assert spec.policies[0].access_right == "RestrictAccess"
    assert spec.permissions[0].rights == ("SendAs",)
    bad = {
        "tenant": {"domains": ["contoso.test"]},
        "apps": [
            {"clientId": "x", "certificates": ["missing.pem"], "accessPolicy": {"accessRight": "Allow"}}
        ],
        "mailboxPermissions": [{"mailbox": "b@contoso.test", "rights": []}],
    }
    with pytest.raises(TenantFileError) as caught:
        parse_tenant(bad, str(tmp_path / "tenant.toml"))
    assert len(caught.value.problems) == 3  # every problem at once
