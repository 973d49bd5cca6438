"""The token endpoint (`POST /{tenant}/oauth2/v2.0/token`) without transport: form in, JSON out.

Grants: `client_credentials` (client secret) and `password` (ROPC, confidential or public client),
the two flows the client libraries can run against a self-hosted authority (client-wire facts 8-10).
Failures raise `OAuthError`, which renders Microsoft's error body (spec §4.1). No refresh tokens are
issued yet: MSAL and azure-identity work without one, re-running the grant when the token expires.

Secrets and passwords are never logged; their scrypt checks run in a worker thread (~50 ms each).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from mailgraph.auth.passwords import hash_secret, verify_secret
from mailgraph.auth.tokens import GRAPH_APP_ID, GRAPH_RESOURCE, TokenService
from mailgraph.domain.model import App, Tenant, User
from mailgraph.domain.ports import Tx, UnitOfWork

_log = logging.getLogger(__name__)

TenantLookup = Callable[[], Awaitable[Tenant | None]]
# OpenID Connect scopes MSAL adds to every user flow; they never reach the Graph token's `scp`.
_OIDC_SCOPES: Final = ("openid", "profile", "offline_access", "email")
_GRAPH_RESOURCES: Final = frozenset({GRAPH_RESOURCE.casefold(), GRAPH_APP_ID})
_NOT_INSTALLED: Final = (
    "This can happen if the application has not been installed by the administrator of the tenant or "
    "consented to by any user in the tenant. You may have sent your authentication request to the wrong "
    "tenant."
)
# Entra's texts (AADSTS error reference), by code: (HTTP status, RFC 6749 §5.2 error, description).
_ERRORS: Final[dict[int, tuple[int, str, str]]] = {
    900144: (400, "invalid_request", "The request body must contain the following parameter: '{name}'."),
    70003: (400, "unsupported_grant_type", "The app requested an unsupported grant type '{grant}'."),
    90002: (
        400,
        "invalid_request",
        "Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing "
        "into the correct cloud. Check with your subscription administrator, this may happen if there are "
        "no active subscriptions for the tenant.",
    ),
    9002331: (
        400,
        "invalid_request",
        "The application is configured for use by Azure Active Directory users only. Please do not use the "
        "/consumers endpoint to serve this request.",
    ),
    700016: (
        400,
        "unauthorized_client",
        "Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
        + _NOT_INSTALLED,
    ),
    500011: (
        400,
        "invalid_resource",
        "The resource principal named {resource} was not found in the tenant named {tenant}. "
        + _NOT_INSTALLED,
    ),
    1002012: (
        400,
        "invalid_scope",
        "The provided value for scope {scope} is not valid. Client credential flows must have a scope "
        "value with /.default suffixed to the resource identifier (application ID URI).",
    ),
    7000215: (
        401,
        "invalid_client",
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
        "value, not the client secret ID, for a secret added to app '{client_id}'.",
    ),
    7000218: (
        401,
        "invalid_client",
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    ),
    # Entra's code for a rejected assertion, with our reason: assertions are not implemented yet.
    700027: (
        401,
        "invalid_client",
        "Client assertion is not supported by this server; authenticate with a client_secret.",
    ),
    50126: (400, "invalid_grant", "Error validating credentials due to invalid username or password."),
    50057: (400, "invalid_grant", "The user account is disabled."),
}


class OAuthError(Exception):
    """A refused token request, as the identity platform reports it."""

    def __init__(self, status: int, error: str, description: str, codes: list[int]) -> None:
        """Describe the failure.

        Args:
            status: HTTP status (400, or 401 for failed client authentication).
            error: The OAuth 2.0 error code (RFC 6749 §5.2), e.g. `invalid_client`.
            description: Entra's text without the `AADSTSnnnn: ` prefix.
            codes: The AADSTS numbers; the first one prefixes the description.
        """
        super().__init__(f"AADSTS{codes[0]}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.codes = codes

    def body(
        self, trace_id: str, correlation_id: str, *, now: dt.datetime | None = None
    ) -> dict[str, object]:
        """The JSON error body Entra sends (spec §4.1), with the ids the HTTP layer chose."""
        stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": (
                f"AADSTS{self.codes[0]}: {self.description}\r\nTrace ID: {trace_id}\r\n"
                f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}"
            ),
            "error_codes": list(self.codes),
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.codes[0]}",
        }


def _error(code: int, **args: str) -> OAuthError:
    status, error, text = _ERRORS[code]
    return OAuthError(status, error, text.format(**args), [code])


def resolve_tenant(tenant: Tenant | None, segment: str) -> Tenant:
    """Match the `{tenant}` path segment: tenant id, verified domain, `common` or `organizations`.

    Args:
        tenant: The hosted tenant (None before the first start).
        segment: The path segment as sent; matched case-insensitively.

    Returns:
        The tenant.

    Raises:
        OAuthError: `consumers` (no personal accounts here, AADSTS9002331) or an unknown tenant
            (AADSTS90002).
    """
    key = segment.casefold()
    if key == "consumers":
        raise _error(9002331)
    if tenant is not None and (
        key in ("common", "organizations", tenant.id.casefold())
        or key in (d.casefold() for d in tenant.domains)
    ):
        return tenant
    raise _error(90002, segment=segment)


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value.strip():  # returned unstripped: a password may begin or end with a space
        raise _error(900144, name=name)
    return value


@functools.cache
def _dummy_hash() -> str:
    return hash_secret("not a password")


def _verify_dummy(password: str) -> bool:
    """Spend the time a real password check takes (for unknown users); always False."""
    verify_secret(password, _dummy_hash())
    return False


class _Scopes:
    """A requested `scope` parameter, split into Graph permissions and OpenID Connect scopes."""

    def __init__(self, raw: str, tenant: Tenant) -> None:
        self.default = False  # `{graph}/.default` was requested
        self.only_default = True  # ... and nothing else
        self.names: list[str] = []
        self.oidc: list[str] = []
        for scope in raw.split():
            if scope.casefold() in _OIDC_SCOPES:
                self.oidc.append(scope.casefold())
                self.only_default = False
                continue
            resource, slash, name = scope.rpartition("/")
            if not slash:  # a bare permission name means Graph, Entra's default resource
                resource, name = GRAPH_RESOURCE, scope
            # rstrip: Entra tolerates the common `https://graph.microsoft.com//.default` typo.
            if resource.rstrip("/").casefold() not in _GRAPH_RESOURCES:
                raise _error(500011, resource=resource, tenant=tenant.display_name)
            if name == ".default":
                self.default = True
            else:
                self.names.append(name)
                self.only_default = False

    def granted(self, app: App) -> list[str]:
        """Requested permissions the app holds (all of them for `.default`), in the app's order.

        Entra grants only consented permissions; asking for others is not an error.
        """
        wanted = {n.casefold() for n in self.names}
        perms = [p for p in app.delegated_permissions if p.casefold() not in _OIDC_SCOPES]
        return [p for p in perms if self.default or p.casefold() in wanted]


class OAuthService:
    """Runs token requests against the directory."""

    def __init__(
        self,
        uow: UnitOfWork,
        tokens: TokenService,
        *,
        tenant_lookup: TenantLookup | None = None,
        issuer_base: str = "https://login.microsoftonline.com",
    ) -> None:
        """Create the service.

        Args:
            uow: Reaches the directory (apps, users and, by default, the tenant).
            tokens: Issues the tokens.
            tenant_lookup: Returns the hosted tenant (e.g. cached); by default it is read from the
                directory in the same read transaction as the app and user.
            issuer_base: Default `scheme://host[:port]` of id tokens' `iss` (see `token`).
        """
        self._uow = uow
        self._tokens = tokens
        self._tenant_lookup = tenant_lookup
        self._issuer_base = issuer_base

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

    async def _token(self, segment: str, form: Mapping[str, str], issuer_base: str) -> dict[str, object]:
        grant = _required(form, "grant_type")
        if grant not in ("client_credentials", "password"):
            raise _error(70003, grant=grant)
        client_id = _required(form, "client_id")
        raw_scope = _required(form, "scope")
        username = _required(form, "username") if grant == "password" else ""
        password = _required(form, "password") if grant == "password" else ""

        async def load(tx: Tx) -> tuple[Tenant | None, App | None, User | None]:
            tenant = None if self._tenant_lookup else await tx.directory.get_tenant()
            app = await tx.directory.get_app(client_id)
            user = await tx.directory.find_user(username) if username else None
            return tenant, app, user

        # One snapshot for the reads; the slow secret checks run after it is released.
        tenant, app, user = await self._uow.read(load)
        if self._tenant_lookup is not None:
            tenant = await self._tenant_lookup()
        tenant = resolve_tenant(tenant, segment)
        if app is None or app.tenant_id != tenant.id:
            raise _error(700016, client_id=client_id, tenant=tenant.display_name)
        scopes = _Scopes(raw_scope, tenant)
        authenticated = await self._authenticate_client(app, form, public_ok=grant == "password")
        expires = self._tokens.lifetime_s
        body: dict[str, object] = {"token_type": "Bearer"}
        if grant == "client_credentials":
            # Entra requires `{resource}/.default` here: an app gets its granted roles, never named scopes.
            if not scopes.only_default:
                raise _error(1002012, scope=raw_scope)
            access = self._tokens.issue_app_token(tenant, app)
            return body | {"expires_in": expires, "ext_expires_in": expires, "access_token": access}

        user = await self._authenticate_user(user, tenant, password)
        granted = scopes.granted(app)
        body |= {
            "scope": " ".join([*(f"{GRAPH_RESOURCE}/{p}" for p in granted), *scopes.oidc]),
            "expires_in": expires,
            "ext_expires_in": expires,
            "access_token": self._tokens.issue_user_token(
                tenant, app, user, granted, client_authenticated=authenticated
            ),
        }
        if "openid" in scopes.oidc:  # OpenID Connect Core §3.1.3.3: an id token answers the openid scope
            body["id_token"] = self._tokens.id_token(tenant, app, user, issuer_base=issuer_base)
        if form.get("client_info") == "1":  # MSAL's home account id (client-wire fact 10)
            body["client_info"] = self._tokens.client_info(user, tenant)
        return body

    async def _authenticate_client(self, app: App, form: Mapping[str, str], *, public_ok: bool) -> bool:
        """Check the client secret; True if the client authenticated, False for a public client."""
        secret = form.get("client_secret", "")
        if not secret:
            if form.get("client_assertion"):
                raise _error(700027)
            if public_ok and app.allow_public_client:  # client-wire fact 9: O365's ROPC sends no secret
                return False
            raise _error(7000218)
        if app.secret_hash is None or not await asyncio.to_thread(verify_secret, secret, app.secret_hash):
            raise _error(7000215, client_id=app.client_id)
        return True

    async def _authenticate_user(self, user: User | None, tenant: Tenant, password: str) -> User:
        """Check the password; unknown users cost the same scrypt run, so timing does not reveal them."""
        if user is None or user.tenant_id != tenant.id or user.password_hash is None:
            ok = await asyncio.to_thread(_verify_dummy, password)
        else:
            ok = await asyncio.to_thread(verify_secret, password, user.password_hash)
        if not ok or user is None:
            raise _error(50126)
        if not user.account_enabled:  # checked after the password, as Entra does, to leak nothing
            raise _error(50057)
        return user
