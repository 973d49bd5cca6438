"""Extended properties and open extensions of messages (issue 15).

Extended properties (extended-properties-overview.md, singlevaluelegacyextendedproperty.md,
multivaluelegacyextendedproperty.md) are MAPI properties a client names by id:
`{type} {guid} Name {name}`, `{type} {guid} Id 0x{hex}` or `{type} 0x{hex}` (a proptag such as
`String 0x007D`). Values are strings (arrays of strings for multi-value); the type is checked against
the value (`Integer` must be an integer, `Boolean` true/false, …). Ids compare case-insensitively, the
form a client wrote is kept. Open extensions (opentypeextension.md) are free JSON objects named by
`extensionName` (`@odata.type: microsoft.graph.openTypeExtension`); Graph allows 2 per resource per app
— we keep a plain per-message limit of `MAX_EXTENSIONS`.

Both live in `message_properties` (migration 0024) under the immutable id, so a move or a send (the
draft moves to Sent Items) keeps them, and `copy` copies them. The recipients' copies do not get them
(our choice, docs/graph-coverage.md): custom MAPI properties do not travel in MIME, and neither do
open extensions; only what the message's MIME carries reaches another mailbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, Protocol

from mailgraph.domain.errors import InvalidPropertyValueError

PropertyKind = Literal["single", "multi", "extension"]
MAX_EXTENSIONS: Final = 100
MAX_PROPERTIES: Final = 200
_SINGLE_TYPES: Final = {
    t.lower(): t
    for t in ("Binary", "Boolean", "CLSID", "Currency", "DateTime", "Double", "Integer", "Long", "Short",
              "SystemTime", "String", "Float", "ApplicationTime", "Object")
}  # fmt: skip
_MULTI_TYPES: Final = {
    t.lower(): t
    for t in ("BinaryArray", "CLSIDArray", "CurrencyArray", "DateTimeArray", "DoubleArray", "IntegerArray",
              "LongArray", "ShortArray", "SystemTimeArray", "StringArray", "FloatArray", "ApplicationTimeArray")
}  # fmt: skip
_GUID: Final = r"\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?"
_ID: Final = re.compile(
    rf"^(\w+) +(?:({_GUID}) +(?:Name +(.+)|Id +(0x[0-9a-fA-F]{{1,4}}))|(0x[0-9a-fA-F]{{1,4}}))$", re.ASCII
)


@dataclass(frozen=True, slots=True)
class StoredProperty:
    """One row: an extended property (value: str or list of str) or an open extension (value: dict)."""

    message_id: str
    kind: PropertyKind
    prop_id: str
    value: object

    @property
    def key(self) -> str:
        """The id as compared."""
        return self.prop_id.casefold()


class MessagePropertyRepo(Protocol):
    """Rows of `message_properties` (migration 0024)."""

    async def list(self, message_ids: list[str], kind: PropertyKind) -> list[StoredProperty]:
        """The rows of these messages of one kind, by message then id."""
        ...

    async def put(self, prop: StoredProperty) -> None:
        """Insert or replace by (message, kind, key)."""
        ...

    async def delete(self, message_id: str, kind: PropertyKind, key: str) -> bool:
        """Remove one row; False when there was none."""
        ...

    async def copy(self, from_id: str, to_id: str) -> None:
        """Every row of one message again for another (the copy action)."""
        ...


def property_id(value: str, kind: Literal["single", "multi"]) -> str:
    """A checked extended property id in the form the client wrote (types in their canonical case)."""
    match = _ID.match(value.strip())
    types = _SINGLE_TYPES if kind == "single" else _MULTI_TYPES
    if match is None or match.group(1).lower() not in types:
        raise InvalidPropertyValueError(f"The extended property id '{value}' is not valid.")
    name = match.group(3)
    if name is not None and not name.strip():
        raise InvalidPropertyValueError(f"The extended property id '{value}' has an empty name.")
    return types[match.group(1).lower()] + value.strip()[len(match.group(1)) :]


def _check_value(type_name: str, value: str, prop_id: str) -> None:
    base = type_name.removesuffix("Array").lower()
    ok = True
    if base in ("integer", "long", "short"):
        ok = re.fullmatch(r"-?\d{1,20}", value) is not None
    elif base == "boolean":
        ok = value.lower() in ("true", "false")
    elif base in ("double", "float", "currency"):
        try:
            float(value)
        except ValueError:
            ok = False
    elif base in ("systemtime", "datetime"):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            ok = False
    elif base == "clsid":
        ok = re.fullmatch(_GUID, value) is not None
    if not ok:
        raise InvalidPropertyValueError(f"The value '{value}' does not match the type of '{prop_id}'.")


def single_value(prop_id: str, value: str) -> StoredProperty:
    """A checked single-value property (message id filled in by the caller's unit)."""
    canonical = property_id(prop_id, "single")
    _check_value(canonical.split(" ", 1)[0], value, canonical)
    return StoredProperty("", "single", canonical, value)


def multi_value(prop_id: str, values: list[str]) -> StoredProperty:
    """A checked multi-value property."""
    canonical = property_id(prop_id, "multi")
    for value in values:
        _check_value(canonical.split(" ", 1)[0], value, canonical)
    return StoredProperty("", "multi", canonical, list(values))


def extension(name: str, data: dict[str, object]) -> StoredProperty:
    """An open extension: its name and its custom properties (without id, name and type)."""
    if not name.strip() or len(name) > 255:
        raise InvalidPropertyValueError("The extensionName must be 1 to 255 characters.")
    return StoredProperty("", "extension", name.strip(), dict(data))
