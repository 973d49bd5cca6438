"""Access tokens and id tokens: issued in the shapes Entra issues them, verified on every Graph call.

Graph access tokens are v1.0-format JWTs (`iss` `https://sts.windows.net/{tid}/`, `ver` "1.0") even
from the v2 token endpoint (spec §4.2); id tokens are v2.0-format with `aud` = the client id. Both are
JWS compact serializations (RFC 7515 §7.1) signed RS256 by the current key of the token's tenant in
the `KeyRing`; a token verifies only when its `tid` is the tenant that owns the signing key.

`verify` accepts only our own tokens and maps every failure to one of Graph's 401 messages (spec §5).
Verified tokens are cached by their exact string, so a client reusing its token (all of them do, for
an hour) costs one dict lookup instead of an RSA verification per request.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import orjson
from joserfc import jws
from joserfc.errors import JoseError

from mailgraph.auth.claims import ACCESS_AUDIENCES, check_access_claims, is_time
from mailgraph.auth.claims import CLOCK_SKEW_S as CLOCK_SKEW_S
from mailgraph.auth.claims import EMPTY as EMPTY
from mailgraph.auth.claims import EXPIRED as EXPIRED
from mailgraph.auth.claims import GRAPH_APP_ID as GRAPH_APP_ID
from mailgraph.auth.claims import GRAPH_AUDIENCES as GRAPH_AUDIENCES
from mailgraph.auth.claims import GRAPH_RESOURCE as GRAPH_RESOURCE
from mailgraph.auth.claims import INVALID as INVALID
from mailgraph.auth.claims import MALFORMED as MALFORMED
from mailgraph.auth.claims import Claims as Claims
from mailgraph.auth.claims import TokenError as TokenError
from mailgraph.auth.claims import v1_issuer as v1_issuer
from mailgraph.auth.keyring import KeyRing
from mailgraph.auth.permissions import OUTLOOK_RESOURCE, for_resource
from mailgraph.domain.model import App, Tenant, User

if TYPE_CHECKING:
    from mailgraph.auth.external import ExternalIssuer

REFRESH_AUDIENCE: Final = "urn:mailgraph:token-endpoint"
REFRESH_LIFETIME_S: Final = 90 * 24 * 3600  # Entra's default refresh token lifetime (90 days)

_ALG: Final = "RS256"
# Only RS256: `alg` comes from the attacker, so `none` and HS256 (the "public key as HMAC secret"
# attack, RFC 8725 §2.1) must never reach a verifier.
_REGISTRY: Final = jws.JWSRegistry(algorithms=[_ALG])
_CACHE_SIZE: Final = 10_000


class _UnknownKeyError(TokenError):
    """The token's kid is none of ours (yet): refused, unless a reload of the keys finds it."""


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _pairwise_sub(tenant_id: str, app_id: str, object_id: str) -> str:
    # Entra's `sub` for users is pairwise: stable per (user, app), different across apps.
    return _b64url(hashlib.sha256(f"{tenant_id}|{app_id}|{object_id}".encode()).digest())


class TokenService:
    """Issues and verifies this server's tokens."""

    def __init__(
        self,
        keyring: KeyRing,
        *,
        lifetime_s: int = 3600,
        clock: Callable[[], float] = time.time,
        tenant_id: str | None = None,
        cache_size: int = _CACHE_SIZE,
    ) -> None:
        """Create the service.

        Args:
            keyring: Signs new tokens (current key) and verifies old ones (by `kid`).
            lifetime_s: Access and id token lifetime (Entra: 60-90 min, spec §4.2).
            clock: Seconds since the epoch.
            tenant_id: If set, only tokens of this tenant verify; otherwise `tid` must match `iss`.
            cache_size: Most verified tokens remembered; the oldest is dropped when full.
        """
        self._keyring = keyring
        self._lifetime = lifetime_s
        self._clock = clock
        self._tenant_id = tenant_id
        self._cache_size = cache_size
        self._cache: dict[str, Claims] = {}
        # External identity provider mode (auth/external.py): its tokens are verified there instead.
        self.external: ExternalIssuer | None = None

    @property
    def lifetime_s(self) -> int:
        """Lifetime of issued tokens, for the token endpoint's `expires_in`."""
        return self._lifetime

    @property
    def keyring(self) -> KeyRing:
        """The per-tenant signing keys."""
        return self._keyring

    def jwks(self, tenant_id: str) -> dict[str, list[dict[str, object]]]:
        """The public keys that verify this tenant's tokens (its `jwks_uri` document)."""
        return self._keyring.jwks(tenant_id)

    def _sign(self, claims: dict[str, object]) -> str:
        tid = claims["tid"]
        assert isinstance(tid, str)  # _common sets it
        key = self._keyring.current(tid)
        header = {"typ": "JWT", "alg": _ALG, "x5t": key.x5t, "kid": key.kid}
        return jws.serialize_compact(header, orjson.dumps(claims), key.jwk, registry=_REGISTRY)

    def _common(self, tenant: Tenant, aud: str, iss: str) -> dict[str, object]:
        now = int(self._clock())
        # RFC 7519 §4.1: iat/nbf/exp are NumericDate (whole seconds); `uti` is Entra's unique token id.
        return {
            "aud": aud,
            "iss": iss,
            "iat": now,
            "nbf": now,
            "exp": now + self._lifetime,
            "tid": tenant.id,
            "uti": secrets.token_urlsafe(16),
        }

    def issue_app_token(self, tenant: Tenant, app: App, *, resource: str = GRAPH_RESOURCE) -> str:
        """An app-only access token; `roles` are the app's application permissions for `resource`.

        Args:
            tenant: The tenant the app belongs to.
            app: The app (client credentials with a secret, so `appidacr` is "1").
            resource: Graph, or Exchange Online (`OUTLOOK_RESOURCE`, roles such as SMTP.SendAsApp).

        Returns:
            The signed JWT.
        """
        iss = v1_issuer(tenant.id)
        roles = for_resource(app.application_permissions, resource == OUTLOOK_RESOURCE)
        claims = self._common(tenant, resource, iss) | {
            "app_displayname": app.display_name,
            "appid": app.client_id,
            "appidacr": "1",
            "idp": iss,
            "idtyp": "app",
            "oid": app.object_id,
            "roles": roles,
            "sub": app.object_id,
            "ver": "1.0",
        }
        return self._sign(claims)

    def issue_user_token(
        self,
        tenant: Tenant,
        app: App,
        user: User,
        scopes: list[str],
        *,
        client_authenticated: bool = True,
        resource: str = GRAPH_RESOURCE,
    ) -> str:
        """A delegated access token for `user` signed in through `app` (`aud` = `resource`).

        Args:
            tenant: The user's tenant.
            app: The client the user signed in with.
            user: The signed-in user.
            scopes: Granted Graph permission names (`Mail.Read`), space-joined into `scp`.
            client_authenticated: Whether the client proved a secret (`appidacr` "1") or is a public
                client ("0").
            resource: Graph, or Exchange Online (`OUTLOOK_RESOURCE`) for SMTP.Send.

        Returns:
            The signed JWT.
        """
        claims = self._common(tenant, resource, v1_issuer(tenant.id)) | {
            "amr": ["pwd"],
            "app_displayname": app.display_name,
            "appid": app.client_id,
            "appidacr": "1" if client_authenticated else "0",
            "idtyp": "user",
            "name": user.display_name,
            "oid": user.id,
            "scp": " ".join(scopes),
            "sub": _pairwise_sub(tenant.id, app.client_id, user.id),
            "unique_name": user.user_principal_name,
            "upn": user.user_principal_name,
            "ver": "1.0",
        }
        return self._sign(claims)

    def id_token(
        self,
        tenant: Tenant,
        app: App,
        user: User,
        nonce: str | None = None,
        *,
        issuer_base: str = "https://login.microsoftonline.com",
    ) -> str:
        """A v2.0 OpenID Connect id token (what MSAL builds its account cache from, client-wire fact 10).

        Args:
            tenant: The user's tenant.
            app: The client; it is the token's `aud`.
            user: The signed-in user.
            nonce: Echoed from the authorization request when there was one.
            issuer_base: Scheme, host and port this server is reached at; `iss` is
                `{issuer_base}/{tid}/v2.0`, matching the discovery document's `issuer`.

        Returns:
            The signed JWT.
        """
        claims = self._common(tenant, app.client_id, f"{issuer_base.rstrip('/')}/{tenant.id}/v2.0") | {
            "name": user.display_name,
            "oid": user.id,
            "preferred_username": user.user_principal_name,
            "sub": _pairwise_sub(tenant.id, app.client_id, user.id),
            "ver": "2.0",
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return self._sign(claims)

    @staticmethod
    def client_info(user: User, tenant: Tenant) -> str:
        """MSAL's `client_info`: base64url JSON `{"uid": oid, "utid": tid}` (its home account id)."""
        return _b64url(orjson.dumps({"uid": user.id, "utid": tenant.id}))

    def verify(self, token: str, audiences: frozenset[str] = GRAPH_AUDIENCES) -> Claims:
        """Validate an access token issued by this server for one of `audiences` (Graph's by default).

        Args:
            token: The bearer token, without the `Bearer ` prefix.
            audiences: The `aud` values the caller accepts (SMTP: Exchange Online's and Graph's).

        Returns:
            The caller's claims.

        Raises:
            TokenError: With Graph's message: empty, not a JWS, outside its validity window, or
                otherwise invalid (algorithm, key, signature, audience, issuer, claims).
        """
        if not token:
            raise TokenError(EMPTY)
        now = self._clock()
        # Keyed by the whole token: the signature covers header and payload, so any change misses.
        hit = self._cache.get(token)
        if hit is not None:
            if now > hit.expires_at + CLOCK_SKEW_S:
                self._cache.pop(token, None)
                raise TokenError(EXPIRED)
            return _for(hit, audiences)
        claims = self._verify(token, now)
        if len(self._cache) >= self._cache_size:
            # Dicts keep insertion order: drop the oldest entry (FIFO is enough for a cache of hot tokens).
            self._cache.pop(next(iter(self._cache)), None)
        self._cache[token] = claims
        return _for(claims, audiences)

    def forget_tenant(self, tenant_id: str) -> None:
        """A deleted tenant: its keys leave the key ring and its verified tokens the cache (O(cache),
        once per deletion), so its tokens stop working at once in this process."""
        self._keyring.forget(tenant_id)
        self._cache = {t: c for t, c in self._cache.items() if c.tenant_id != tenant_id}

    async def authenticate(self, token: str, audiences: frozenset[str] = GRAPH_AUDIENCES) -> Claims:
        """`verify`, reloading the keys once when the token names a kid this process does not know.

        Another process may have rotated (or created a tenant's) keys since the last periodic reload;
        the reload is rate-limited (auth/keyring.py), so unknown kids cannot flood the store.
        """
        try:
            return self.verify(token, audiences)
        except _UnknownKeyError:
            if not await self._keyring.refresh(min_gap_s=1.0):
                raise
        return self.verify(token, audiences)

    def issue_refresh_token(
        self, tenant: Tenant, app: App, user: User, scopes: list[str], oidc: list[str]
    ) -> str:
        """A refresh token: signed by our keys, audience this server's token endpoint only.

        Its `aud` is not a Graph audience, so Graph refuses it as an access token. It stays valid for
        `REFRESH_LIFETIME_S` or until its signing key retires after a rotation (the user signs in again).
        """
        claims = self._common(tenant, REFRESH_AUDIENCE, v1_issuer(tenant.id)) | {
            "exp": int(self._clock()) + REFRESH_LIFETIME_S,
            "appid": app.client_id,
            "oid": user.id,
            "scp": " ".join(scopes),
            "oidc": " ".join(oidc),
            "ver": "refresh",
        }
        return self._sign(claims)

    def verify_refresh_token(self, token: str) -> dict[str, object]:
        """The claims of a refresh token this server issued; TokenError if invalid or expired."""
        payload = self._signed_payload(token)
        exp = payload.get("exp")
        if payload.get("aud") != REFRESH_AUDIENCE or payload.get("ver") != "refresh" or not is_time(exp):
            raise TokenError(INVALID)
        if self._clock() > exp:
            raise TokenError(EXPIRED)
        return payload

    def _signed_payload(self, token: str) -> dict[str, object]:
        """Parse a compact JWS and check its signature with our keys; the payload, unchecked but for
        `tid`: it must name the tenant that owns the signing key (B's key never vouches for A)."""
        try:
            obj = jws.extract_compact(token.encode("ascii"), registry=_REGISTRY)
            header = obj.headers()
            payload = orjson.loads(obj.payload)
        except (JoseError, ValueError, TypeError, KeyError, AttributeError, UnicodeError) as exc:
            raise TokenError(MALFORMED) from exc
        if not isinstance(payload, dict):
            raise TokenError(MALFORMED)
        if header.get("alg") != _ALG:
            raise TokenError(INVALID)
        kid = header.get("kid")
        found = self._keyring.verifier(kid) if isinstance(kid, str) else None
        if found is None:
            raise _UnknownKeyError(INVALID)
        owner, key = found
        if payload.get("tid") != owner:
            raise TokenError(INVALID)
        try:
            if not jws.validate_compact(obj, key, registry=_REGISTRY):
                raise TokenError(INVALID)
        except (JoseError, ValueError, TypeError) as exc:
            raise TokenError(INVALID) from exc
        return payload

    def _verify(self, token: str, now: float) -> Claims:
        # Checked against every audience of ours and cached once; `_for` applies the caller's.
        return check_access_claims(self._signed_payload(token), now, self._tenant_id, ACCESS_AUDIENCES)


def _for(claims: Claims, audiences: frozenset[str]) -> Claims:
    """The claims, if the token was issued for one of `audiences` (a Graph call refuses an
    Exchange Online token, as Graph does)."""
    if claims.audience not in audiences:
        raise TokenError(INVALID)
    return claims
