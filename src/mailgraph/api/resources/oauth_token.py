"""The identity platform's token endpoint: `POST /{tenant}/oauth2/v2.0/token` (spec §4.1).

Transport only: form parsing, HTTP Basic client authentication, and Microsoft's JSON shapes; the
grants themselves live in auth/oauth.py.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from urllib.parse import parse_qsl, unquote

import orjson

from mailgraph.api.http import Request, Response
from mailgraph.auth.oauth import OAuthError, OAuthService

_JSON = b"application/json; charset=utf-8"
_NO_STORE = [(b"cache-control", b"no-store, no-cache"), (b"pragma", b"no-cache")]


def _form(req: Request) -> dict[str, str]:
    if req.content_type not in ("application/x-www-form-urlencoded", ""):
        raise OAuthError(400, "invalid_request", "The request body must be form-urlencoded.", [900144])
    try:
        pairs = parse_qsl(req.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError(400, "invalid_request", "The request body could not be parsed.", [900144]) from None
    form = {k: v for k, v in pairs}
    auth = req.headers.get("authorization", "")
    if auth[:6].lower() == "basic ":
        # RFC 6749 §2.3.1: client_secret_basic, both parts form-urlencoded before base64.
        try:
            user, _, secret = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError(
                401, "invalid_client", "The client credentials are malformed.", [7000215]
            ) from None
        form.setdefault("client_id", unquote(user))
        form.setdefault("client_secret", unquote(secret))
    return form


async def token(req: Request, oauth: OAuthService, tenant_segment: str) -> Response:
    """Answer a token request with a token or an OAuth error body."""
    correlation = req.headers.get("client-request-id") or str(uuid.uuid4())
    try:
        if req.method != "POST":
            raise OAuthError(405, "invalid_request", "The token endpoint only accepts POST.", [900561])
        body = await oauth.token(tenant_segment, _form(req), issuer_base=req.base_url)
        return Response(200, orjson.dumps(body), _JSON, list(_NO_STORE))
    except OAuthError as err:
        payload = err.body(trace_id=req.request_id, correlation_id=correlation)
        return Response(err.status, orjson.dumps(payload), _JSON, list(_NO_STORE))
