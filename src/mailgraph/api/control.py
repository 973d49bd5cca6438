"""The control namespace `/_mailgraph/…`: test and operator controls outside Graph, admin-token protected.

    GET    /_mailgraph/faults          the fault rules with their counts (domain/faults.py)
    POST   /_mailgraph/faults          add a rule: {"method": "POST", "route": "*/send", "nth": 3, "status": 503}
    DELETE /_mailgraph/faults          remove every rule
    DELETE /_mailgraph/faults/{id}     remove one rule
    …      /_mailgraph/queue…          the outbound queue (api/admin.py; `/admin/queue…` stays as an alias)

Every request needs `Authorization: Bearer <admin token>`, as `/admin`. Errors use Graph's error shape.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import replace

import orjson

from mailgraph.api.admin import AdminApi
from mailgraph.api.errors import error_body
from mailgraph.api.http import JSON_TYPE, Request, Response
from mailgraph.api.mounts import Mount
from mailgraph.domain.errors import DomainError
from mailgraph.domain.faults import FaultService, rule_from_mapping, rule_to_mapping
from mailgraph.domain.model import now


class ControlApi:
    """Serves `/_mailgraph/…`."""

    def __init__(self, admin: AdminApi, faults: FaultService, token: str) -> None:
        self._admin = admin
        self._faults = faults
        self._token = token.encode()

    async def __call__(self, req: Request, parts: Sequence[str]) -> Response:
        """Route a control request (`parts`: the decoded path segments, `_mailgraph` first)."""
        rest = list(parts[1:])
        if rest[:1] == ["queue"]:  # one implementation, two prefixes
            tail = req.raw_path.split(b"/", 2)[2]
            return await self._admin(replace(req, raw_path=b"/admin/" + tail))
        scheme, _, given = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self._token):
            return _error(
                req, 401, "InvalidAuthenticationToken", "The control namespace needs the admin token."
            )
        if rest[:1] != ["faults"] or len(rest) > 2:
            return _error(req, 404, "ResourceNotFound", "No such control resource.")
        try:
            return await self._fault_request(req, rest[1:])
        except DomainError as exc:
            return _error(req, 400, "BadRequest", exc.message)

    async def _fault_request(self, req: Request, rest: list[str]) -> Response:
        if req.method == "GET" and not rest:
            rules = await self._faults.refresh()
            return _json({"value": [rule_to_mapping(r) for r in rules]})
        if req.method == "POST" and not rest:
            try:
                data = orjson.loads(req.body)
            except orjson.JSONDecodeError:
                return _error(req, 400, "BadRequest", "The body must be a JSON fault rule.")
            rule = await self._faults.add(rule_from_mapping(data, now()))
            return _json(rule_to_mapping(rule), 201)
        if req.method == "DELETE":
            removed = await self._faults.clear(rest[0] if rest else None)
            if rest and not removed:
                return _error(req, 404, "ResourceNotFound", f"No fault rule {rest[0]!r}.")
            return _json({"removed": removed})
        return _error(req, 405, "BadRequest", f"The HTTP method '{req.method}' is not allowed here.")


def control_mount(control: ControlApi) -> Mount:
    """`/_mailgraph/…` in the mount table (api/mounts.py)."""
    return Mount("control", ("_mailgraph",), control, case_sensitive=True)


def _json(payload: object, status: int = 200) -> Response:
    return Response(status, orjson.dumps(payload), JSON_TYPE)


def _error(req: Request, status: int, code: str, message: str) -> Response:
    return Response(status, error_body(code, message, req.request_id, req.client_request_id), JSON_TYPE)
