"""The token-forgery matrix (issue 17): every way an attacker could try to pass a token that is not ours.

`forgeries(good, key)` takes a valid access token and the tenant's real signing key and returns
named tokens that must all be refused: each changes one thing an attacker controls (RFC 8725 §2 and
§3 list the attacks: `alg: none`, algorithm substitution, keys carried in the header, and claims the
verifier must check). Re-signing with the real key is used only where the point is a claim the
verifier must refuse although the signature is good.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mailgraph.auth.keys import SigningKey


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A JWT's header and payload, unverified."""
    head, body, _ = token.split(".")
    return json.loads(unb64(head)), json.loads(unb64(body))


def _signing_input(header: dict[str, Any], payload: dict[str, Any]) -> bytes:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}".encode()


def rs256(header: dict[str, Any], payload: dict[str, Any], private: rsa.RSAPrivateKey) -> str:
    data = _signing_input(header, payload)
    return f"{data.decode()}.{b64(private.sign(data, padding.PKCS1v15(), hashes.SHA256()))}"


def hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    data = _signing_input(header, payload)
    return f"{data.decode()}.{b64(hmac.new(secret, data, hashlib.sha256).digest())}"


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{_signing_input(header, payload).decode()}."


def _public_jwk(private: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = private.public_key().public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "n": b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64(numbers.e.to_bytes(3, "big")),
    }


FOREIGN = rsa.generate_private_key(public_exponent=65537, key_size=2048)
"""The attacker's own key pair."""


def forgeries(good: str, key: SigningKey, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Named tokens derived from `good` (a valid access token signed by `key`) that must be refused.

    `extra`: more named tokens of the caller (refresh and id tokens, another tenant's …).
    """
    header, claims = parts(good)
    now = int(time.time())
    ours = key.private_key
    public_pem = ours.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_der = ours.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    foreign_jwk = _public_jwk(FOREIGN, key.kid)
    out: dict[str, str] = {}
    # 1. No signature at all (RFC 8725 §2.1), in every spelling libraries have accepted.
    for alg in ("none", "None", "NONE", "nOnE"):
        out[f"alg {alg}"] = unsigned(header | {"alg": alg}, claims)
    out["alg none, our signature kept"] = unsigned(header | {"alg": "none"}, claims) + good.rsplit(".", 1)[1]
    out["alg RS256, signature stripped"] = good.rsplit(".", 1)[0] + "."
    out["no alg"] = rs256({k: v for k, v in header.items() if k != "alg"}, claims, ours)
    # 2. Algorithm substitution: HMAC keyed with our public key (RFC 8725 §2.1, §3.1).
    out["HS256 keyed with the public key (PEM)"] = hs256(header | {"alg": "HS256"}, claims, public_pem)
    out["HS256 keyed with the public key (DER)"] = hs256(header | {"alg": "HS256"}, claims, public_der)
    out["HS256 keyed with the kid"] = hs256(header | {"alg": "HS256"}, claims, key.kid.encode())
    out["HS512 keyed with the public key"] = hs256(header | {"alg": "HS512"}, claims, public_pem)
    out["RS512 by our key"] = rs256(header | {"alg": "RS512"}, claims, ours)  # signature is RS256 bytes
    out["PS256 header, RS256 signature"] = rs256(header | {"alg": "PS256"}, claims, ours)
    # 3. A foreign key, named as ours or carried in the header (RFC 7515 §4.1.2-4.1.5).
    out["foreign key, our kid"] = rs256(header, claims, FOREIGN)
    out["foreign key, unknown kid"] = rs256(header | {"kid": "attacker", "x5t": "attacker"}, claims, FOREIGN)
    out["foreign key, no kid"] = rs256({"alg": "RS256", "typ": "JWT"}, claims, FOREIGN)
    out["jku to the attacker's JWKS"] = rs256(
        header | {"jku": "http://127.0.0.1:9/keys", "kid": "attacker"}, claims, FOREIGN
    )
    out["jku, our kid"] = rs256(header | {"jku": "http://127.0.0.1:9/keys"}, claims, FOREIGN)
    out["x5u to the attacker's certificate"] = rs256(
        header | {"x5u": "http://127.0.0.1:9/cert.pem"}, claims, FOREIGN
    )
    out["embedded jwk"] = rs256(header | {"jwk": foreign_jwk}, claims, FOREIGN)
    out["embedded jwk, no kid"] = rs256(
        {"alg": "RS256", "typ": "JWT", "jwk": foreign_jwk | {"kid": "x"}}, claims, FOREIGN
    )
    out["kid path traversal"] = rs256(header | {"kid": "../../../../dev/null"}, claims, FOREIGN)
    out["crit header"] = rs256(header | {"crit": ["exp"]}, claims, FOREIGN)
    # 4. The validity window (RFC 7519 §4.1.4-4.1.5), re-signed with our key.
    out["expired"] = rs256(header, claims | {"exp": now - 3600, "nbf": now - 7200, "iat": now - 7200}, ours)
    out["nbf in the future"] = rs256(header, claims | {"nbf": now + 3600, "exp": now + 7200}, ours)
    out["no exp"] = rs256(header, {k: v for k, v in claims.items() if k != "exp"}, ours)
    out["no nbf"] = rs256(header, {k: v for k, v in claims.items() if k != "nbf"}, ours)
    # 5. Claims the verifier must check (spec §4.2), re-signed with our key.
    out["wrong aud"] = rs256(header, claims | {"aud": "https://management.azure.com"}, ours)
    out["aud of another app"] = rs256(header, claims | {"aud": "api://attacker"}, ours)
    out["no aud"] = rs256(header, {k: v for k, v in claims.items() if k != "aud"}, ours)
    out["wrong iss"] = rs256(header, claims | {"iss": "https://sts.windows.net/attacker/"}, ours)
    out["v2 iss"] = rs256(
        header, claims | {"iss": f"https://login.microsoftonline.com/{claims['tid']}/v2.0"}, ours
    )
    out["other tid"] = rs256(header, claims | {"tid": "99999999-0000-0000-0000-000000000000"}, ours)
    out["other tid and iss"] = rs256(
        header,
        claims | {"tid": "99999999-0000-0000-0000-000000000000", "iss": "https://sts.windows.net/99999999-0000-0000-0000-000000000000/"},
        ours,
    )  # fmt: skip
    out["ver 2.0"] = rs256(header, claims | {"ver": "2.0"}, ours)
    out["ver refresh"] = rs256(header, claims | {"ver": "refresh"}, ours)
    out["no ver"] = rs256(header, {k: v for k, v in claims.items() if k != "ver"}, ours)
    # 6. Tampered claims, our signature kept (the signature covers them).
    head, body, sig = good.split(".")
    grown = claims | {"roles": ["Mail.ReadWrite", "Mail.Send"], "scp": "Mail.ReadWrite Mail.Send"}
    out["tampered permissions"] = f"{head}.{b64(json.dumps(grown).encode())}.{sig}"
    out["tampered user"] = (
        f"{head}.{b64(json.dumps(claims | {'upn': 'bob@fabrikam.test', 'oid': 'x'}).encode())}.{sig}"
    )
    out["tampered exp"] = f"{head}.{b64(json.dumps(claims | {'exp': now + 10**8}).encode())}.{sig}"
    out["tampered header kid"] = f"{b64(json.dumps(header | {'kid': 'x'}).encode())}.{body}.{sig}"
    out["signature of another token"] = f"{head}.{body}.{b64(unb64(sig)[::-1])}"
    # 7. Claims of the wrong type (issue 17 defect 2; all types: tests/identity/test_claim_types.py).
    out["aud as a list"] = rs256(header, claims | {"aud": [claims.get("aud")]}, ours)
    out["aud as an object"] = rs256(header, claims | {"aud": {"v": claims.get("aud")}}, ours)
    out["exp as a string"] = rs256(header, claims | {"exp": str(now + 3600)}, ours)
    out["tid as a number"] = rs256(header, claims | {"tid": 5}, ours)
    out["roles as a string"] = rs256(header, claims | {"roles": "Mail.Read", "idtyp": "app"}, ours)
    out["scp as a list"] = rs256(header, claims | {"scp": ["SMTP.Send"], "idtyp": "user"}, ours)
    out["idtyp as a list"] = rs256(header, claims | {"idtyp": ["app"]}, ours)
    out["payload not an object"] = rs256(header, ["not", "an", "object"], ours)  # type: ignore[arg-type]
    # 8. Not a JWS at all.
    out["empty"] = ""
    out["garbage"] = "not-a-token"
    out["two segments"] = ".".join(good.split(".")[:2])
    out["four segments"] = good + ".AAAA"
    out["JWE-shaped"] = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d"
    out["header not JSON"] = f"{b64(b'{not json')}.{body}.{sig}"
    out.update(extra or {})
    return out
