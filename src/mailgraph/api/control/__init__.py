"""The test-control namespace `/_mailgraph/…`: its credential, its routing, its errors, its mount.

Every request needs `Authorization: Bearer <admin token>` (the token of `/admin`, docs/workbench.md);
Graph tokens are refused, since these operations span whole tenants. Errors are JSON in Graph's
error shape (`{"error": {"code", "message", …}}`), domain errors mapped as Graph maps them
(api/errors.py), so a client library's error handling works here too.

Resources live one module per resource (tenants.py, mail.py, events.py; queue.py and faults.py of
issue 13, registered by wiring with `ControlApi.add`) and declare `ControlRoute`s: a method, a path pattern below
`/_mailgraph` whose `{name}` segments become arguments, and an async handler. The table is searched
in order; a path that matches a pattern but not its method answers 405 with `Allow`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from mailgraph.api.control.fanout import EventHub
from mailgraph.api.describe import PathOp
from mailgraph.api.errors import error_body, to_response
from mailgraph.api.http import Request, Response
from mailgraph.api.mounts import Mount
from mailgraph.auth.keyring import KeyRing
from mailgraph.auth.passwords import hash_generated_secret, hash_secret, verify_secret
from mailgraph.auth.tokens import TokenService
from mailgraph.delivery.queue import QueueAdmin
from mailgraph.domain.attachments import AttachmentService
from mailgraph.domain.changes import AfterCommit
from mailgraph.domain.directory import Secrets
from mailgraph.domain.model import SECOND, Timestamp
from mailgraph.domain.ports import UnitOfWork
from mailgraph.domain.waiting import MailFinder
from mailgraph.domain.workbench import WorkbenchService

PREFIX = "_mailgraph"
JSON = b"application/json; charset=utf-8"


class ControlError(Exception):
    """A control request that cannot be answered: becomes a JSON error with this status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class Control:
    """What the control resources work with."""

    workbench: WorkbenchService
    finder: MailFinder
    keyring: KeyRing
    tokens: TokenService
    queue: QueueAdmin
    signals: AfterCommit
    attachments: AttachmentService
    events: EventHub


ControlHandler = Callable[[Request, Control, dict[str, str]], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class ControlRoute:
    """One operation: `pattern` is the path below `/_mailgraph`, e.g. `tenants/{tenant}/reset`."""

    method: str
    pattern: str
    handler: ControlHandler
    summary: str = ""
    produces: str = "application/json"
    """The media type of a success (`text/event-stream` for an endless stream; `/openapi.json`)."""

    def match(self, parts: Sequence[str]) -> dict[str, str] | None:
        """The `{name}` arguments when `parts` (below the prefix) fit the pattern, else None."""
        want = self.pattern.split("/") if self.pattern else []
        if len(want) != len(parts):
            return None
        args: dict[str, str] = {}
        for w, got in zip(want, parts, strict=True):
            if w.startswith("{"):
                args[w[1:-1]] = got
            elif w != got:
                return None
        return args


class ControlApi:
    """Authenticates with the admin token, routes, and turns every failure into a JSON error."""

    def __init__(self, control: Control, token: str, routes: Sequence[ControlRoute]) -> None:
        self.control = control
        self.routes = list(routes)
        self._token = token.encode()

    def add(self, routes: Sequence[ControlRoute]) -> None:
        """More resources (the queue and faults of other issues plug in here)."""
        self.routes.extend(routes)

    def authorized(self, req: Request) -> bool:
        """Whether the request carries the admin bearer token (constant-time comparison)."""
        scheme, _, given = req.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token)

    async def serve(self, req: Request, parts: Sequence[str]) -> Response:
        """A mount handler (api/mounts.py) for `/_mailgraph/…`: the credential check, then `dispatch`."""
        if not self.authorized(req):
            response = error(
                req, 401, "InvalidAuthenticationToken", "The control API needs the admin bearer token."
            )
            response.headers.append((b"www-authenticate", b'Bearer realm="mailgraph-control"'))
            return response
        return await self.dispatch(req, parts[1:])

    async def dispatch(self, req: Request, below: Sequence[str]) -> Response:
        """Route an already authenticated request by its decoded segments below the prefix.

        Also the way in of an alias that checked the same credential itself (`/admin/queue…`,
        api/admin.py). Never raises (but cancellation).
        """
        try:
            allowed: list[str] = []
            for route in self.routes:
                args = route.match(below)
                if args is None:
                    continue
                if route.method == req.method:
                    return await route.handler(req, self.control, args)
                allowed.append(route.method)
            if allowed:
                response = error(
                    req, 405, "BadRequest", f"The HTTP method '{req.method}' is not allowed here."
                )
                response.headers.append((b"allow", ", ".join(sorted(set(allowed))).encode()))
                return response
            return error(req, 404, "ResourceNotFound", "No such control resource.")
        except ControlError as exc:
            return error(req, exc.status, exc.code, exc.message)
        except Exception as exc:  # domain errors map as Graph maps them; a bug becomes a 500
            return to_response(exc, req.request_id, req.client_request_id)

    def mount(self) -> Mount:
        """The mount of `/_mailgraph/…` (case-sensitive: a test API, one spelling)."""
        return Mount("control", (PREFIX,), self.serve, case_sensitive=True, describe=self.describe)

    def describe(self, prefix: str = PREFIX, only: str = "") -> list[PathOp]:
        """The routes as `/openapi.json` operations (the table as it is now: `add` included)."""
        return [
            PathOp(
                r.method,
                f"/{prefix}{r.pattern[len(only) :]}" if only else f"/{prefix}/{r.pattern}",
                r.summary or (r.handler.__doc__ or r.handler.__name__).strip().splitlines()[0],
                security="admin",
                body={"type": "object"} if r.method in ("POST", "PATCH", "PUT") else None,
                responses=(201,) if r.method == "POST" and r.pattern == "tenants" else (200,),
                produces=r.produces,
            )
            for r in self.routes
            if r.pattern == only or r.pattern.startswith(only)
        ]


def error(req: Request, status: int, code: str, message: str) -> Response:
    """A JSON error in Graph's shape."""
    return Response(status, error_body(code, message, req.request_id, req.client_request_id), JSON)


def json_response(payload: object, status: int = 200) -> Response:
    """A JSON response."""
    return Response(status, orjson.dumps(payload), JSON)


def query(req: Request) -> dict[str, str]:
    """The query string as a dict (the last of repeated names wins)."""
    return dict(parse_qsl(req.query, keep_blank_values=True))


def json_body(req: Request, *, required: bool = True) -> dict[str, Any]:
    """The request's JSON object. Raises ControlError 400 when it is not one."""
    if not req.body.strip():
        if required:
            raise ControlError(400, "BadRequest", "A JSON body is required.")
        return {}
    try:
        data = orjson.loads(req.body)
    except orjson.JSONDecodeError:
        raise ControlError(400, "BadRequest", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ControlError(400, "BadRequest", "The body must be a JSON object.")
    return data


def number(params: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    """A numeric query parameter within [low, high]. Raises ControlError 400."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise ControlError(400, "BadRequest", f"{name} must be a number from {low:g} to {high:g}.")
    return value


def iso_time(value: object, name: str) -> Timestamp | None:
    """An ISO 8601 date-time with a zone (`2024-05-01T10:00:00Z`) as a Timestamp; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ControlError(400, "BadRequest", f"{name} must be an ISO 8601 date-time.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ControlError(400, "BadRequest", f"{name} must be an ISO 8601 date-time.") from None
    if parsed.tzinfo is None:
        raise ControlError(400, "BadRequest", f"{name} needs a time zone (e.g. Z).")
    return int(parsed.timestamp() * SECOND)


def control_api(
    uow: UnitOfWork,
    signals: AfterCommit,
    tokens: TokenService,
    queue: QueueAdmin,
    attachments: AttachmentService,
    token: str,
    clock: Callable[[], Timestamp],
) -> ControlApi:
    """The control API with this issue's resources, for wiring to mount (`api.mount()`)."""
    workbench = WorkbenchService(
        uow,
        Secrets(hash_secret, verify_secret),
        Secrets(hash_generated_secret, verify_secret),
        attachments,
        clock,
    )
    control = Control(
        workbench,
        MailFinder(uow, signals),
        tokens.keyring,
        tokens,
        queue,
        signals,
        attachments,
        EventHub(signals),
    )
    return ControlApi(control, token, all_routes())


def all_routes() -> list[ControlRoute]:
    """The routes of this issue's resources (imported here: they import this module's helpers)."""
    from mailgraph.api.control import events, mail, tenants

    return [*tenants.ROUTES, *mail.ROUTES, *events.ROUTES]
