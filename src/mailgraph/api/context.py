"""Per-request context: the services, the caller (`Actor`), and Graph link building."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

import orjson

from mailgraph.api.http import JSON_TYPE, Request, Response
from mailgraph.api.prefer import Preferences, parse_prefer
from mailgraph.api.router import Match, quote_key
from mailgraph.auth.oauth import OAuthService
from mailgraph.auth.tokens import TokenService
from mailgraph.domain import quoting
from mailgraph.domain.attachments import AttachmentService
from mailgraph.domain.categories import CategoryService
from mailgraph.domain.delta import DeltaService
from mailgraph.domain.exchange_ids import ExchangeIdService
from mailgraph.domain.extensions import ExtensionService
from mailgraph.domain.folders import FolderService
from mailgraph.domain.inference import OverrideService
from mailgraph.domain.mailbox_settings import MailboxSettingsService
from mailgraph.domain.message_rules import MessageRuleService
from mailgraph.domain.messages import MessageService
from mailgraph.domain.mime_items import MimeService
from mailgraph.domain.model import Actor, Message
from mailgraph.domain.moves import MoveService
from mailgraph.domain.replies import ReplyService
from mailgraph.domain.sending import SendService
from mailgraph.domain.uploads import UploadService
from mailgraph.domain.users import UserService
from mailgraph.domain.webhooks import SubscriptionService


@dataclass(frozen=True, slots=True)
class Services:
    """The domain services and auth services the handlers call."""

    messages: MessageService
    folders: FolderService
    sending: SendService
    tokens: TokenService
    oauth: OAuthService
    replies: ReplyService
    moves: MoveService
    attachments: AttachmentService
    uploads: UploadService
    mime: MimeService
    delta: DeltaService
    users: UserService
    rules: MessageRuleService
    settings: MailboxSettingsService
    subscriptions: SubscriptionService | None = None
    """Change notifications (issue 12); None where a test builds services without them."""
    categories: CategoryService | None = None
    """The master category list (issue 15)."""
    exchange_ids: ExchangeIdService | None = None
    """translateExchangeIds (issue 15)."""
    overrides: OverrideService | None = None
    """Focused Inbox overrides (issue 15)."""
    extensions: ExtensionService | None = None
    """Open extensions and extended-property reads (issue 15)."""


class InnerHandler(Protocol):
    """What runs one Graph request for a known caller (api/handler.py `GraphHandler`): `$batch` items."""

    async def handle(self, req: Request, actor: Actor) -> Response:
        """The item's response; never raises."""
        ...


@dataclass(slots=True)
class Ctx:
    """One authenticated Graph request."""

    req: Request
    services: Services
    actor: Actor
    match: Match
    hide_body: bool = False
    applied: list[str] = field(default_factory=list)
    """The `Preference-Applied` values of this response (RFC 7240 §3); api/handler.py writes the header."""
    _prefer: Preferences | None = None
    graph: InnerHandler | None = None
    """The handler that runs this request, for `$batch` to run its items through (api/batch.py)."""

    @property
    def prefer(self) -> Preferences:
        """The request's `Prefer` preferences (spec §0.2), parsed once."""
        if self._prefer is None:
            self._prefer = parse_prefer(self.req.headers.get("prefer", ""))
        return self._prefer

    def apply(self, preference: str) -> None:
        """Record a preference as honoured (echoed once in `Preference-Applied`)."""
        if preference not in self.applied:
            self.applied.append(preference)

    def present(self, message: Message) -> Message:
        """The message as this request asked to see it: immutable ids, body format (spec §0.2, §3.5)."""
        prefer = self.prefer
        if prefer.immutable_ids:
            message = replace(message, rest_id=message.id)
            self.apply('IdType="ImmutableId"')
        if prefer.body_type is not None and self.req.method == "GET":
            # outlook.body-content-type governs reads only (message-get.md).
            message = replace(message, body=quoting.convert(message.body, prefer.body_type))
            self.apply(f'outlook.body-content-type="{prefer.body_type}"')
        return message

    def present_all(self, messages: list[Message]) -> list[Message]:
        """`present` for each listed message; the list itself when no preference changes them."""
        prefer = self.prefer
        if not prefer.immutable_ids and (prefer.body_type is None or self.req.method != "GET"):
            return messages
        return [self.present(m) for m in messages]

    def page_size(self, top: int | None, default: int) -> int:
        """The size of a list page: `$top`, else `Prefer: odata.maxpagesize` (echoed as applied), else `default`."""
        if top is not None:
            return top
        size = self.prefer.max_page_size
        if size is None:
            return default
        self.apply(f"odata.maxpagesize={size}")
        return size

    @property
    def root(self) -> str:
        """`https://host/v1.0` as the client called it."""
        return f"{self.req.base_url}/{self.match.version}"

    def user_segment(self, owner_id: str) -> str:
        """`users('…')` echoing the key the caller used (GUID or URL-encoded UPN, spec §0.4)."""
        key = self.match.user_key if self.match.user_key is not None else owner_id
        return f"users('{quote_key(key)}')"

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
