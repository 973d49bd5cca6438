"""Shared Graph JSON value shapes: timestamps, recipients, request-body reading and type checks."""

from __future__ import annotations

import time
from typing import Any, NoReturn

import orjson

from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request
from mailgraph.domain.model import SECOND, EmailAddress, Timestamp


def timestamp(value: Timestamp) -> str:
    """UTC with `Z` and no fraction, as Graph writes message times (spec §0.4)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value // SECOND))


def recipient(address: EmailAddress | None) -> dict[str, Any] | None:
    """Graph `recipient`."""
    if address is None:
        return None
    return {"emailAddress": {"name": address.name or address.address, "address": address.address}}


def recipients(items: list[EmailAddress]) -> list[dict[str, Any]]:
    """A Graph `recipient` collection."""
    return [{"emailAddress": {"name": a.name or a.address, "address": a.address}} for a in items]


def bad_value(prop: str) -> NoReturn:
    """400 for a value of the wrong type (spec §5)."""
    raise GraphError(400, "BadRequest", f"Property {prop} in payload has a value that does not match schema.")


def unknown_property(prop: str, type_name: str) -> NoReturn:
    """400 RequestBodyRead for a property the type does not have (spec §5)."""
    raise GraphError(
        400,
        "RequestBodyRead",
        f"The property '{prop}' does not exist on type 'microsoft.graph.{type_name}'. Make sure to only use"
        " property names that are defined by the type or mark the type as open type.",
    )


def read_json(req: Request, *, required: bool) -> dict[str, Any] | None:
    """The request body as a JSON object; None when it is empty and not required.

    Raises:
        GraphError: malformed JSON, a non-object, or an empty body where one is required (spec §5).
    """
    if not req.body.strip():
        if required:
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        return None
    try:
        data = orjson.loads(req.body)
    except orjson.JSONDecodeError:
        raise GraphError(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of"
            " valid JSON format.",
        ) from None
    if not isinstance(data, dict):
        raise GraphError(400, "BadRequest", "The request payload must be a JSON object.")
    return data


def string(value: object, prop: str) -> str:
    """A JSON string (null is refused: use the property's own null handling before calling)."""
    if not isinstance(value, str):
        bad_value(prop)
    return value


def boolean(value: object, prop: str) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        bad_value(prop)
    return value


def email_address(value: object, prop: str) -> EmailAddress:
    """`{"emailAddress": {"address", "name"}}` → EmailAddress (address may be absent: checked at send)."""
    if not isinstance(value, dict):
        bad_value(prop)
    inner: object = None
    for key, item in value.items():
        if key == "emailAddress":
            inner = item
        elif not key.startswith("@odata."):
            unknown_property(key, "recipient")
    if not isinstance(inner, dict):
        bad_value(prop)
    address, name = "", ""
    for key, item in inner.items():
        if key == "address":
            address = "" if item is None else string(item, f"{prop}.emailAddress.address")
        elif key == "name":
            name = "" if item is None else string(item, f"{prop}.emailAddress.name")
        elif not key.startswith("@odata."):
            unknown_property(key, "emailAddress")
    return EmailAddress(address.strip(), name)


def address_list(value: object, prop: str) -> list[EmailAddress]:
    """A recipient collection (null means empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        bad_value(prop)
    return [email_address(item, prop) for item in value]
