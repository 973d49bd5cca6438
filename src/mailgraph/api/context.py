"""Per-request context: the services, the caller (`Actor`), and Graph link building."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import orjson

from mailgraph.api.http import JSON_TYPE, Request, Response
from mailgraph.api.router import Match
from mailgraph.auth.oauth import OAuthService
from mailgraph.auth.tokens import TokenService
from mailgraph.domain.folders import FolderService
from mailgraph.domain.messages import MessageService
from mailgraph.domain.model import Actor
from mailgraph.domain.sending import SendService


@dataclass(frozen=True, slots=True)
class Services:
    """The domain services and auth services the handlers call."""

    messages: MessageService
    folders: FolderService
    sending: SendService
    tokens: TokenService
    oauth: OAuthService


@dataclass(slots=True)
class Ctx:
    """One authenticated Graph request."""

    req: Request
    services: Services
    actor: Actor
    match: Match
    hide_body: bool = False

    @property
    def root(self) -> str:
        """`https://host/v1.0` as the client called it."""
        return f"{self.req.base_url}/{self.match.version}"

    def user_segment(self, owner_id: str) -> str:
        """`users('…')` echoing the key the caller used (GUID or URL-encoded UPN, spec §0.4)."""
        key = self.match.user_key if self.match.user_key is not None else owner_id
        return f"users('{quote(key, safe='')}')"

    def context(self, fragment: str) -> str:
        """An `@odata.context` URL."""
        return f"{self.root}/$metadata#{fragment}"


def json_response(
    payload: object, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None
) -> Response:
    """A Graph JSON response."""
    return Response(status, orjson.dumps(payload), JSON_TYPE, headers or [])


def accepted() -> Response:
    """202 with an empty body and **no Content-Type** (client-wire fact 1: graph-client JS fails otherwise)."""
    return Response(202)


def no_content() -> Response:
    """204."""
    return Response(204)
