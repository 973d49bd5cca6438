"""The token endpoint (`POST /{tenant}/oauth2/v2.0/token`) without transport: form in, JSON out.

Grants (spec §4.1): `client_credentials` (client secret or certificate assertion), `password` (ROPC,
confidential or public client), `refresh_token`, `authorization_code` (+PKCE) and the device code
grant; the interactive halves of the last two live in `interactive`. Failures raise `OAuthError`,
which renders Microsoft's error body. Refresh tokens are issued when `offline_access` is asked for.

Secrets and passwords are never logged; their scrypt checks run in a worker thread (~50 ms each).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

from cryptography import x509

from mailgraph.auth.assertions import ASSERTION_TYPE, AssertionVerifier
from mailgraph.auth.flows import Grant, PendingFlows, pkce_matches
from mailgraph.auth.interactive import InteractiveFlows
from mailgraph.auth.oauth_errors import OAuthError as OAuthError
from mailgraph.auth.oauth_errors import client_locked
from mailgraph.auth.oauth_errors import oauth_error as _error
from mailgraph.auth.passwords import hash_secret, verify_secret
from mailgraph.auth.permissions import OUTLOOK_RESOURCE, for_resource, is_outlook_only
from mailgraph.auth.scopes import Scopes, required
from mailgraph.auth.scopes import resolve_tenant as resolve_tenant
from mailgraph.auth.tokens import GRAPH_RESOURCE, TokenError, TokenService
from mailgraph.domain.lockout import Lockout, SignInFailures, client_subject, user_subject
from mailgraph.domain.model import App, Tenant, Timestamp, User
from mailgraph.domain.ports import Tx, UnitOfWork

_log = logging.getLogger(__name__)

TenantLookup = Callable[[], Awaitable[Tenant | None]]
# The grants the token endpoint runs (advertised as `grant_types_supported`).
GRANT_TYPES: Final = (
    "client_credentials",
    "password",
    "refresh_token",
    "authorization_code",
    "urn:ietf:params:oauth:grant-type:device_code",
)


@functools.lru_cache(maxsize=256)
def _certificate(pem: str) -> x509.Certificate:
    """A registered certificate, parsed once (stored PEMs were validated when registered)."""
    return x509.load_pem_x509_certificate(pem.encode("ascii"))


@functools.cache
def _dummy_hash() -> str:
    return hash_secret("not a password")


def _verify_dummy(password: str) -> bool:
    """Spend the time a real password check takes (for unknown users); always False."""
    verify_secret(password, _dummy_hash())
    return False


_States = tuple["SignInFailures | None", "SignInFailures | None"]


@dataclass(frozen=True, slots=True)
class _Loaded:
    """One snapshot of what a token request needs, smart-lockout rows included (one read)."""

    tenant: Tenant
    app: App
    user: User | None
    client_state: SignInFailures | None
    user_state: SignInFailures | None


class OAuthService:
    """Runs token requests against the directory."""

    def __init__(
        self,
        uow: UnitOfWork,
        tokens: TokenService,
        *,
        tenant_lookup: TenantLookup | None = None,
        issuer_base: str = "https://login.microsoftonline.com",
        flows: PendingFlows | None = None,
        home_tenant_id: str | None = None,
        clock: Callable[[], Timestamp] = lambda: int(time.time() * 1_000_000),
    ) -> None:
        """Create the service.

        Args:
            uow: Reaches the directory (apps, users and, by default, the tenant).
            tokens: Issues the tokens.
            tenant_lookup: Returns the hosted tenant (e.g. cached); by default it is read from the
                directory in the same read transaction as the app and user.
            issuer_base: Default `scheme://host[:port]` of id tokens' `iss` (see `token`).
            flows: Pending authorization and device codes (by default in the store `uow` reaches).
            home_tenant_id: The tenant `common`/`organizations` name when no username picks one (the
                server's first tenant); by default the tenant with the smallest id.
            clock: Microseconds since the epoch, for smart lockout (domain/lockout.py).
        """
        self._home = home_tenant_id
        self._uow = uow
        self._tokens = tokens
        self._tenant_lookup = tenant_lookup
        self._issuer_base = issuer_base
        self._flows = flows or PendingFlows(uow)
        # Used assertion ids are shared through the store too: a replay is refused at any process.
        self._assertions = AssertionVerifier(self._flows.use_jti)
        self._lockout = Lockout(uow, clock)
        self.interactive = InteractiveFlows(self)

    @property
    def flows(self) -> PendingFlows:
        """Pending authorization and device codes."""
        return self._flows

    async def check_password(self, tenant: Tenant, username: str, password: str) -> User:
        """Sign a user of `tenant` in with a password (raises OAuthError AADSTS50126/50057)."""

        async def load(tx: Tx) -> tuple[User | None, SignInFailures | None]:
            user = await tx.directory.find_user(tenant.id, username) if username else None
            return user, (await tx.lockouts.get(user_subject(user.id)) if user is not None else None)

        user, state = await self._uow.read(load)
        try:
            return await self._authenticate_user(user, tenant, password, state)
        except OAuthError as err:
            _log.info("sign-in refused: AADSTS%d (user=%s)", err.codes[0], username)
            raise

    async def tenant_for(self, segment: str, *, username: str = "") -> Tenant:
        """The hosted tenant named by a `{tenant}` path segment (raises OAuthError AADSTS90002).

        `common`/`organizations` pick the tenant of `username`'s domain when there is one, as Entra
        picks the user's home tenant; otherwise the home tenant.
        """
        if self._tenant_lookup is not None:
            return resolve_tenant(await self._tenant_lookup(), segment)
        return resolve_tenant(
            await self._uow.read(lambda tx: self._find_tenant(tx, segment, username)), segment
        )

    async def _find_tenant(self, tx: Tx, segment: str, username: str) -> Tenant | None:
        key = segment.casefold()
        if key in ("common", "organizations"):
            if "@" in username and (t := await tx.directory.tenant_for_domain(username.rsplit("@", 1)[1])):
                return t
            if self._home is not None:
                return await tx.directory.get_tenant(self._home)
            tenants = await tx.directory.list_tenants()
            return tenants[0] if tenants else None
        return await tx.directory.get_tenant(key) or await tx.directory.tenant_for_domain(key)

    async def token(
        self, tenant_segment: str, form: Mapping[str, str], *, issuer_base: str | None = None
    ) -> dict[str, object]:
        """Answer one token request.

        Args:
            tenant_segment: The `{tenant}` path segment.
            form: The form fields (HTTP Basic client credentials, if any, merged in as `client_id` and
                `client_secret`). Unknown fields (client_info, claims, x-client-*, ...) are ignored.
            issuer_base: The authority's `scheme://host[:port]` as the client called it; id tokens'
                `iss` must match the discovery document's `issuer` (client-wire fact 8).

        Returns:
            The JSON success body.

        Raises:
            OAuthError: The request is refused; render `err.body(...)` with status `err.status`.
        """
        try:
            return await self._token(tenant_segment, form, issuer_base or self._issuer_base)
        except OAuthError as err:
            # Codes and ids only: never a secret or a password.
            _log.info(
                "token request refused: AADSTS%d %s (grant_type=%s, client_id=%s)",
                err.codes[0],
                err.error,
                form.get("grant_type"),
                form.get("client_id"),
            )
            raise

    async def load(
        self, segment: str, client_id: str, *, username: str = "", user_id: str = ""
    ) -> tuple[Tenant, App, User | None]:
        """One snapshot read of the tenant, the client and (by UPN or id) the user; client checked."""
        loaded = await self._load(segment, client_id, username=username, user_id=user_id)
        return loaded.tenant, loaded.app, loaded.user

    async def _load(self, segment: str, client_id: str, *, username: str = "", user_id: str = "") -> _Loaded:
        """`load`, plus the client's and the user's smart-lockout rows from the same snapshot."""

        async def load(tx: Tx) -> tuple[Tenant | None, App | None, User | None, _States]:
            tenant = None if self._tenant_lookup else await self._find_tenant(tx, segment, username)
            app = await tx.directory.get_app(client_id)
            user = None
            if username and tenant is not None:
                user = await tx.directory.find_user(tenant.id, username)
            if user_id:
                user = await tx.directory.get_user(user_id)
            client_state = await tx.lockouts.get(client_subject(client_id))
            user_state = await tx.lockouts.get(user_subject(user.id)) if user is not None else None
            return tenant, app, user, (client_state, user_state)

        tenant, app, user, states = await self._uow.read(load)
        if self._tenant_lookup is not None:
            tenant = await self._tenant_lookup()
        tenant = resolve_tenant(tenant, segment)
        if app is None or app.tenant_id != tenant.id:
            raise _error(700016, client_id=client_id, tenant=tenant.display_name)
        if user is not None and user.tenant_id != tenant.id:
            user = None  # a user id from an earlier grant of another tenant: unknown here
        await self._tokens.keyring.ensure(tenant.id)  # a tenant added since start gets its first key
        return _Loaded(tenant, app, user, states[0], states[1])

    async def _token(self, segment: str, form: Mapping[str, str], issuer_base: str) -> dict[str, object]:
        grant = required(form, "grant_type")
        if grant not in GRANT_TYPES:
            raise _error(70003, grant=grant)
        client_id = required(form, "client_id")
        if grant == "client_credentials":
            raw_scope = required(form, "scope")
            loaded = await self._load(segment, client_id)
            tenant, app = loaded.tenant, loaded.app
            scopes = Scopes(raw_scope, tenant, own_base=issuer_base)
            await self._authenticate_client(
                app, form, public_ok=False, tenant=tenant, base=issuer_base, state=loaded.client_state
            )
            # Entra requires `{resource}/.default` here: an app gets its granted roles, never named scopes.
            if not scopes.only_default:
                raise _error(1002012, scope=raw_scope)
            expires = self._tokens.lifetime_s
            access = self._tokens.issue_app_token(tenant, app, resource=scopes.resource)
            return {
                "token_type": "Bearer",
                "expires_in": expires,
                "ext_expires_in": expires,
                "access_token": access,
            }
        if grant == "password":
            raw_scope = required(form, "scope")
            username, password = required(form, "username"), required(form, "password")
            loaded = await self._load(segment, client_id, username=username)
            tenant, app = loaded.tenant, loaded.app
            scopes = Scopes(raw_scope, tenant, own_base=issuer_base)
            authenticated = await self._authenticate_client(
                app, form, public_ok=True, tenant=tenant, base=issuer_base, state=loaded.client_state
            )
            user = await self._authenticate_user(loaded.user, tenant, password, loaded.user_state)
            grant_ = Grant(tenant.id, app.client_id, user.id, tuple(scopes.granted(app)), tuple(scopes.oidc))
            return self._user_body(
                tenant, app, user, grant_, authenticated, issuer_base, form, resource=scopes.resource
            )
        return await self._redeem(grant, segment, client_id, form, issuer_base)

    async def _redeem(
        self, grant: str, segment: str, client_id: str, form: Mapping[str, str], issuer_base: str
    ) -> dict[str, object]:
        """refresh_token, authorization_code and device_code: a grant recorded earlier, redeemed now."""
        if grant == "refresh_token":
            try:
                claims = self._tokens.verify_refresh_token(required(form, "refresh_token"))
            except TokenError:
                raise _error(70008) from None
            earlier = Grant(
                str(claims.get("tid")),
                str(claims.get("appid")),
                str(claims.get("oid")),
                tuple(str(claims.get("scp", "")).split()),
                tuple(str(claims.get("oidc", "")).split()),
            )
        elif grant == "authorization_code":
            code = await self._flows.take_code(required(form, "code"))
            if code is None:  # unknown, expired or already redeemed: never usable twice
                raise _error(54005)
            if form.get("redirect_uri", "") != code.redirect_uri:
                raise _error(50011, uri=form.get("redirect_uri", ""), client_id=client_id)
            if code.challenge is not None and not pkce_matches(
                required(form, "code_verifier"), code.challenge, code.method
            ):
                raise _error(50148)
            earlier = code.grant
        else:
            device_code = required(form, "device_code")
            device = await self._flows.device(device_code)
            if device is None or device.client_id != client_id:
                raise _error(70000)
            if device.expires_at <= self._flows.now():
                await self._flows.finish_device(device_code)
                raise _error(70019)
            if device.denied:
                await self._flows.finish_device(device_code)
                raise _error(70020)
            if device.grant is None:
                raise _error(70016)
            if not await self._flows.finish_device(device_code):  # another poll redeemed it first
                raise _error(70000)
            earlier = device.grant
        loaded = await self._load(segment, client_id, user_id=earlier.user_id)
        tenant, app, user = loaded.tenant, loaded.app, loaded.user
        # A grant only works for the client and tenant it was issued to (RFC 6749 §10.4, §4.1.3).
        if earlier.client_id != app.client_id or earlier.tenant_id != tenant.id:
            raise _error(70000)
        authenticated = await self._authenticate_client(
            app, form, public_ok=True, tenant=tenant, base=issuer_base, state=loaded.client_state
        )
        if user is None or not user.account_enabled:
            raise _error(70000)
        scopes = earlier.scopes
        resource = None
        if form.get("scope", "").strip():  # narrower scopes may be asked for; never more (RFC 6749 §6)
            asked = Scopes(form["scope"], tenant, own_base=issuer_base)
            resource = asked.resource
            wanted = {n.casefold() for n in asked.names}
            if wanted:
                scopes = tuple(p for p in scopes if p.casefold() in wanted)
        consented = {p.casefold() for p in app.delegated_permissions}  # consent withdrawn since?
        scopes = tuple(p for p in scopes if p.casefold() in consented)
        current = Grant(tenant.id, app.client_id, user.id, scopes, earlier.oidc, earlier.nonce)
        return self._user_body(
            tenant, app, user, current, authenticated, issuer_base, form, resource=resource
        )

    def _user_body(
        self,
        tenant: Tenant,
        app: App,
        user: User,
        grant: Grant,
        authenticated: bool,
        issuer_base: str,
        form: Mapping[str, str],
        *,
        resource: str | None = None,
    ) -> dict[str, object]:
        """The success body of a user flow: access token, and id/refresh tokens when asked for.

        `resource`: the token's audience; None for a redeemed grant (code, device code, refresh without
        `scope`), which keeps only permission names: Exchange Online's when they are all SMTP ones.
        """
        expires = self._tokens.lifetime_s
        if resource is None:
            resource = OUTLOOK_RESOURCE if is_outlook_only(grant.scopes) else GRAPH_RESOURCE
        granted = for_resource(grant.scopes, resource == OUTLOOK_RESOURCE)
        body: dict[str, object] = {
            "token_type": "Bearer",
            "scope": " ".join([*(f"{resource}/{p}" for p in granted), *grant.oidc]),
            "expires_in": expires,
            "ext_expires_in": expires,
            "access_token": self._tokens.issue_user_token(
                tenant, app, user, granted, client_authenticated=authenticated, resource=resource
            ),
        }
        if "offline_access" in grant.oidc:  # Entra issues a refresh token only for offline_access
            body["refresh_token"] = self._tokens.issue_refresh_token(
                tenant, app, user, granted, list(grant.oidc)
            )
        if "openid" in grant.oidc:  # OpenID Connect Core §3.1.3.3: an id token answers the openid scope
            body["id_token"] = self._tokens.id_token(tenant, app, user, grant.nonce, issuer_base=issuer_base)
        if form.get("client_info") == "1":  # MSAL's home account id (client-wire fact 10)
            body["client_info"] = self._tokens.client_info(user, tenant)
        return body

    async def _authenticate_client(
        self,
        app: App,
        form: Mapping[str, str],
        *,
        public_ok: bool,
        tenant: Tenant,
        base: str,
        state: SignInFailures | None,
    ) -> bool:
        """Check the secret or the certificate assertion; True if it authenticated, False if public."""
        secret = form.get("client_secret", "")
        assertion = form.get("client_assertion", "")
        if assertion:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise _error(900144, name="client_assertion_type")
            # aud: this tenant's token endpoint, under any name of the tenant (RFC 7523 §3 item 3).
            names = (tenant.id, *tenant.domains, "common", "organizations")
            audiences = {f"{base}/{n}/oauth2/v2.0/token" for n in names} | {f"{base}/{tenant.id}/v2.0"}
            pems = await self._uow.read(lambda tx: tx.delegation.certificates(app.client_id))
            certs = [_certificate(pem) for pem in pems]
            await self._assertions.verify(assertion, app.client_id, certs, audiences)
            return True
        if not secret:
            if public_ok and app.allow_public_client:  # client-wire fact 9: O365's ROPC sends no secret
                return False
            raise _error(7000218)
        # Smart lockout per client (issue 17): a locked client is refused before its secret is checked.
        if self._lockout.locked(state):
            raise client_locked(app.client_id)
        if app.secret_hash is None or not await asyncio.to_thread(verify_secret, secret, app.secret_hash):
            await self._lockout.failed(tenant, client_subject(app.client_id))
            raise _error(7000215, client_id=app.client_id)
        await self._lockout.succeeded(state)
        return True

    async def _authenticate_user(
        self, user: User | None, tenant: Tenant, password: str, state: SignInFailures | None
    ) -> User:
        """Check the password; unknown users cost the same scrypt run, so timing does not reveal them.

        Smart lockout (issue 17, domain/lockout.py): a known user's failures are counted in the store;
        while the user is locked, AADSTS50053 answers before the password is checked, even the right one.
        Unknown users are not counted (no row per guessed name; they have nothing to protect).
        """
        known = user is not None and user.tenant_id == tenant.id and user.password_hash is not None
        if self._lockout.locked(state):
            raise _error(50053)
        if user is None or not known or user.password_hash is None:
            ok = await asyncio.to_thread(_verify_dummy, password)
        else:
            ok = await asyncio.to_thread(verify_secret, password, user.password_hash)
        if not ok or user is None:
            if known and user is not None:
                await self._lockout.failed(tenant, user_subject(user.id))
            raise _error(50126)
        await self._lockout.succeeded(state)
        if not user.account_enabled:  # checked after the password, as Entra does, to leak nothing
            raise _error(50057)
        return user
