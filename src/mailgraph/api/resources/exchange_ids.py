"""`POST …/translateExchangeIds` (v1.0 and beta, `/me` and `/users/{id|upn}`; spec §2.16).

Body: `inputIds` (1–1000 strings), `sourceIdType`, `targetIdType` (exchangeIdFormat: entryId, ewsId,
immutableEntryId, restId, restImmutableEntryId; matched case-insensitively). Answer: 200 with a
`convertIdResult` per input id, in order (domain/exchange_ids.py says what each format is).
"""

from __future__ import annotations

from typing import Any

from mailgraph.api.context import Ctx, json_response
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.router import Match
from mailgraph.api.serialize.values import bad_value, read_json, unknown_property
from mailgraph.domain.exchange_ids import FORMATS, MAX_IDS, ConvertIdResult, ExchangeIdService, IdFormat
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MESSAGE

_FORMATS = {f.lower(): f for f in FORMATS}
_KEYS = frozenset({"inputIds", "sourceIdType", "targetIdType"})


def _format(body: dict[str, Any], key: str) -> IdFormat:
    value = body.get(key)
    if value is None:
        raise GraphError(400, "BadRequest", f"The parameter '{key}' is required.")
    if not isinstance(value, str):
        bad_value(key)
    found = _FORMATS.get(value.lower())
    if found is None:
        raise GraphError(
            400,
            "RequestBodyRead",
            f"Cannot convert the literal '{value}' to the expected type 'microsoft.graph.exchangeIdFormat'.",
        )
    return found


def _result(r: ConvertIdResult) -> dict[str, Any]:
    if r.target_id is not None:
        return {"sourceId": r.source_id, "targetId": r.target_id}
    return {"sourceId": r.source_id, "errorDetails": {"code": r.error_code, "message": r.error_message}}


async def translate_exchange_ids(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/translateExchangeIds → 200 `Collection(microsoft.graph.convertIdResult)`."""
    parse_query(req.query, MESSAGE, allow=frozenset())
    body = read_json(req, required=True)
    assert body is not None
    for key in body:
        if key not in _KEYS:
            unknown_property(key, "translateExchangeIds")
    ids = body.get("inputIds")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        bad_value("inputIds")
    if not 1 <= len(ids) <= MAX_IDS:
        raise GraphError(400, "BadRequest", f"inputIds must hold 1 to {MAX_IDS} ids.")
    source, target = _format(body, "sourceIdType"), _format(body, "targetIdType")
    service: ExchangeIdService | None = ctx.services.exchange_ids
    if service is None:  # pragma: no cover - wiring always sets it
        raise GraphError(501, "NotImplemented", "translateExchangeIds is not enabled on this server.")
    _, results = await service.translate(ctx.actor, m.user_key, ids, source, target)
    payload = {
        "@odata.context": ctx.context("Collection(microsoft.graph.convertIdResult)"),
        "value": [_result(r) for r in results],
    }
    return json_response(payload)
