"""Issue 17, defect 2: a claim of an unexpected JSON type is a 401 InvalidAuthenticationToken, never a 500.

The forged tokens are signed with the server's real key (own tokens) or the external issuer's key
(external IdP mode), so the only thing wrong with each is the type of one claim.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from joserfc import jws

from mailgraph.auth.keys import SigningKey
from mailgraph.wiring import Runtime
from tests.conftest import TokenFor
from tests.identity.test_external_idp import _token as external_token
from tests.identity.test_external_idp import client as client
from tests.identity.test_external_idp import jwks_url as jwks_url
from tests.identity.test_external_idp import runtime_idp as runtime_idp

ROUTE = "/v1.0/users/alice@fabrikam.test/messages"
# Values of every JSON type but a string, and strings where lists or numbers are expected.
ODD_VALUES: list[object] = [None, True, 0, 1.5, [], ["x", ["nested"]], {}, {"a": "b"}]


def _payload(headers: dict[str, str]) -> dict[str, object]:
    part = headers["Authorization"].split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def _sign_ours(key: SigningKey, claims: dict[str, object]) -> dict[str, str]:
    header = {"typ": "JWT", "alg": "RS256", "x5t": key.x5t, "kid": key.kid}
    token = jws.serialize_compact(header, json.dumps(claims).encode(), key.jwk, algorithms=["RS256"])
    return {"Authorization": f"Bearer {token}"}


def _wrong_types(name: str) -> list[object]:
    """The odd values that are really of the wrong type for `name` (a number is a fine `exp`)."""
    if name in ("exp", "nbf", "iat"):
        return [v for v in ODD_VALUES if v is True or not isinstance(v, int | float)]
    if name == "roles":
        return [v for v in ODD_VALUES if v != []]
    return ODD_VALUES


def _own_cases(token_for: TokenFor) -> list[tuple[str, dict[str, object]]]:
    app = _payload(token_for(app=["Mail.Read"]))
    user = _payload(token_for("alice", "Mail.Read"))
    cases: list[tuple[str, dict[str, object]]] = []
    for base, kind in ((app, "app"), (user, "user")):
        names = ["aud", "iss", "tid", "oid", "appid", "ver", "idtyp", "exp", "nbf", "iat", "upn"]
        names.append("roles" if kind == "app" else "scp")
        for name in names:
            for value in _wrong_types(name):
                cases.append((f"{kind}:{name}={value!r}", base | {name: value}))
            if name in ("exp", "nbf", "iat", "roles"):
                cases.append((f"{kind}:{name}=str", base | {name: str(base[name])}))
        # An array audience holding a Graph audience: still not the single string Entra issues.
        cases.append((f"{kind}:aud=[graph]", base | {"aud": [base["aud"]]}))
    return cases


async def test_own_tokens_with_odd_claim_types(
    api: httpx.AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    ring = runtime.app.services.tokens.keyring.current(runtime.tenant.id)  # the tenant's signing key
    # The controls: the untouched claims, re-signed the same way, are accepted.
    for headers in (token_for(app=["Mail.Read"]), token_for("alice", "Mail.Read")):
        ok = await api.get(ROUTE, headers=_sign_ours(ring, _payload(headers)))
        assert ok.status_code == 200, ok.text
    cases = _own_cases(token_for)
    assert len(cases) > 150
    for label, claims in cases:
        r = await api.get(ROUTE, headers=_sign_ours(ring, claims))
        assert r.status_code == 401, (label, r.status_code, r.text)
        assert r.json()["error"]["code"] == "InvalidAuthenticationToken", label


EXTERNAL_USER = {"preferred_username": "alice@fabrikam.test", "scp": "Mail.Read"}
EXTERNAL_CASES: list[tuple[str, dict[str, object]]] = [
    ("aud object", {"aud": {"mailgraph": True}}),
    ("aud nested list", {"aud": [["mailgraph"], "account"]}),
    ("aud list with object", {"aud": [{"a": 1}, "mailgraph"]}),
    ("aud number", {"aud": 7}),
    ("aud null", {"aud": None}),
    ("iss list", {"iss": ["https://keycloak.example.test/realms/mail"]}),
    ("exp string", {"exp": "9999999999"}),
    ("exp bool", {"exp": True}),
    ("nbf object", {"nbf": {}}),
    ("iat list", {"iat": [1]}),
    ("scp list", {"scp": ["Mail.Read"]}),
    ("scope object", {"scp": None, "scope": {"Mail.Read": 1}}),
    ("roles string", {"roles": "Mail.Read", "idtyp": "app"}),
    ("roles nested", {"roles": [["Mail.Read"]], "idtyp": "app"}),
    ("idtyp list", {"idtyp": ["app"]}),
    ("azp object", {"azp": {"id": "x"}}),
    ("preferred_username list", {"preferred_username": ["alice@fabrikam.test"]}),
    ("email number", {"preferred_username": None, "email": 5}),
]


@pytest.mark.parametrize(("label", "change"), EXTERNAL_CASES, ids=[c[0] for c in EXTERNAL_CASES])
async def test_external_tokens_with_odd_claim_types(
    client: httpx.AsyncClient,
    label: str,
    change: dict[str, object],
) -> None:
    ok = await client.get("/v1.0/me/messages", headers=external_token(**EXTERNAL_USER))
    assert ok.status_code == 200, ok.text
    r = await client.get("/v1.0/me/messages", headers=external_token(**(EXTERNAL_USER | change)))
    assert r.status_code == 401, (label, r.status_code, r.text)
    assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
