"""`/_mailgraph/faults…`: the fault-injection rules (docs/batching.md, domain/faults.py).

    GET    /_mailgraph/faults          the fault rules with their counts
    POST   /_mailgraph/faults          add a rule: {"method": "POST", "route": "*/send", "nth": 3, "status": 503}
    DELETE /_mailgraph/faults          remove every rule
    DELETE /_mailgraph/faults/{id}     remove one rule

Registered by wiring with `ControlApi.add(routes(faults))`: the rules live in the store, the
`FaultService` keeps the copy the request path checks. An invalid rule is a 400 `BadRequest` naming
every problem.
"""

from __future__ import annotations

from mailgraph.api.control import (
    Control,
    ControlError,
    ControlHandler,
    ControlRoute,
    json_body,
    json_response,
)
from mailgraph.api.http import Request, Response
from mailgraph.domain.errors import DomainError
from mailgraph.domain.faults import FaultService, rule_from_mapping, rule_to_mapping
from mailgraph.domain.model import now


def routes(faults: FaultService) -> list[ControlRoute]:
    """The fault resources over `faults`."""

    async def list_rules(req: Request, control: Control, args: dict[str, str]) -> Response:
        rules = await faults.refresh()
        return json_response({"value": [rule_to_mapping(r) for r in rules]})

    async def add(req: Request, control: Control, args: dict[str, str]) -> Response:
        data = json_body(req)
        try:
            rule = await faults.add(rule_from_mapping(data, now()))
        except DomainError as exc:
            raise ControlError(400, "BadRequest", exc.message) from None
        return json_response(rule_to_mapping(rule), 201)

    def remover(one: bool) -> ControlHandler:
        async def remove(req: Request, control: Control, args: dict[str, str]) -> Response:
            rule_id = args["id"] if one else None
            removed = await faults.clear(rule_id)
            if rule_id is not None and not removed:
                raise ControlError(404, "ResourceNotFound", f"No fault rule {rule_id!r}.")
            return json_response({"removed": removed})

        return remove

    return [
        ControlRoute("GET", "faults", list_rules, "The fault rules with their counts"),
        ControlRoute("POST", "faults", add, "Add a fault rule"),
        ControlRoute("DELETE", "faults", remover(False), "Remove every fault rule"),
        ControlRoute("DELETE", "faults/{id}", remover(True), "Remove one fault rule"),
    ]
