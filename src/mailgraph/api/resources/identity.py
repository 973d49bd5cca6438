"""The identity platform's metadata endpoints, per tenant, in Entra's shapes (spec §4.1).

- `GET /{tenant}/v2.0/.well-known/openid-configuration`: OpenID Provider Metadata (OpenID Connect
  Discovery 1.0 §3). `issuer` and every endpoint use the scheme, host and port the caller used, since
  msal-node and @azure/identity reject an issuer on another host (client-wire fact 8).
- `GET /{tenant}/discovery/v2.0/keys`: the JWKS of that tenant's signing keys (current first, retiring ones
  until their tokens have expired).
- `GET /common/userrealm/{upn}`: MSAL Python's realm probe before the password grant (fact 9);
  "Managed" for the tenant's domains so MSAL never tries WS-Trust federation.
- `GET /common/discovery/instance`: MSAL's instance discovery, for clients that do not disable it.
- the sign-in, device-code and logout pages of `signin`.

`dispatch` is the `identity` mount (api/mounts.py); it returns None for other paths, which then get
Graph's 404 naming the segment.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import parse_qs, urlsplit

import orjson

from mailgraph.api.describe import PathOp
from mailgraph.api.http import Request, Response
from mailgraph.api.resources import signin
from mailgraph.auth.oauth import GRANT_TYPES, OAuthError, OAuthService
from mailgraph.auth.tokens import TokenService
from mailgraph.domain.model import Tenant

_JSON: Final = b"application/json; charset=utf-8"
# Metadata may be cached by clients (Entra sends max-age=86400 on these documents).
_CACHE: Final = [(b"cache-control", b"max-age=86400, private")]
_CLAIMS: Final = [
    *("sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name"),
    *("tid", "ver", "at_hash", "c_hash", "email", "oid", "upn", "scp", "roles", "appid", "idtyp"),
]


def _json(payload: object, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    return Response(status, orjson.dumps(payload), _JSON, headers if headers is not None else list(_CACHE))


def _error(req: Request, err: OAuthError) -> Response:
    correlation = req.headers.get("client-request-id") or str(uuid.uuid4())
    payload = err.body(trace_id=req.request_id, correlation_id=correlation)
    return _json(payload, err.status, [(b"cache-control", b"no-store")])


def openid_configuration(base: str, tenant: Tenant) -> dict[str, object]:
    """The discovery document of `tenant` as reached at `base` (`scheme://host[:port]`)."""
    root = f"{base}/{tenant.id}"
    return {
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{root}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{root}/v2.0",
        "request_uri_parameter_supported": False,
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "http_logout_supported": False,
        "frontchannel_logout_supported": False,
        "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        "claims_supported": _CLAIMS,
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": ["S256", "plain"],
        "tenant_region_scope": None,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": urlsplit(base).netloc,
        "rbac_url": "https://pas.windows.net",
    }


def _userrealm(base: str, tenant: Tenant, upn: str) -> dict[str, object]:
    domain = upn.rpartition("@")[2].casefold()
    ours = domain in (d.casefold() for d in tenant.domains)
    return {
        "ver": "1.0",
        # "Unknown" is Entra's answer for a domain it does not host; MSAL then runs plain ROPC too.
        "account_type": "Managed" if ours else "Unknown",
        "domain_name": domain,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }


def _instance(req: Request) -> Response:
    """Instance discovery: only this server's own host is a valid instance (AADSTS50049 otherwise)."""
    query = parse_qs(req.query)
    endpoint = (query.get("authorization_endpoint") or [""])[0]
    parts = urlsplit(endpoint)
    here = urlsplit(req.base_url).netloc
    segments = [p for p in parts.path.split("/") if p]
    if parts.netloc.casefold() != here.casefold() or not segments:
        err = OAuthError(
            400,
            "invalid_instance",
            "Unknown or invalid instance.",
            [50049],
        )
        return _error(req, err)
    tenant = segments[0]
    return _json(
        {
            "tenant_discovery_endpoint": f"{req.base_url}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": here, "preferred_cache": here, "aliases": [here]}],
        }
    )


PathHandler = Callable[[Request, OAuthService, TokenService, list[str]], Awaitable[Response]]


async def _userrealm_doc(
    req: Request, oauth: OAuthService, tokens: TokenService, parts: list[str]
) -> Response:
    tenant = await oauth.tenant_for("common", username=parts[2])
    return _json(_userrealm(req.base_url, tenant, parts[2]), headers=[])


async def _instance_doc(
    req: Request, oauth: OAuthService, tokens: TokenService, parts: list[str]
) -> Response:
    return _instance(req)


async def _configuration(
    req: Request, oauth: OAuthService, tokens: TokenService, parts: list[str]
) -> Response:
    return _json(openid_configuration(req.base_url, await oauth.tenant_for(parts[0])))


async def _authorize(req: Request, oauth: OAuthService, tokens: TokenService, parts: list[str]) -> Response:
    return await signin.authorize(req, oauth, parts[0])


async def _devicecode(req: Request, oauth: OAuthService, tokens: TokenService, parts: list[str]) -> Response:
    return await signin.devicecode(req, oauth, parts[0])


async def _devicelogin(req: Request, oauth: OAuthService, tokens: TokenService, parts: list[str]) -> Response:
    return await signin.devicelogin(req, oauth)


async def _logout(req: Request, oauth: OAuthService, tokens: TokenService, parts: list[str]) -> Response:
    await oauth.tenant_for(parts[0])
    return signin.logout()


async def _keys(req: Request, oauth: OAuthService, tokens: TokenService, parts: list[str]) -> Response:
    tenant = await oauth.tenant_for(parts[0])
    await tokens.keyring.ensure(tenant.id)  # a tenant added since start gets its first key
    return _json(tokens.jwks(tenant.id))


_T = None  # a tenant segment: its id, a verified domain, `common` or `organizations`
_HTML, _JSONT = "text/html", "application/json"
# THE table of identity paths: (lower-cased pattern, documented methods, summary, media type, handler).
# `/openapi.json` describes exactly these (`describe`).
PATHS: list[tuple[tuple[str | None, ...], tuple[str, ...], str, str, PathHandler]] = [
    (("devicelogin",), ("GET", "POST"), "Device-code sign-in page", _HTML, _devicelogin),
    (("common", "userrealm", _T), ("GET",), "MSAL's realm probe (Managed for our domains)", _JSONT, _userrealm_doc),
    (("common", "discovery", "instance"), ("GET",), "MSAL instance discovery", _JSONT, _instance_doc),
    ((_T, "v2.0", ".well-known", "openid-configuration"), ("GET",), "OpenID Provider Metadata", _JSONT, _configuration),
    ((_T, "oauth2", "v2.0", "authorize"), ("GET", "POST"), "Authorization endpoint (sign-in page)", _HTML, _authorize),
    ((_T, "oauth2", "v2.0", "devicecode"), ("POST",), "Device authorization (RFC 8628)", _JSONT, _devicecode),
    ((_T, "oauth2", "v2.0", "logout"), ("GET",), "End-session page", _HTML, _logout),
    ((_T, "discovery", "v2.0", "keys"), ("GET",), "The tenant's JWKS", _JSONT, _keys),
    ((_T, "discovery", "keys"), ("GET",), "The tenant's JWKS (v1 spelling)", _JSONT, _keys),
]  # fmt: skip


def _template(pattern: tuple[str | None, ...]) -> str:
    named = [
        "{tenant}" if seg is None and i == 0 else "{upn}" if seg is None else seg
        for i, seg in enumerate(pattern)
    ]
    return "/" + "/".join(named)


def describe() -> list[PathOp]:
    """The identity paths as `/openapi.json` operations (no bearer: the platform's own endpoints)."""
    return [
        PathOp(method, _template(pattern), summary, produces=media,
               query=("client_id", "response_type", "redirect_uri", "scope", "state") if method == "GET" and "authorize" in pattern else (),
               body={"type": "object"} if method == "POST" else None,
               body_type="application/x-www-form-urlencoded")
        for pattern, methods, summary, media, _ in PATHS
        for method in methods
    ]  # fmt: skip


async def dispatch(
    req: Request, oauth: OAuthService, tokens: TokenService, parts: list[str]
) -> Response | None:
    """Answer an identity-platform path, or None if `parts` is not one.

    Args:
        req: The request.
        oauth: The token service (tenant resolution, sign-in, device codes).
        tokens: Issues and verifies tokens; publishes the JWKS.
        parts: The percent-decoded path segments.
    """
    lower = [p.lower() for p in parts]
    for pattern, _, _, _, handler in PATHS:
        if len(pattern) == len(lower) and all(
            w is None or w == got for w, got in zip(pattern, lower, strict=True)
        ):
            try:
                return await handler(req, oauth, tokens, parts)
            except OAuthError as err:
                return _error(req, err)
    return None
