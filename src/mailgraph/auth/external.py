"""External identity provider mode: accept access tokens from another issuer (Keycloak, Entra ID, …).

Configured with the issuer (`iss`, exact), its JWKS URL and the audiences to accept, beside this
server's own tokens. The claim mapping (documented in docs/identity.md):

- **signature**: RS256, PS256 or ES256 by a key of the JWKS, chosen by `kid`; `exp`/`nbf` with 5 min skew;
- **delegated or app-only**: app-only when the token has `roles` and no Graph permission in `scp`/`scope`
  (or `idtyp` = "app"); delegated otherwise;
- **user**: the first of the configured user claim, `upn`, `preferred_username`, `email` that names a
  user of the tenant (by UPN or address); unknown users are refused;
- **permissions**: `scp` or `scope` (space-separated; Keycloak puts client scopes there) for delegated
  tokens, `roles` for app-only tokens, each kept only if it is a known Graph permission name;
- **client**: `appid`, `azp` or `client_id`; access policies of a registered app with that id apply.

The JWKS is fetched at start and again (at most once a minute) when a token names an unknown `kid`,
on a worker thread so the event loop never waits for the network. The tenant is always the hosted one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.request
from collections.abc import Callable, Collection
from typing import Final, Literal

import orjson
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from mailgraph.auth.claims import (
    CLOCK_SKEW_S,
    EXPIRED,
    INVALID,
    MALFORMED,
    ClaimCheck,
    TokenError,
    check_claim_types,
    is_audience,
    is_str,
    is_str_list,
    is_time,
)
from mailgraph.auth.permissions import APPLICATION_PERMISSIONS, DELEGATED_PERMISSIONS, canonical_permission
from mailgraph.domain.model import Actor, Tenant, User
from mailgraph.domain.ports import Tx, UnitOfWork

_log = logging.getLogger(__name__)
_ALGS: Final = ["RS256", "PS256", "ES256"]
_REGISTRY: Final = jws.JWSRegistry(algorithms=_ALGS)
_REFRESH_EVERY_S: Final = 60.0
_FETCH_TIMEOUT_S: Final = 10.0
_MAX_JWKS_BYTES: Final = 1024 * 1024
_USER_CLAIMS: Final = ("upn", "preferred_username", "email")


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT_S) as response:  # noqa: S310 - configured URL
        return bytes(response.read(_MAX_JWKS_BYTES))


class ExternalIssuer:
    """Verifies one external issuer's tokens and maps them to the hosted tenant's callers."""

    def __init__(
        self,
        uow: UnitOfWork,
        tenant: Tenant,
        *,
        issuer: str,
        jwks_url: str,
        audiences: Collection[str],
        user_claim: str = "preferred_username",
        clock: Callable[[], float] = time.time,
        fetch: Callable[[str], bytes] = _fetch,
    ) -> None:
        self._uow = uow
        self._tenant = tenant
        self.issuer = issuer
        self._jwks_url = jwks_url
        self._audiences = frozenset(audiences)
        self._user_claims = (user_claim, *(c for c in _USER_CLAIMS if c != user_claim))
        # Every claim read below has one expected JSON type; anything else is a 401, never a TypeError.
        self._claim_types: dict[str, ClaimCheck] = {
            **dict.fromkeys(("iss", "appid", "azp", "client_id", "idtyp", "scp", "scope"), is_str),
            **dict.fromkeys(self._user_claims, is_str),
            **dict.fromkeys(("exp", "nbf", "iat"), is_time),
            "aud": is_audience,
            "roles": is_str_list,
        }
        self._clock = clock
        self._fetch = fetch
        self._keys: KeySet | None = None
        self._fetched_at = -_REFRESH_EVERY_S

    async def refresh(self) -> bool:
        """Fetch the JWKS (rate-limited); True if the key set was replaced."""
        now = self._clock()
        if now - self._fetched_at < _REFRESH_EVERY_S:
            return False
        self._fetched_at = now
        try:
            raw = await asyncio.to_thread(self._fetch, self._jwks_url)
            self._keys = KeySet.import_key_set(orjson.loads(raw))
        except (OSError, ValueError, JoseError, TypeError, KeyError) as exc:
            _log.warning("cannot load the external issuer's JWKS from %s: %s", self._jwks_url, exc)
            return False
        return True

    def claims_issuer(self, token: str) -> bool:
        """Whether the token says it comes from this issuer (unverified; only picks the verifier)."""
        try:
            obj = jws.extract_compact(token.encode("ascii"), registry=_REGISTRY)
            payload = orjson.loads(obj.payload)
        except (JoseError, ValueError, TypeError, KeyError, AttributeError):
            return False
        return isinstance(payload, dict) and payload.get("iss") == self.issuer

    async def authenticate(self, token: str) -> Actor:
        """Verify the token and map it to an Actor (TokenError with Graph's 401 message otherwise)."""
        try:
            obj = jws.extract_compact(token.encode("ascii"), registry=_REGISTRY)
            payload = orjson.loads(obj.payload)
        except (JoseError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise TokenError(MALFORMED) from exc
        if not isinstance(payload, dict) or obj.headers().get("alg") not in _ALGS:
            raise TokenError(INVALID)
        if not self._verified(obj) and not (await self.refresh() and self._verified(obj)):
            raise TokenError(INVALID)
        return await self._actor(payload)

    def _verified(self, obj: jws.CompactSignature) -> bool:
        if self._keys is None:
            return False
        try:
            key = self._keys.get_by_kid(obj.headers().get("kid")) if obj.headers().get("kid") else None
            candidates = [key] if key is not None else list(self._keys)
            return any(jws.validate_compact(obj, k, registry=_REGISTRY) for k in candidates)
        except (JoseError, ValueError, TypeError):
            return False

    async def _actor(self, c: dict[str, object]) -> Actor:
        check_claim_types(c, self._claim_types)
        now = self._clock()
        exp, nbf = c.get("exp"), c.get("nbf", c.get("iat"))
        if not is_time(exp):
            raise TokenError(INVALID)
        if now > exp + CLOCK_SKEW_S or (is_time(nbf) and now < nbf - CLOCK_SKEW_S):
            raise TokenError(EXPIRED)
        aud = c.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if c.get("iss") != self.issuer or not any(
            isinstance(a, str) and a in self._audiences for a in audiences
        ):
            raise TokenError(INVALID)
        client = next((v for k in ("appid", "azp", "client_id") if isinstance(v := c.get(k), str)), "")
        raw_scope = c.get("scp") if isinstance(c.get("scp"), str) else c.get("scope")
        scopes = _known(str(raw_scope).split() if isinstance(raw_scope, str) else [], DELEGATED_PERMISSIONS)
        roles_claim = c.get("roles")
        roles = _known(
            [r for r in roles_claim if isinstance(r, str)] if isinstance(roles_claim, list) else [],
            APPLICATION_PERMISSIONS,
        )
        kind: Literal["user", "app"] = "app" if c.get("idtyp") == "app" or (roles and not scopes) else "user"
        if kind == "app":
            return Actor("app", self._tenant.id, client, None, roles)
        names = [v for claim in self._user_claims if isinstance(v := c.get(claim), str) and v]

        async def find(tx: Tx) -> User | None:
            for name in names:
                if (user := await tx.directory.find_user(self._tenant.id, name)) is not None:
                    return user
            return None

        user = await self._uow.read(find) if names else None
        if user is None or user.tenant_id != self._tenant.id or not user.account_enabled:
            raise TokenError(INVALID)
        return Actor("user", self._tenant.id, client, user.id, scopes)


def _known(names: list[str], allowed: frozenset[str]) -> frozenset[str]:
    out = set()
    for name in names:
        canonical = canonical_permission(name)
        if canonical is not None and canonical in allowed:
            out.add(canonical)
    return frozenset(out)
