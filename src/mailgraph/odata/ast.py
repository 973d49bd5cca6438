"""The typed tree of Graph query options (`$select`, `$filter`, `$orderby`, `$top`, …).

Property paths are Graph names (`("from", "emailAddress", "address")`); the store maps the ones it
can compile (store/sql/filters.py) and the parser has already checked them against odata/resources.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal as TypingLiteral

CompareOp = TypingLiteral["eq", "ne", "gt", "ge", "lt", "le"]


@dataclass(frozen=True, slots=True)
class Property:
    """A (possibly nested) property path, e.g. `from/emailAddress/address`."""

    path: tuple[str, ...]

    @property
    def name(self) -> str:
        """The path as Graph writes it."""
        return "/".join(self.path)


@dataclass(frozen=True, slots=True)
class Value:
    """A literal: string, number, boolean, null, or a datetime (always timezone-aware)."""

    value: str | int | float | bool | datetime | None


@dataclass(frozen=True, slots=True)
class Compare:
    """`property op literal` (the parser puts the property on the left)."""

    op: CompareOp
    left: Property
    right: Value


@dataclass(frozen=True, slots=True)
class Call:
    """`startswith(property, 'text')` or `contains(property, 'text')`."""

    function: TypingLiteral["startswith", "contains"]
    property: Property
    argument: str


@dataclass(frozen=True, slots=True)
class And:
    """Both sides hold."""

    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Or:
    """Either side holds."""

    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Not:
    """The operand does not hold."""

    operand: Expr


@dataclass(frozen=True, slots=True)
class AnyEq:
    """`collection/any(v: v eq 'text')`: some member of a string collection equals `value`.

    The one lambda Exchange evaluates on message collections (`categories/any(c:c eq 'Red')`,
    query-parameters.md "Filter using lambda operators"); Exchange compares case-insensitively.
    """

    property: Property
    value: str


@dataclass(frozen=True, slots=True)
class ExtendedPropertyAny:
    """`singleValueExtendedProperties/any(ep: ep/id eq '…' and ep/value eq '…')` (the value part optional):
    the message has that extended property (with that value). extended-properties-overview.md."""

    prop_id: str
    value: str | None = None


Expr = Compare | Call | And | Or | Not | AnyEq | ExtendedPropertyAny


@dataclass(frozen=True, slots=True)
class OrderBy:
    """One `$orderby` key."""

    property: Property
    descending: bool = False


SearchField = TypingLiteral["subject", "from", "to", "cc", "bcc", "body", "participants", "recipients"]


@dataclass(frozen=True, slots=True)
class SearchTerm:
    """One `$search` (KQL) term: free text when `field` is None, else `field:text`."""

    text: str
    field: SearchField | None = None
    phrase: bool = False
    """The term was a quoted phrase (`"hello world"`): matched as one string, spaces included."""


@dataclass(frozen=True, slots=True)
class SearchDateRange:
    """A KQL date restriction (`received>=2026-01-01`, `sent:2026-01-01`, `received:a..b`) as a range.

    `start` is inclusive, `end` exclusive; None leaves that side open. Both are timezone-aware.
    """

    field: TypingLiteral["received", "sent"]
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True, slots=True)
class SearchValue:
    """A KQL restriction on a flag or enum: `hasAttachments:true`, `importance:high` (canonical values)."""

    field: TypingLiteral["hasAttachments", "importance"]
    value: bool | str


SearchPart = SearchTerm | SearchDateRange | SearchValue


@dataclass(frozen=True, slots=True)
class Search:
    """A parsed `$search`: every term must match (KQL's implicit AND)."""

    terms: tuple[SearchPart, ...]


@dataclass(frozen=True, slots=True)
class QueryOptions:
    """All query options of one request, validated against one resource."""

    select: tuple[str, ...] | None = None
    filter: Expr | None = None
    order_by: tuple[OrderBy, ...] = ()
    top: int | None = None
    skip: int = 0
    count: bool = False
    search: Search | None = None
    expand: tuple[str, ...] = ()
    expand_select: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Nested `$select` per expanded navigation: `$expand=attachments($select=name,size)`."""
    expand_ids: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Nested `$filter=id eq '…'` (or-ed) per expanded extended-property navigation."""

    def ids_in(self, navigation: str) -> tuple[str, ...] | None:
        """The ids a nested `$filter` asked for, or None for every one."""
        return next((ids for name, ids in self.expand_ids if name == navigation), None)

    def selected_in(self, navigation: str) -> tuple[str, ...] | None:
        """The nested `$select` of an expanded navigation, or None for every property."""
        return next((names for name, names in self.expand_select if name == navigation), None)
