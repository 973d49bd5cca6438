"""The interactive halves of the authorization-code and device-code grants, without HTML or HTTP.

- Authorization code (RFC 6749 §4.1 + PKCE, RFC 7636): `check_authorize` validates the request the
  browser brings to `/oauth2/v2.0/authorize`; `sign_in` checks the user's password and consent and
  returns the redirect carrying a single-use code.
- Device code (RFC 8628): `device_authorization` answers `/oauth2/v2.0/devicecode`; `approve_device`
  is the verification page's form, after which the polling client's token request succeeds.

Redirect URIs: apps here register none, so only the URIs native and CLI apps use are accepted: loopback
addresses on any port (RFC 8252 §7.3) and Entra's `…/oauth2/nativeclient`. Any other is refused with
AADSTS50011 before anything is redirected, so the sign-in page is never an open redirector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import urlencode, urlsplit

from mailgraph.auth.flows import DEVICE_INTERVAL_S, DEVICE_TTL_S, Grant
from mailgraph.auth.oauth_errors import OAuthError, oauth_error
from mailgraph.auth.scopes import Scopes, required
from mailgraph.domain.model import App, Tenant

if TYPE_CHECKING:
    from mailgraph.auth.oauth import OAuthService

_NATIVE: Final = "https://login.microsoftonline.com/common/oauth2/nativeclient"
_LOOPBACK: Final = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    """A validated authorization request: what the sign-in page shows and posts back."""

    tenant: Tenant
    app: App
    redirect_uri: str
    state: str | None
    scope: str
    permissions: tuple[str, ...]  # the Graph permissions the user is asked to consent to
    oidc: tuple[str, ...]
    challenge: str | None
    method: str
    nonce: str | None
    response_mode: str
    login_hint: str


def redirect_allowed(uri: str) -> bool:
    """Loopback http(s) URIs on any port (RFC 8252 §7.3) or Entra's native-client URI."""
    if uri == _NATIVE:
        return True
    parts = urlsplit(uri)
    try:
        return (
            parts.scheme in ("http", "https") and (parts.hostname or "") in _LOOPBACK and not parts.fragment
        )
    except ValueError:
        return False


def redirect_with(uri: str, params: dict[str, str]) -> str:
    """`uri` with `params` appended to its query (RFC 6749 §4.1.2)."""
    return f"{uri}{'&' if urlsplit(uri).query else '?'}{urlencode(params)}"


class InteractiveFlows:
    """Authorization-code sign-in and device-code approval for one OAuthService."""

    def __init__(self, oauth: OAuthService) -> None:
        self._oauth = oauth

    async def check_authorize(self, segment: str, params: dict[str, str]) -> AuthorizeRequest:
        """Validate an authorization request.

        Raises:
            OAuthError: unknown tenant or client (AADSTS90002/700016), missing parameter (900144),
                a redirect URI outside the allowed set (50011), `response_type` other than `code`
                (70003 unsupported), an unknown PKCE method or a resource other than Graph.
        """
        client_id = required(params, "client_id")
        tenant, app, _ = await self._oauth.load(segment, client_id)
        redirect_uri = required(params, "redirect_uri")
        if not redirect_allowed(redirect_uri):
            raise oauth_error(50011, uri=redirect_uri, client_id=client_id)
        if params.get("response_type", "") != "code":
            raise OAuthError(
                400, "unsupported_response_type", "The response_type must be 'code' on this server.", [70003]
            )
        method = params.get("code_challenge_method") or "plain"
        if method not in ("S256", "plain"):
            raise oauth_error(900144, name="code_challenge_method")
        scope = required(params, "scope")
        scopes = Scopes(scope, tenant)
        mode = params.get("response_mode") or "query"
        if mode not in ("query", "form_post"):
            raise oauth_error(900144, name="response_mode")
        return AuthorizeRequest(
            tenant=tenant,
            app=app,
            redirect_uri=redirect_uri,
            state=params.get("state"),
            scope=scope,
            permissions=tuple(scopes.granted(app)),
            oidc=tuple(scopes.oidc),
            challenge=params.get("code_challenge") or None,
            method=method,
            nonce=params.get("nonce") or None,
            response_mode=mode,
            login_hint=params.get("login_hint", ""),
        )

    async def sign_in(self, request: AuthorizeRequest, username: str, password: str) -> dict[str, str]:
        """Check the user's password; the parameters to send back to the redirect URI with a code.

        Raises:
            OAuthError: wrong username or password (AADSTS50126), disabled account (50057).
        """
        user = await self._oauth.check_password(request.tenant, username, password)
        grant = Grant(
            request.tenant.id,
            request.app.client_id,
            user.id,
            request.permissions,
            request.oidc,
            request.nonce,
        )
        code = await self._oauth.flows.new_code(
            grant, request.redirect_uri, request.challenge, request.method
        )
        params = {"code": code}
        if request.state is not None:
            params["state"] = request.state
        return params

    async def device_authorization(self, segment: str, form: dict[str, str], base: str) -> dict[str, object]:
        """Start a device-code flow (RFC 8628 §3.2); the client then polls the token endpoint."""
        client_id = required(form, "client_id")
        tenant, app, _ = await self._oauth.load(segment, client_id)
        scope = required(form, "scope")
        Scopes(
            scope, tenant, own_base=base
        )  # refuse foreign resources now rather than at the end of the flow
        if not app.allow_public_client and app.secret_hash is None:
            raise oauth_error(7000218)
        device_code, record = await self._oauth.flows.new_device(tenant.id, app.client_id, scope, base)
        uri = f"{base}/devicelogin"
        return {
            "user_code": record.user_code,
            "device_code": device_code,
            "verification_uri": uri,
            "expires_in": DEVICE_TTL_S,
            "interval": DEVICE_INTERVAL_S,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the code "
            f"{record.user_code} to authenticate.",
        }

    async def approve_device(self, user_code: str, username: str, password: str, *, consent: bool) -> str:
        """The verification page's form: sign the user in and grant (or decline) the device's request.

        Returns:
            The display name of the app that was approved or declined.

        Raises:
            OAuthError: unknown or expired code (AADSTS70019), wrong credentials (50126).
        """
        flows = self._oauth.flows
        device = await flows.device_by_user_code(user_code)
        if device is None:
            raise oauth_error(70019)
        tenant, app, _ = await self._oauth.load(device.tenant_id, device.client_id)
        user = await self._oauth.check_password(tenant, username, password)
        grant = None
        if consent:
            scopes = Scopes(device.scope, tenant, own_base=device.base or None)
            grant = Grant(tenant.id, app.client_id, user.id, tuple(scopes.granted(app)), tuple(scopes.oidc))
        if not await flows.decide_device(device.user_code, grant):  # decided meanwhile (another page)
            raise oauth_error(70019)
        return app.display_name
