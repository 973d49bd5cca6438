"""What a Graph access token must say: Graph's audiences and issuer, the 401 messages, the `Claims`.

Shared by this server's own tokens (`tokens`) and the external identity provider mode (`external`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeGuard

from mailgraph.domain.model import Actor

GRAPH_APP_ID: Final = "00000003-0000-0000-c000-000000000000"
GRAPH_RESOURCE: Final = "https://graph.microsoft.com"
# Spec §4.2: Graph accepts its URI (with or without the trailing slash) and its app id as audience.
GRAPH_AUDIENCES: Final = frozenset({GRAPH_RESOURCE, GRAPH_RESOURCE + "/", GRAPH_APP_ID})
# Exchange Online (SMTP AUTH with XOAUTH2, issue 16): its URIs and the Office 365 Exchange Online app id.
OUTLOOK_AUDIENCES: Final = frozenset(
    {
        "https://outlook.office.com",
        "https://outlook.office.com/",
        "https://outlook.office365.com",
        "https://outlook.office365.com/",
        "00000002-0000-0ff1-ce00-000000000000",
    }
)
# Every audience an access token of ours may have; each caller then accepts its own (`Claims.audience`).
ACCESS_AUDIENCES: Final = GRAPH_AUDIENCES | OUTLOOK_AUDIENCES
CLOCK_SKEW_S: Final = 300  # the 5 minutes of clock skew Entra-protected APIs tolerate

EMPTY: Final = "Access token is empty."
MALFORMED: Final = "CompactToken parsing failed with error code: 80049217"
EXPIRED: Final = "Access token has expired or is not yet valid."
INVALID: Final = "Access token validation failure."


class TokenError(Exception):
    """An access token that must be refused; `message` is Graph's text for the 401 response."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified access token says about its caller."""

    tenant_id: str
    object_id: str
    app_id: str
    kind: Literal["user", "app"]
    permissions: frozenset[str]
    upn: str | None
    expires_at: int
    """The `exp` claim: seconds since the epoch."""
    audience: str = ""
    """The `aud` claim (one of `ACCESS_AUDIENCES` for our tokens; empty for external ones)."""

    def actor(self) -> Actor:
        """The domain's view of the caller."""
        user_id = self.object_id if self.kind == "user" else None
        return Actor(self.kind, self.tenant_id, self.app_id, user_id, self.permissions)


def v1_issuer(tenant_id: str) -> str:
    """The `iss` of the v1.0-format tokens Graph accepts (spec §4.2)."""
    return f"https://sts.windows.net/{tenant_id}/"


def check_access_claims(
    c: dict[str, object], now: float, tenant_id: str | None, audiences: frozenset[str] = GRAPH_AUDIENCES
) -> Claims:
    """The claims of a signature-checked access token, validated as Graph validates them (spec §4.2).

    Raises:
        TokenError: outside its validity window (EXPIRED) or not a Graph access token of the expected
            tenant (INVALID).
    """
    check_claim_types(c, GRAPH_CLAIM_TYPES)
    exp, nbf = c.get("exp"), c.get("nbf")
    if not is_time(exp) or not is_time(nbf):
        raise TokenError(INVALID)
    if now > exp + CLOCK_SKEW_S or now < nbf - CLOCK_SKEW_S:
        raise TokenError(EXPIRED)
    tid, oid, appid = c.get("tid"), c.get("oid"), c.get("appid")
    if not (isinstance(tid, str) and isinstance(oid, str) and isinstance(appid, str)):
        raise TokenError(INVALID)
    aud = c.get("aud")
    if (
        not isinstance(aud, str)
        or aud not in audiences
        or c.get("iss") != v1_issuer(tid)
        or c.get("ver") != "1.0"
    ):
        raise TokenError(INVALID)
    if tenant_id is not None and tid != tenant_id:
        raise TokenError(INVALID)
    roles, scp = c.get("roles"), c.get("scp")
    # Spec §4.2: `idtyp` is optional; a token with roles and no scp is app-only.
    idtyp = c.get("idtyp") or ("app" if roles is not None and scp is None else "user")
    kind: Literal["user", "app"]
    if idtyp == "app" and isinstance(roles, list) and all(isinstance(r, str) for r in roles):
        kind, permissions = "app", frozenset(roles)
    elif idtyp == "user" and isinstance(scp, str):
        kind, permissions = "user", frozenset(scp.split())
    else:
        raise TokenError(INVALID)
    upn = c.get("upn") or c.get("unique_name")
    return Claims(
        tenant_id=tid,
        object_id=oid,
        app_id=appid,
        kind=kind,
        permissions=permissions,
        upn=upn if isinstance(upn, str) else None,
        expires_at=int(exp),
        audience=aud,
    )


def is_time(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_str(value: object) -> bool:
    return isinstance(value, str)


def is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def is_audience(value: object) -> bool:
    """RFC 7519 §4.1.3: one string or an array of strings (external issuers use both)."""
    return is_str(value) or is_str_list(value)


ClaimCheck = Callable[[object], bool]

# The type of every claim this server reads from its own tokens. Entra's v1 access tokens carry a
# single-string `aud`, so an array is refused too (issue 17: an array used to reach a set lookup and
# raise TypeError → 500). Unknown claims are ignored, as Graph ignores them.
GRAPH_CLAIM_TYPES: Final[Mapping[str, ClaimCheck]] = {
    **dict.fromkeys(
        ("aud", "iss", "tid", "oid", "appid", "ver", "idtyp", "scp", "upn", "unique_name"), is_str
    ),
    **dict.fromkeys(("exp", "nbf", "iat"), is_time),
    "roles": is_str_list,
}


def check_claim_types(c: Mapping[str, object], types: Mapping[str, ClaimCheck]) -> None:
    """Refuse (INVALID → 401) a token in which a claim this server reads has an unexpected JSON type.

    Checked once, before any claim is used, so no later comparison, set lookup or split can meet a
    list, an object, a number or null where it expects a string (which raised TypeError → 500).
    """
    for name, ok in types.items():
        if name in c and not ok(c[name]):
            raise TokenError(INVALID)
