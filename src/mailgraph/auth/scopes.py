"""The token request's parameters: the `{tenant}` path segment, required fields, and `scope`.

`scope` mixes Graph permissions (`https://graph.microsoft.com/Mail.Send`, bare `Mail.Send`, or
`…/.default` for everything consented) with the OpenID Connect scopes MSAL adds to user flows. Two
resources are known: Graph, and Exchange Online (`https://outlook.office.com/SMTP.Send` or
`…/.default`, for SMTP AUTH with XOAUTH2, issue 16); one request names one of them (AADSTS28000, as
Entra), any other resource is refused as Entra refuses unknown resources (AADSTS500011).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from mailgraph.auth.oauth_errors import oauth_error as _error
from mailgraph.auth.permissions import OUTLOOK_RESOURCE, for_resource
from mailgraph.auth.tokens import GRAPH_APP_ID, GRAPH_RESOURCE
from mailgraph.domain.model import App, Tenant

# OpenID Connect scopes MSAL adds to every user flow; they never reach the Graph token's `scp`.
OIDC_SCOPES: Final = ("openid", "profile", "offline_access", "email")
_GRAPH_RESOURCES: Final = frozenset({GRAPH_RESOURCE.casefold(), GRAPH_APP_ID})
# Exchange Online's identifier URIs and app id; Microsoft documents outlook.office365.com/.default for
# app-only SMTP/IMAP and outlook.office.com/SMTP.Send for delegated, both name the same resource.
_OUTLOOK_RESOURCES: Final = frozenset(
    {"https://outlook.office.com", "https://outlook.office365.com", "00000002-0000-0ff1-ce00-000000000000"}
)


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


def required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value.strip():  # returned unstripped: a password may begin or end with a space
        raise _error(900144, name=name)
    return value


def _is_host(resource: str, host: str | None) -> bool:
    try:
        parts = urlsplit(resource)
        return (
            host is not None
            and parts.scheme == "https"
            and parts.hostname == host
            and parts.path in ("", "/")
        )
    except ValueError:
        return False


class Scopes:
    """A requested `scope` parameter, split into Graph permissions and OpenID Connect scopes."""

    def __init__(self, raw: str, tenant: Tenant, *, own_base: str | None = None) -> None:
        """Split `raw`; `own_base` (this server's `scheme://host[:port]`) also names Graph.

        Kiota's auth provider asks for `{scheme}://{host of the request}/.default` when given no scopes,
        so with a self-hosted base URL that is this server's own host: it means Graph here.
        """
        own_host = urlsplit(own_base).hostname if own_base else None
        self.default = False  # `{graph}/.default` was requested
        self.only_default = True  # ... and nothing else
        self.names: list[str] = []
        self.oidc: list[str] = []
        self.outlook = False  # the resource is Exchange Online (else Graph)
        resources: set[bool] = set()
        for scope in raw.split():
            if scope.casefold() in OIDC_SCOPES:
                self.oidc.append(scope.casefold())
                self.only_default = False
                continue
            resource, slash, name = scope.rpartition("/")
            if not slash:  # a bare permission name means Graph, Entra's default resource
                resource, name = GRAPH_RESOURCE, scope
            # rstrip: Entra tolerates the common `https://graph.microsoft.com//.default` typo.
            key = resource.rstrip("/").casefold()
            if key in _OUTLOOK_RESOURCES:
                resources.add(True)
            elif key in _GRAPH_RESOURCES or _is_host(resource, own_host):
                resources.add(False)
            else:
                raise _error(500011, resource=resource, tenant=tenant.display_name)
            if name == ".default":
                self.default = True
            else:
                self.names.append(name)
                self.only_default = False
        if len(resources) > 1:
            raise _error(28000)
        self.outlook = resources == {True}

    @property
    def resource(self) -> str:
        """The `aud` of the token these scopes ask for."""
        return OUTLOOK_RESOURCE if self.outlook else GRAPH_RESOURCE

    def granted(self, app: App) -> list[str]:
        """Requested permissions the app holds (all of them for `.default`), in the app's order.

        Entra grants only consented permissions; asking for others is not an error.
        """
        wanted = {n.casefold() for n in self.names}
        perms = for_resource(app.delegated_permissions, self.outlook)
        perms = [p for p in perms if p.casefold() not in OIDC_SCOPES]
        return [p for p in perms if self.default or p.casefold() in wanted]
