"""Client authentication with a certificate: `client_assertion` (RFC 7523 §2.2, private_key_jwt).

The client signs a short JWT with the private key of a certificate registered on its app; the header
names the certificate by `x5t` (base64url SHA-1 thumbprint, what MSAL Python sends) or `x5t#S256`
(SHA-256, MSAL with `thumbprint_sha256`), the claims say who (`iss` = `sub` = client id), for whom
(`aud` = this tenant's token endpoint) and when (`exp`, `nbf`). Each `jti` is accepted once while the
assertion is valid, so a captured assertion cannot be replayed; the used `jti`s are recorded through
`remember` (the store, `PendingFlows.use_jti`), so a replay is refused at every server process.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Final

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from mailgraph.auth.oauth_errors import oauth_error

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ALGS: Final = ["RS256", "PS256"]
_REGISTRY: Final = jws.JWSRegistry(algorithms=_ALGS)
_SKEW_S: Final = 300
_MAX_LIFETIME_S: Final = 3600  # assertions are meant to be short-lived; refuse ones valid for longer


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def thumbprints(cert: x509.Certificate) -> set[str]:
    """The names a client may use for `cert`: base64url SHA-1 and SHA-256, and hex SHA-1 (as `kid`)."""
    sha1 = cert.fingerprint(hashes.SHA1())  # noqa: S303 - a certificate name (x5t), not a security check
    return {_b64url(sha1), _b64url(cert.fingerprint(hashes.SHA256())), sha1.hex().upper()}


class AssertionVerifier:
    """Checks client assertions; remembers used `jti`s until their assertions expire."""

    def __init__(
        self, remember: Callable[[str, str, float], Awaitable[bool]], clock: Callable[[], float] = time.time
    ) -> None:
        """`remember(client_id, jti, keep_until)` records a `jti`, False if it was recorded before."""
        self._remember = remember
        self._clock = clock

    async def verify(
        self, assertion: str, client_id: str, certificates: list[x509.Certificate], audiences: Collection[str]
    ) -> None:
        """Accept the assertion or raise OAuthError (401 invalid_client, Entra's AADSTS code).

        Args:
            assertion: The compact JWS from the `client_assertion` field.
            client_id: The `client_id` the request names.
            certificates: The certificates registered on that app.
            audiences: Token endpoint URLs the `aud` claim may name.
        """
        try:
            obj = jws.extract_compact(assertion.encode("ascii"), registry=_REGISTRY)
            header = obj.headers()
            claims = orjson.loads(obj.payload)
        except (JoseError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise oauth_error(50027) from exc
        if not isinstance(claims, dict) or header.get("alg") not in _ALGS:
            raise oauth_error(50027)
        # MSAL Python pads its base64url thumbprints with "="; RFC 7515 §2 says unpadded: accept both.
        names = {str(header.get(h) or "").rstrip("=") for h in ("x5t#S256", "x5t")}
        names = (names | {str(header.get("kid") or "").upper()}) - {""}
        cert = next((c for c in certificates if names & thumbprints(c)), None)
        if cert is None:
            raise oauth_error(700027, client_id=client_id)
        public_key = cert.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):  # RS256/PS256 need an RSA certificate
            raise oauth_error(700026)
        try:
            valid = jws.validate_compact(obj, RSAKey.import_key(public_key), registry=_REGISTRY)
        except (JoseError, ValueError, TypeError) as exc:
            raise oauth_error(700026) from exc
        if not valid:
            raise oauth_error(700026)
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise oauth_error(700021)
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a.rstrip("/") in audiences for a in auds):
            raise oauth_error(700023)
        jti, keep_until = self._check_time(claims)
        if jti is not None and not await self._remember(client_id, jti, keep_until):
            raise oauth_error(700024)  # replayed: Entra also answers with a time-range style refusal

    def _check_time(self, claims: dict[str, object]) -> tuple[str | None, float]:
        """Check exp/nbf/lifetime; returns the `jti` to record (if any) and until when: while the
        assertion could still pass this check (exp + skew)."""
        now = self._clock()
        exp, nbf, jti = claims.get("exp"), claims.get("nbf", claims.get("iat")), claims.get("jti")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise oauth_error(700024)
        start = nbf if isinstance(nbf, int | float) and not isinstance(nbf, bool) else now
        if now > exp + _SKEW_S or now < start - _SKEW_S or exp - start > _MAX_LIFETIME_S:
            raise oauth_error(700024)
        return (jti if isinstance(jti, str) else None), float(exp) + _SKEW_S
