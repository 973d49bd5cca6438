"""What runs around a Graph handler when throttling or fault rules are on: faults first, then limits.

`GraphHandler` calls `Guard.run` only while `active` (a throttling profile is set somewhere, or a fault
rule exists); otherwise the request goes straight to its handler. A fault fires *before* the handler,
so an injected failure never leaves a half-done operation (a send answered 503 was not sent).
A `reset` rule raises `InjectedReset`, which no error mapping catches: the ASGI app drops the
connection mid-response (a `$batch` containing such an item is dropped as a whole).
"""

from __future__ import annotations

import asyncio

from mailgraph.api.context import Ctx
from mailgraph.api.errors import error_body
from mailgraph.api.http import JSON_TYPE, Response
from mailgraph.api.router import Handler, Match
from mailgraph.api.throttle import Throttle
from mailgraph.domain.faults import FaultRule, FaultService
from mailgraph.domain.model import Actor, User
from mailgraph.domain.ports import Tx, UnitOfWork

# Graph's codes for the statuses a rule may inject (spec §5; errors.md); others get UnknownError.
_CODES = {
    429: ("ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
    500: ("generalException", "An internal server error occurred."),
    502: ("BadGateway", "The service is temporarily unreachable."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable. Please retry later."),
    504: ("GatewayTimeout", "The service did not answer in time."),
}


class InjectedReset(BaseException):  # a BaseException: no error mapping turns it into a 500
    """A fault rule asked for the connection to be dropped."""


def fault_response(rule: FaultRule, request_id: str, client_request_id: str) -> Response:
    """The Graph error response a rule injects (Retry-After on 429/503 unless the rule says otherwise)."""
    status = rule.status or 500
    code, message = _CODES.get(status, ("UnknownError", "Injected failure."))
    body = error_body(rule.code or code, rule.message or message, request_id, client_request_id)
    retry = rule.retry_after_s if rule.retry_after_s is not None else 1 if status in (429, 503) else None
    headers = [] if retry is None else [(b"retry-after", str(retry).encode())]
    return Response(status, body, JSON_TYPE, headers)


class Guard:
    """Fault rules and throttling around one Graph request."""

    def __init__(self, throttle: Throttle, faults: FaultService, uow: UnitOfWork) -> None:
        self.throttle = throttle
        self.faults = faults
        self._uow = uow
        self._names: dict[tuple[str, str], tuple[str, ...]] = {}

    @property
    def active(self) -> bool:
        """Whether there is anything to do (checked per request: two attribute reads)."""
        return self.faults.active or self.throttle.active

    async def run(self, ctx: Ctx, handler: Handler, match: Match) -> Response:
        """The response of `handler`, unless a fault rule or a limit answers first."""
        req, actor = ctx.req, ctx.actor
        mailbox = await self.mailbox(actor, match.user_key)
        delay = 0.0
        if self.faults.active:
            path = req.raw_path.decode("latin-1").split("/", 2)[-1]
            rule = await self.faults.check("http", req.method, "/" + path, mailbox, actor.app_id)
            if rule is not None:
                delay = rule.latency_ms / 1000
                if rule.reset or rule.status is not None:
                    if delay:
                        await asyncio.sleep(delay)
                    if rule.reset:
                        raise InjectedReset(rule.id)
                    return fault_response(rule, req.request_id, req.client_request_id)
        limits = self.throttle.limits_for(actor.tenant_id, mailbox) if self.throttle.active else None
        if limits is None:
            if delay:
                await asyncio.sleep(delay)
            return await handler(req, ctx, match)
        key = (actor.app_id, mailbox[0])
        self.throttle.enter(key, limits, req.method, len(req.body))
        try:  # injected latency is a slow request: it holds its concurrency slot, as on Graph
            if delay:
                await asyncio.sleep(delay)
            return await handler(req, ctx, match)
        finally:
            self.throttle.leave(key)

    async def mailbox(self, actor: Actor, user_key: str | None) -> tuple[str, ...]:
        """The addressed mailbox's names: (user id, UPN, mail), or the key as given if unknown.

        Cached per process: directory changes of a user's names are rare, and only affect which
        rule or profile matches (the request itself resolves the mailbox again).
        """
        # /me is the caller's own mailbox: keyed by the caller (a user id never contains "@" or "/").
        cache_key = (actor.tenant_id, user_key.casefold() if user_key is not None else f"/me/{actor.user_id}")
        names = self._names.get(cache_key)
        if names is None:
            tenant, wanted = actor.tenant_id, user_key
            user_id = actor.user_id

            async def look(tx: Tx) -> User | None:
                if wanted is None:
                    return await tx.directory.get_user(user_id) if user_id else None
                return await tx.directory.find_user(tenant, wanted) or await tx.directory.get_user(wanted)

            user = await self._uow.read(look)
            if user is not None and user.tenant_id == tenant:
                names = tuple(n.casefold() for n in (user.id, user.user_principal_name, user.mail) if n)
            else:
                names = ((wanted or user_id or "").casefold(),)
            if len(self._names) > 10_000:
                self._names.clear()
            self._names[cache_key] = names
        return names
