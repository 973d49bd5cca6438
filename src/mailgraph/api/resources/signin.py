"""The identity platform's browser pages and the device-code endpoint (spec §4.1).

- `/{tenant}/oauth2/v2.0/authorize` (GET shows, POST submits): a minimal sign-in page, username and
  password plus consent to the requested permissions; success redirects to the client's redirect URI
  with `code` and `state` (or posts them, `response_mode=form_post`). Declining redirects with
  `error=access_denied` (RFC 6749 §4.1.2.1). Invalid requests are shown, never redirected.
- `/{tenant}/oauth2/v2.0/devicecode` (POST): starts the device code flow (RFC 8628 §3.2).
- `/devicelogin` (GET shows, POST submits): where the user types the device's code and signs in.
- `/{tenant}/oauth2/v2.0/logout`: nothing to end (no browser session is kept); says so.

Pages escape every echoed value, forbid framing (clickjacking) and load nothing external.
"""

from __future__ import annotations

import html
import uuid
from typing import Final
from urllib.parse import parse_qsl

import orjson

from mailgraph.api.http import Request, Response
from mailgraph.auth.interactive import AuthorizeRequest, redirect_with
from mailgraph.auth.oauth import OAuthError, OAuthService

_HTML: Final = b"text/html; charset=utf-8"
_JSON: Final = b"application/json; charset=utf-8"
_HEADERS: Final = [
    (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'",
    ),
]
_STYLE: Final = (
    "body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}"
    "input[type=text],input[type=password]{width:100%;padding:.4rem;margin:.2rem 0 .8rem}"
    ".err{color:#a00}button{padding:.4rem 1rem;margin-right:.5rem}"
)
_AUTHORIZE_FIELDS: Final = (
    *("client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge"),
    *("code_challenge_method", "nonce", "response_mode", "login_hint", "prompt"),
)


def _page(title: str, body: str, status: int = 200) -> Response:
    text = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Response(status, text.encode(), _HTML, list(_HEADERS))


def _error_page(err: OAuthError) -> Response:
    return _page(
        "Sign-in error", f"<p class='err'>{html.escape(str(err))}</p>", 400 if err.status < 500 else 500
    )


def _form(req: Request) -> dict[str, str]:
    if req.method != "POST":
        return dict(parse_qsl(req.query, keep_blank_values=True))
    try:
        return dict(parse_qsl(req.body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def _hidden(params: dict[str, str], names: tuple[str, ...]) -> str:
    return "".join(
        f"<input type='hidden' name='{n}' value='{html.escape(params[n], quote=True)}'>"
        for n in names
        if n in params
    )


def _sign_in_page(request: AuthorizeRequest, params: dict[str, str], problem: str = "") -> Response:
    perms = "".join(f"<li>{html.escape(p)}</li>" for p in request.permissions) or "<li>(sign-in only)</li>"
    user = html.escape(params.get("username") or request.login_hint, quote=True)
    body = (
        f"<p><b>{html.escape(request.app.display_name)}</b> asks to sign you in to "
        f"{html.escape(request.tenant.display_name)} and to use these permissions:</p><ul>{perms}</ul>"
        + (f"<p class='err'>{html.escape(problem)}</p>" if problem else "")
        + "<form method='post'>"
        + _hidden(params, _AUTHORIZE_FIELDS)
        + f"<label>Username<input type='text' name='username' value='{user}' autocomplete='username'></label>"
        + "<label>Password<input type='password' name='password' autocomplete='current-password'></label>"
        + "<button name='consent' value='accept'>Accept and sign in</button>"
        + "<button name='consent' value='decline'>Cancel</button></form>"
    )
    return _page("Sign in", body)


def _back_to_client(request: AuthorizeRequest, params: dict[str, str]) -> Response:
    """Send the result to the redirect URI: a 302 with a query, or an auto-submitted form_post."""
    if request.response_mode == "form_post":
        fields = "".join(
            f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v, quote=True)}'>"
            for k, v in params.items()
        )
        body = (
            f"<form method='post' action='{html.escape(request.redirect_uri, quote=True)}'>{fields}"
            "<noscript><button>Continue</button></noscript></form>"
            "<script>document.forms[0].submit()</script>"
        )
        return _page("Signing you in", body)
    location = redirect_with(request.redirect_uri, params)
    return Response(302, b"", None, [(b"location", location.encode()), *_HEADERS])


async def authorize(req: Request, oauth: OAuthService, segment: str) -> Response:
    """GET: the sign-in page for a valid request; POST: sign in, consent, redirect with a code."""
    params = _form(req)
    try:
        request = await oauth.interactive.check_authorize(segment, params)
    except OAuthError as err:
        return _error_page(err)
    if req.method != "POST":
        return _sign_in_page(request, params)
    if params.get("consent") != "accept":
        declined = {"error": "access_denied", "error_description": "AADSTS65004: User declined to consent."}
        return _back_to_client(request, declined | ({"state": request.state} if request.state else {}))
    try:
        result = await oauth.interactive.sign_in(
            request, params.get("username", ""), params.get("password", "")
        )
    except OAuthError as err:
        return _sign_in_page(request, params, str(err))
    return _back_to_client(request, result)


async def devicecode(req: Request, oauth: OAuthService, segment: str) -> Response:
    """POST `/{tenant}/oauth2/v2.0/devicecode`: the device authorization response (JSON)."""
    try:
        if req.method != "POST":
            raise OAuthError(405, "invalid_request", "The devicecode endpoint only accepts POST.", [900561])
        body = await oauth.interactive.device_authorization(segment, _form(req), req.base_url)
        return Response(200, orjson.dumps(body), _JSON, [(b"cache-control", b"no-store")])
    except OAuthError as err:
        correlation = req.headers.get("client-request-id") or str(uuid.uuid4())
        payload = err.body(trace_id=req.request_id, correlation_id=correlation)
        return Response(err.status, orjson.dumps(payload), _JSON, [(b"cache-control", b"no-store")])


async def devicelogin(req: Request, oauth: OAuthService) -> Response:
    """GET: the code + sign-in form; POST: approve (or decline) the device's request."""
    params = _form(req)
    problem = ""
    if req.method == "POST":
        try:
            app_name = await oauth.interactive.approve_device(
                params.get("user_code", ""),
                params.get("username", ""),
                params.get("password", ""),
                consent=params.get("consent") == "accept",
            )
        except OAuthError as err:
            problem = str(err)
        else:
            verb = "signed in to" if params.get("consent") == "accept" else "declined"
            return _page(
                "Done", f"<p>You have {verb} {html.escape(app_name)}. You may close this window.</p>"
            )
    code = html.escape(params.get("user_code", ""), quote=True)
    user = html.escape(params.get("username", ""), quote=True)
    body = (
        (f"<p class='err'>{html.escape(problem)}</p>" if problem else "")
        + "<form method='post'>"
        + f"<label>Code<input type='text' name='user_code' value='{code}' autocomplete='off'></label>"
        + f"<label>Username<input type='text' name='username' value='{user}' autocomplete='username'></label>"
        + "<label>Password<input type='password' name='password' autocomplete='current-password'></label>"
        + "<button name='consent' value='accept'>Sign in</button>"
        + "<button name='consent' value='decline'>Decline</button></form>"
    )
    return _page("Enter code", body)


def logout() -> Response:
    """No browser session is kept, so there is nothing to end."""
    return _page("Signed out", "<p>You are signed out. You may close this window.</p>")
