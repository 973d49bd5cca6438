"""Signing keys (JWKS, persistence, rotation) and access/id tokens (claims, verification, cache)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws

from mailgraph.auth.keyring import KeyRing
from mailgraph.auth.keys import KeyRingError, read_key_directory
from mailgraph.auth.tokens import EMPTY, EXPIRED, INVALID, MALFORMED, TokenError, TokenService
from mailgraph.domain.model import App, Tenant, User

TENANT = Tenant("11111111-1111-1111-1111-111111111111", "Contoso", ("contoso.com",))
APP = App(
    client_id="22222222-2222-2222-2222-222222222222",
    tenant_id=TENANT.id,
    object_id="33333333-3333-3333-3333-333333333333",
    display_name="Mailer",
    secret_hash=None,
    allow_public_client=False,
    application_permissions=("Mail.Read", "Mail.Send"),
    delegated_permissions=("Mail.Read", "Mail.Send"),
)
USER = User(
    id="44444444-4444-4444-4444-444444444444",
    tenant_id=TENANT.id,
    user_principal_name="alice@contoso.com",
    mail="alice@contoso.com",
    display_name="Alice Example",
    password_hash=None,
)
T0 = 1_700_000_000.0


class Clock:
    """A settable clock."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_json(obj: object) -> str:
    return b64url(json.dumps(obj).encode())


def decode_part(part: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def forge(header: Mapping[str, object], claims: Mapping[str, object], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


def memory_ring(clock: Callable[[], float] | None = None) -> KeyRing:
    """An in-memory key ring (no store) with a key for TENANT."""
    ring = KeyRing(None, clock=clock) if clock is not None else KeyRing(None)
    asyncio.run(ring.ensure(TENANT.id))
    return ring


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ring(clock: Clock) -> KeyRing:
    return memory_ring(clock)


@pytest.fixture
def svc(ring: KeyRing, clock: Clock) -> TokenService:
    return TokenService(ring, clock=clock)


# --- keys -------------------------------------------------------------------------------------------


def test_jwks_shape_and_thumbprint(ring: KeyRing) -> None:
    (jwk,) = ring.jwks(TENANT.id)["keys"]
    assert isinstance(jwk["x5c"], list) and isinstance(jwk["n"], str)
    assert set(jwk) == {"kty", "use", "kid", "x5t", "n", "e", "x5c"}
    assert (jwk["kty"], jwk["use"], jwk["e"]) == ("RSA", "sig", "AQAB")
    der = base64.b64decode(jwk["x5c"][0])
    assert jwk["x5t"] == jwk["kid"] == b64url(hashlib.sha1(der).digest())
    cert = x509.load_der_x509_certificate(der)
    pub = cert.public_key()
    assert isinstance(pub, rsa.RSAPublicKey)
    assert pub.key_size == 2048
    n = int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4)), "big")
    assert n == pub.public_numbers().n


def test_corrupt_legacy_directory_raises(tmp_path: Path) -> None:
    assert read_key_directory(tmp_path) is None
    (tmp_path / "keyring.json").write_text("{not json")
    with pytest.raises(KeyRingError):
        read_key_directory(tmp_path)
    (tmp_path / "keyring.json").write_text('{"current": "nope", "keys": {"nope": {"retire_at": null}}}')
    with pytest.raises(KeyRingError):
        read_key_directory(tmp_path)


def test_rotation_keeps_old_tokens_valid_until_retire() -> None:
    clock = Clock()
    ring = memory_ring(clock)
    svc = TokenService(ring, clock=clock)
    old_kid = ring.current(TENANT.id).kid
    old_token = svc.issue_app_token(TENANT, APP)

    new = asyncio.run(ring.rotate(TENANT.id, retire_after_s=7200))
    assert new.kid != old_kid and ring.current(TENANT.id).kid == new.kid
    assert [k["kid"] for k in ring.jwks(TENANT.id)["keys"]] == [new.kid, old_kid]
    new_token = svc.issue_app_token(TENANT, APP)
    assert decode_part(new_token.split(".")[0])["kid"] == new.kid

    fresh = TokenService(ring, clock=clock)  # no cache: really verifies with the old public key
    assert fresh.verify(old_token).app_id == APP.client_id
    assert fresh.verify(new_token).app_id == APP.client_id
    clock.now += 7201
    assert ring.verifier(old_kid) is None
    assert [k["kid"] for k in ring.jwks(TENANT.id)["keys"]] == [new.kid]


# --- issuing ----------------------------------------------------------------------------------------


def test_app_token_claims(svc: TokenService, ring: KeyRing) -> None:
    token = svc.issue_app_token(TENANT, APP)
    header, claims = decode_part(token.split(".")[0]), decode_part(token.split(".")[1])
    assert header == {
        "typ": "JWT",
        "alg": "RS256",
        "x5t": ring.current(TENANT.id).kid,
        "kid": ring.current(TENANT.id).kid,
    }
    iss = f"https://sts.windows.net/{TENANT.id}/"
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["iss"] == claims["idp"] == iss
    assert claims["iat"] == claims["nbf"] == int(T0) and claims["exp"] == int(T0) + 3600
    assert claims["appid"] == APP.client_id and claims["appidacr"] == "1"
    assert claims["oid"] == claims["sub"] == APP.object_id
    assert claims["tid"] == TENANT.id
    assert claims["roles"] == ["Mail.Read", "Mail.Send"]
    assert (claims["idtyp"], claims["ver"]) == ("app", "1.0")
    assert "scp" not in claims and isinstance(claims["uti"], str)

    verified = svc.verify(token)
    assert (verified.kind, verified.object_id, verified.tenant_id) == ("app", APP.object_id, TENANT.id)
    assert verified.permissions == frozenset({"Mail.Read", "Mail.Send"})
    assert verified.upn is None and verified.expires_at == int(T0) + 3600
    actor = verified.actor()
    assert actor.is_app and actor.user_id is None and actor.app_id == APP.client_id


def test_user_token_claims(svc: TokenService) -> None:
    token = svc.issue_user_token(TENANT, APP, USER, ["Mail.Read", "Mail.Send"], client_authenticated=False)
    claims = decode_part(token.split(".")[1])
    assert claims["scp"] == "Mail.Read Mail.Send"
    assert claims["oid"] == USER.id and claims["upn"] == claims["unique_name"] == USER.user_principal_name
    assert claims["name"] == USER.display_name and claims["amr"] == ["pwd"]
    assert (claims["idtyp"], claims["appidacr"], claims["ver"]) == ("user", "0", "1.0")
    assert "roles" not in claims
    assert isinstance(claims["sub"], str) and len(claims["sub"]) == 43 and claims["sub"] != USER.id

    verified = svc.verify(token)
    assert (verified.kind, verified.object_id, verified.upn) == ("user", USER.id, USER.user_principal_name)
    assert verified.permissions == frozenset({"Mail.Read", "Mail.Send"})
    actor = verified.actor()
    assert not actor.is_app and actor.user_id == USER.id


def test_id_token_and_client_info(svc: TokenService) -> None:
    token = svc.id_token(TENANT, APP, USER, nonce="n-1", issuer_base="https://mail.example:8443/")
    claims = decode_part(token.split(".")[1])
    assert claims["aud"] == APP.client_id
    assert claims["iss"] == f"https://mail.example:8443/{TENANT.id}/v2.0"
    assert claims["preferred_username"] == USER.user_principal_name
    assert (claims["oid"], claims["tid"], claims["ver"], claims["nonce"]) == (
        USER.id,
        TENANT.id,
        "2.0",
        "n-1",
    )
    assert claims["exp"] == int(T0) + 3600 and claims["name"] == USER.display_name
    # The same pairwise subject as the access token for the same user and app.
    access = decode_part(svc.issue_user_token(TENANT, APP, USER, []).split(".")[1])
    assert claims["sub"] == access["sub"]
    # An id token is not a Graph access token.
    with pytest.raises(TokenError, match=INVALID):
        svc.verify(token)

    info = svc.client_info(USER, TENANT)
    assert "=" not in info
    assert decode_part(info) == {"uid": USER.id, "utid": TENANT.id}


def test_verify_accepts_every_graph_audience(svc: TokenService, ring: KeyRing) -> None:
    for aud in (
        "https://graph.microsoft.com",
        "https://graph.microsoft.com/",
        "00000003-0000-0000-c000-000000000000",
    ):
        claims = decode_part(svc.issue_app_token(TENANT, APP).split(".")[1]) | {"aud": aud}
        assert svc.verify(sign_ours(ring, claims)).app_id == APP.client_id


def test_idtyp_is_optional(svc: TokenService, ring: KeyRing) -> None:
    app_claims = decode_part(svc.issue_app_token(TENANT, APP).split(".")[1])
    del app_claims["idtyp"]
    assert svc.verify(sign_ours(ring, app_claims)).kind == "app"
    user_claims = decode_part(svc.issue_user_token(TENANT, APP, USER, ["Mail.Read"]).split(".")[1])
    del user_claims["idtyp"]
    assert svc.verify(sign_ours(ring, user_claims)).kind == "user"


# --- the negative matrix ----------------------------------------------------------------------------


def sign_ours(ring: KeyRing, claims: dict[str, object], header: dict[str, object] | None = None) -> str:
    key = ring.current(TENANT.id)
    hdr = header or {"typ": "JWT", "alg": "RS256", "x5t": key.kid, "kid": key.kid}
    return jws.serialize_compact(hdr, json.dumps(claims).encode(), key.jwk, algorithms=["RS256"])


def _claims(svc: TokenService) -> dict[str, object]:
    return decode_part(svc.issue_app_token(TENANT, APP).split(".")[1])


def _other_rsa(kid: str, alg: str = "RS256") -> Callable[[dict[str, object]], str]:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header = {"typ": "JWT", "alg": alg, "kid": kid, "x5t": kid}
    return lambda c: forge(header, c, lambda m: other.sign(m, padding.PKCS1v15(), hashes.SHA256()))


def _hs256_with_public_key(ring: KeyRing) -> Callable[[dict[str, object]], str]:
    pem = (
        ring.current(TENANT.id)
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"typ": "JWT", "alg": "HS256", "kid": ring.current(TENANT.id).kid}
    return lambda c: forge(header, c, lambda m: hmac.new(pem, m, hashlib.sha256).digest())


def _tampered(svc: TokenService) -> str:
    head, _, sig = svc.issue_app_token(TENANT, APP).split(".")
    claims = _claims(svc) | {"roles": ["Mail.ReadWrite", "Mail.Send"]}
    return f"{head}.{b64url_json(claims)}.{sig}"


CASES: list[tuple[str, Callable[[TokenService, KeyRing], str], str]] = [
    ("empty", lambda s, r: "", EMPTY),
    ("garbage", lambda s, r: "not a token at all", MALFORMED),
    ("garbage with dots", lambda s, r: "a.b.c", MALFORMED),
    ("two parts", lambda s, r: ".".join(s.issue_app_token(TENANT, APP).split(".")[:2]), MALFORMED),
    ("four parts", lambda s, r: s.issue_app_token(TENANT, APP) + ".x", MALFORMED),
    ("non-ascii", lambda s, r: "é.é.é", MALFORMED),
    ("payload not json", lambda s, r: f"{b64url_json({'alg': 'RS256'})}.{b64url(b'x')}.AAAA", MALFORMED),
    ("alg none", lambda s, r: forge({"typ": "JWT", "alg": "none"}, _claims(s), lambda m: b""), INVALID),
    (
        "alg none, our kid",
        lambda s, r: forge({"alg": "none", "kid": r.current(TENANT.id).kid}, _claims(s), lambda m: b""),
        INVALID,
    ),
    ("alg RS512", lambda s, r: _other_rsa(r.current(TENANT.id).kid, "RS512")(_claims(s)), INVALID),
    ("HS256 with public key", lambda s, r: _hs256_with_public_key(r)(_claims(s)), INVALID),
    ("other RSA key, our kid", lambda s, r: _other_rsa(r.current(TENANT.id).kid)(_claims(s)), INVALID),
    ("other RSA key, unknown kid", lambda s, r: _other_rsa("unknown")(_claims(s)), INVALID),
    ("no kid", lambda s, r: sign_ours(r, _claims(s), {"typ": "JWT", "alg": "RS256"}), INVALID),
    ("tampered payload", lambda s, r: _tampered(s), INVALID),
    ("expired", lambda s, r: sign_ours(r, _claims(s) | {"exp": T0 - 301, "nbf": T0 - 4000}), EXPIRED),
    ("not yet valid", lambda s, r: sign_ours(r, _claims(s) | {"nbf": T0 + 301, "exp": T0 + 4000}), EXPIRED),
    ("wrong aud", lambda s, r: sign_ours(r, _claims(s) | {"aud": "api://other"}), INVALID),
    ("wrong iss", lambda s, r: sign_ours(r, _claims(s) | {"iss": "https://sts.windows.net/other/"}), INVALID),
    (
        "v2 iss",
        lambda s, r: sign_ours(
            r, _claims(s) | {"iss": f"https://login.microsoftonline.com/{TENANT.id}/v2.0"}
        ),
        INVALID,
    ),
    ("tid not iss", lambda s, r: sign_ours(r, _claims(s) | {"tid": "other"}), INVALID),
    ("no exp", lambda s, r: sign_ours(r, {k: v for k, v in _claims(s).items() if k != "exp"}), INVALID),
    ("string exp", lambda s, r: sign_ours(r, _claims(s) | {"exp": str(T0 + 100)}), INVALID),
    ("no oid", lambda s, r: sign_ours(r, {k: v for k, v in _claims(s).items() if k != "oid"}), INVALID),
    ("no appid", lambda s, r: sign_ours(r, {k: v for k, v in _claims(s).items() if k != "appid"}), INVALID),
    ("roles not a list", lambda s, r: sign_ours(r, _claims(s) | {"roles": "Mail.Send"}), INVALID),
    ("user without scp", lambda s, r: sign_ours(r, _claims(s) | {"idtyp": "user"}), INVALID),
    ("unknown idtyp", lambda s, r: sign_ours(r, _claims(s) | {"idtyp": "device"}), INVALID),
    ("wrong ver", lambda s, r: sign_ours(r, _claims(s) | {"ver": "2.0"}), INVALID),
]


@pytest.mark.parametrize(("make", "message"), [(m, msg) for _, m, msg in CASES], ids=[c[0] for c in CASES])
def test_negative_matrix(
    svc: TokenService, ring: KeyRing, make: Callable[[TokenService, KeyRing], str], message: str
) -> None:
    token = make(svc, ring)
    with pytest.raises(TokenError) as info:
        svc.verify(token)
    assert info.value.message == message == str(info.value)


def test_skew_boundaries(svc: TokenService, ring: KeyRing, clock: Clock) -> None:
    token = svc.issue_app_token(TENANT, APP)
    clock.now = T0 + 3600 + 300  # exp + 5 min skew: still accepted
    assert TokenService(ring, clock=clock).verify(token)
    clock.now = T0 - 300  # nbf - 5 min skew
    assert TokenService(ring, clock=clock).verify(token)


def test_expected_tenant(ring: KeyRing, clock: Clock) -> None:
    token = TokenService(ring, clock=clock).issue_app_token(TENANT, APP)
    assert TokenService(ring, clock=clock, tenant_id=TENANT.id).verify(token)
    with pytest.raises(TokenError, match=INVALID):
        TokenService(ring, clock=clock, tenant_id="99999999-9999-9999-9999-999999999999").verify(token)


# --- the cache --------------------------------------------------------------------------------------


def test_cache_skips_rsa_and_honours_expiry(
    svc: TokenService, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = jws.validate_compact

    def counting(*args: Any, **kwargs: Any) -> bool:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(jws, "validate_compact", counting)
    token = svc.issue_app_token(TENANT, APP)
    first = svc.verify(token)
    assert svc.verify(token) is first
    assert len(calls) == 1
    clock.now = T0 + 3600 + 301
    with pytest.raises(TokenError, match=EXPIRED):
        svc.verify(token)
    with pytest.raises(TokenError, match=EXPIRED):
        svc.verify(token)  # evicted on expiry, then refused by the full check


def test_cache_is_bounded(ring: KeyRing, clock: Clock) -> None:
    svc = TokenService(ring, clock=clock, cache_size=3)
    tokens = [svc.issue_app_token(TENANT, APP) for _ in range(5)]
    for t in tokens:
        svc.verify(t)
    assert len(svc._cache) == 3
    assert list(svc._cache) == tokens[2:]


def test_failures_are_not_cached(svc: TokenService) -> None:
    bad = _tampered(svc)
    for _ in range(2):
        with pytest.raises(TokenError):
            svc.verify(bad)
    assert bad not in svc._cache


@pytest.fixture(scope="module")
def static_ring() -> KeyRing:
    return memory_ring()


_JSON_VALUES = st.one_of(
    st.text(max_size=20), st.integers(), st.booleans(), st.none(), st.lists(st.text(max_size=5))
)


@settings(max_examples=300, deadline=None)
@given(
    token=st.one_of(
        st.text(),
        st.lists(st.text(alphabet='AZaz09-_=+/.{}"', max_size=60), min_size=1, max_size=5).map(".".join),
        st.lists(st.binary(max_size=80).map(b64url), min_size=3, max_size=3).map(".".join),
        st.dictionaries(
            st.sampled_from(["alg", "kid", "typ", "crit", "b64", "x5t"]), _JSON_VALUES, max_size=4
        ).map(lambda h: f"{b64url_json(h)}.{b64url_json({})}.AAAA"),
    )
)
def test_fuzz_raises_only_token_errors(static_ring: KeyRing, token: str) -> None:
    with pytest.raises(TokenError):
        TokenService(static_ring).verify(token)
