"""Microsoft-shaped OAuth errors of the token, authorize and device-code endpoints (spec §4.1).

Each refusal is one AADSTS code with Entra's text (AADSTS error reference), the RFC 6749 §5.2 `error`
and the HTTP status; `OAuthError.body` renders the JSON Entra sends, with trace and correlation ids.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

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
    28000: (
        400,
        "invalid_scope",
        "Provided value for the input parameter scope is not valid because it contains more than one resource.",
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
    700027: (
        401,
        "invalid_client",
        "The certificate with identifier used to sign the client assertion is not registered on application "
        "'{client_id}'.",
    ),
    70000: (400, "invalid_grant", "Provided grant is invalid or malformed."),
    70008: (
        400,
        "invalid_grant",
        "The provided authorization code or refresh token has expired due to inactivity. Send a new "
        "interactive authorization request for this user and resource.",
    ),
    54005: (
        400,
        "invalid_grant",
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
        "existing refresh token.",
    ),
    50148: (
        400,
        "invalid_grant",
        "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
    ),
    50011: (
        400,
        "invalid_request",
        "The redirect URI '{uri}' specified in the request does not match the redirect URIs configured "
        "for the application '{client_id}'.",
    ),
    70016: (
        400,
        "authorization_pending",
        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
    ),
    70019: (400, "expired_token", "Verification code expired."),
    70020: (400, "authorization_declined", "The user declined to sign in."),
    70018: (400, "slow_down", "Polling too fast; wait `interval` seconds between requests."),
    65001: (
        400,
        "invalid_grant",
        "The user or administrator has not consented to use the application with ID '{client_id}'.",
    ),
    700021: (
        401,
        "invalid_client",
        "Client assertion application identifier doesn't match 'client_id' parameter.",
    ),
    700024: (401, "invalid_client", "Client assertion is not within its valid time range."),
    700023: (401, "invalid_client", "Client assertion audience claim does not match Realm issuer."),
    700026: (401, "invalid_client", "Client assertion failed signature validation."),
    700025: (
        401,
        "invalid_client",
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
    ),
    50027: (401, "invalid_client", "JWT token is invalid or malformed."),
    50126: (400, "invalid_grant", "Error validating credentials due to invalid username or password."),
    50057: (400, "invalid_grant", "The user account is disabled."),
    # Smart lockout (issue 17): Entra's IdsLocked text for users; for a client secret, our own wording
    # under the same code and `invalid_client` (Entra has no client lockout to copy).
    50053: (
        400,
        "invalid_grant",
        "Your account is locked because you've tried to sign in too many times with an incorrect user ID "
        "or password.",
    ),
}
_CLIENT_LOCKED: Final = (
    "The client application '{client_id}' is locked because it tried to authenticate too many times "
    "with an invalid client secret. Try again later."
)


def client_locked(client_id: str) -> OAuthError:
    """AADSTS50053 for a client whose secret failed too often (401 invalid_client, like a wrong secret)."""
    return OAuthError(401, "invalid_client", _CLIENT_LOCKED.format(client_id=client_id), [50053])


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


def oauth_error(code: int, **args: str) -> OAuthError:
    status, error, text = _ERRORS[code]
    return OAuthError(status, error, text.format(**args), [code])
