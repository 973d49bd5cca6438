"""Graph's `message: move` and `message: copy` (spec §2.6).

Routes (v1.0 and beta; `/me` or `/users/{id|upn}`; also below `/mailFolders/{id}`):
`POST …/messages/{id}/move|copy` with `{"destinationId": "<folder id or well-known name>"}` → 201 with
the message in its new folder. A move gives the item a new REST id (the old one answers 404); a copy
is a new item. The parameter name is matched case-insensitively (Kiota sends `DestinationId`).
"""

from __future__ import annotations

from typing import Any

from mailgraph.api.context import Ctx
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.resources.replies import created
from mailgraph.api.router import Match
from mailgraph.api.serialize.values import read_json, string, unknown_property
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MESSAGE


def _destination(req: Request, action: str) -> str:
    """The `destinationId` parameter (required, a non-empty string).

    Raises:
        GraphError: 400 for a missing body or parameter, a wrong type or an unknown parameter.
    """
    parse_query(req.query, MESSAGE, allow=frozenset())
    data: dict[str, Any] = read_json(req, required=True) or {}
    destination: str | None = None
    for key, value in data.items():
        if key.lower() == "destinationid":
            destination = string(value, "destinationId")
        elif not key.startswith("@odata."):
            unknown_property(key, action)
    if not destination:
        raise GraphError(400, "ErrorInvalidRequest", "The 'destinationId' parameter is required.")
    return destination


def _keys(m: Match) -> tuple[str, str | None]:
    return m.keys[-1], (m.keys[0] if len(m.keys) == 2 else None)


async def move(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messages/{id}/move: 201 with the moved message (new REST id, spec §3.5)."""
    destination = _destination(req, "move")
    message_key, folder_key = _keys(m)
    moved = await ctx.services.moves.move(ctx.actor, m.user_key, message_key, folder_key, destination)
    return created(ctx, moved)


async def copy(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/messages/{id}/copy: 201 with the new copy."""
    destination = _destination(req, "copy")
    message_key, folder_key = _keys(m)
    clone = await ctx.services.moves.copy(ctx.actor, m.user_key, message_key, folder_key, destination)
    return created(ctx, clone)
