"""Filter, order and search trees (odata/ast.py) → portable SQL over the `messages` table.

The SQL runs unchanged on SQLite and PostgreSQL: `?` placeholders (the PostgreSQL engine rewrites
them), unqualified column names, user values only ever as parameters. Semantics follow Exchange:

- String comparisons, `startswith`/`contains`, `$search` and `$orderby` on text are case-insensitive
  under Unicode case folding: `mg_fold()` on both sides (store/sql/dialect.py; Python's
  `str.casefold`). Both sides go through the same SQL function, so equal strings match on every
  engine whatever its fold does. (Before, `lower()` folded ASCII only on SQLite: `É` ≠ `é`.)
- Every predicate is two-valued even on the nullable `from_*`/`sender_*` columns, so `not` never
  meets SQL's NULL: `eq` is guarded with `col IS NOT NULL AND …`, `ne` is `col IS NULL OR …`
  (a message without a sender is "not equal" to any address).
- Times are compared at **second** granularity: the columns hold microseconds but Graph renders
  whole seconds (spec §0.4), and clients page with `receivedDateTime gt {last value seen}`; a stored
  12:00:00.5 must equal the `12:00:00Z` the client was shown, not be greater than it. Each
  comparison is a range on the raw column, so indexes still apply.
- Sorting puts NULLs lowest in both engines (explicit `NULLS FIRST/LAST`) and always ends with the
  immutable `id` as tie-break, so pages are stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from mailgraph.domain.model import SECOND
from mailgraph.odata.ast import (
    And,
    AnyEq,
    Call,
    Compare,
    Expr,
    ExtendedPropertyAny,
    Not,
    Or,
    OrderBy,
    Property,
    Search,
    SearchDateRange,
    SearchField,
    SearchTerm,
    SearchValue,
)
from mailgraph.odata.errors import ODataError, invalid_filter
from mailgraph.store.sql.codec import dump
from mailgraph.store.sql.dialect import FOLD, HAS_MEMBER

ColumnKind = Literal["text", "enum", "bool", "time"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SQL_OPS: Final = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_LIKE: Final = f"LIKE {FOLD}(?) ESCAPE '\\'"
DEFAULT_ORDER_SQL: Final = "received_at DESC, id DESC"


@dataclass(frozen=True, slots=True)
class Column:
    """A `messages` column a Graph property compiles to."""

    name: str
    kind: ColumnKind
    nullable: bool = False


def _c(name: str, kind: ColumnKind, nullable: bool = False) -> Column:
    return Column(name, kind, nullable)


# Graph property path → column (migrations/0001_init.sql). `id` is the REST id clients hold.
MESSAGE_COLUMNS: Final[dict[tuple[str, ...], Column]] = {
    ("id",): _c("rest_id", "text"),
    ("receivedDateTime",): _c("received_at", "time"),
    ("sentDateTime",): _c("sent_at", "time"),
    ("createdDateTime",): _c("created_at", "time"),
    ("lastModifiedDateTime",): _c("modified_at", "time"),
    ("subject",): _c("subject", "text"),
    ("bodyPreview",): _c("body_preview", "text"),
    ("internetMessageId",): _c("internet_message_id", "text"),
    ("conversationId",): _c("conversation_id", "text"),
    ("parentFolderId",): _c("folder_id", "text"),
    ("isRead",): _c("is_read", "bool"),
    ("isDraft",): _c("is_draft", "bool"),
    ("hasAttachments",): _c("has_attachments", "bool"),
    ("isDeliveryReceiptRequested",): _c("is_delivery_receipt_requested", "bool"),
    ("isReadReceiptRequested",): _c("is_read_receipt_requested", "bool"),
    ("importance",): _c("importance", "enum"),
    ("inferenceClassification",): _c("inference_classification", "enum"),
    ("flag", "flagStatus"): _c("flag_status", "enum"),
    ("from", "emailAddress", "address"): _c("from_address", "text", nullable=True),
    ("from", "emailAddress", "name"): _c("from_name", "text", nullable=True),
    ("sender", "emailAddress", "address"): _c("sender_address", "text", nullable=True),
    ("sender", "emailAddress", "name"): _c("sender_name", "text", nullable=True),
}

_FROM: Final = (_c("from_address", "text", True), _c("from_name", "text", True))
_TO, _CC, _BCC = _c("to_json", "text"), _c("cc_json", "text"), _c("bcc_json", "text")
# KQL field → columns searched. Free text: Graph's default search fields are from, subject and body
# (spec §2.9). Recipient columns hold JSON text with names and addresses, which `contains` covers.
_SEARCH_COLUMNS: Final[dict[SearchField | None, tuple[Column, ...]]] = {
    None: (_c("subject", "text"), _c("body", "text"), *_FROM),
    "subject": (_c("subject", "text"),),
    "body": (_c("body", "text"),),
    "from": _FROM,
    "to": (_TO,),
    "cc": (_CC,),
    "bcc": (_BCC,),
    "recipients": (_TO, _CC, _BCC),
    "participants": (*_FROM, _TO, _CC, _BCC),
}


def compile_message_filter(expr: Expr) -> tuple[str, list[object]]:
    """Compile a `$filter` tree to a WHERE fragment over `messages`.

    Args:
        expr: A tree from `parse_filter` (or built by the domain).

    Returns:
        The SQL fragment (parenthesised where composite) and its parameters, in placeholder order.

    Raises:
        ODataError: `ErrorInvalidUrlQueryFilter` for a property or literal with no column mapping.
    """
    params: list[object] = []
    return _compile(expr, params), params


def compile_message_order(order_by: Sequence[OrderBy], text_order: str = "") -> str:
    """Compile `$orderby` keys to an ORDER BY list (without the keywords `ORDER BY`).

    Args:
        order_by: The keys, most significant first; empty means Graph's assumed default,
            `receivedDateTime desc` (spec §2.9 [unconfirmed]).
        text_order: the engine's suffix that makes text sort by code point (`Dialect.text_order`).

    Returns:
        The ORDER BY list, always ending with `id` in the direction of the first key.

    Raises:
        ODataError: `ErrorInvalidUrlQueryFilter` for a property with no column mapping.
    """
    if not order_by:
        return DEFAULT_ORDER_SQL
    parts = []
    for key in order_by:
        column = _column(key.property)
        direction = "DESC" if key.descending else "ASC"
        expr = f"{FOLD}({column.name}){text_order}" if column.kind == "text" else column.name
        # NULL sorts lowest: SQLite's default, PostgreSQL's opposite, so spell it out.
        nulls = (" NULLS LAST" if key.descending else " NULLS FIRST") if column.nullable else ""
        parts.append(f"{expr} {direction}{nulls}")
    parts.append("id DESC" if order_by[0].descending else "id ASC")
    return ", ".join(parts)


def compile_message_search(search: Search) -> tuple[str, list[object]]:
    """Compile a `$search` to a WHERE fragment: every term must match one of its columns.

    Args:
        search: The parsed search (at least one term).

    Returns:
        The SQL fragment and its parameters.
    """
    clauses: list[str] = []
    params: list[object] = []
    for term in search.terms:
        if not isinstance(term, SearchTerm):
            clauses.append(_restriction(term, params))
            continue
        columns = _SEARCH_COLUMNS[term.field]
        pattern = "%" + escape_like(term.text) + "%"
        clauses.append("(" + " OR ".join(_guard(c, f"{FOLD}({c.name}) {_LIKE}", "eq") for c in columns) + ")")
        params.extend([pattern] * len(columns))
    if not clauses:
        return "1 = 1", []
    return " AND ".join(clauses), params


_RESTRICTION_COLUMNS: Final = {
    "received": "received_at",
    "sent": "sent_at",
    "hasAttachments": "has_attachments",
    "importance": "importance",
}


def _restriction(term: SearchDateRange | SearchValue, params: list[object]) -> str:
    """A KQL date range (start inclusive, end exclusive) or flag/enum value as a predicate."""
    column = _RESTRICTION_COLUMNS[term.field]
    if isinstance(term, SearchValue):
        params.append(int(term.value) if isinstance(term.value, bool) else term.value)
        return f"{column} = ?"
    parts = []
    if term.start is not None:
        params.append(_micros(term.start))
        parts.append(f"{column} >= ?")
    if term.end is not None:
        params.append(_micros(term.end))
        parts.append(f"{column} < ?")
    return "(" + " AND ".join(parts) + ")" if parts else "1 = 1"


def escape_like(text: str) -> str:
    r"""Escape `\`, `%` and `_` for a LIKE pattern with `ESCAPE '\'`."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# String collections `any(c: c eq '…')` may test (odata/resources.py `any_collections`): JSON text columns.
_COLLECTION_COLUMNS: Final[dict[tuple[str, ...], str]] = {("categories",): "categories_json"}


def _any_eq(expr: AnyEq, params: list[object]) -> str:
    """Some member of a JSON string array column equals the value, case-insensitively (Exchange).

    `mg_has_member` (store/sql/dialect.py) reads the array as JSON on both engines: a LIKE over the
    encoded text cannot tell a member's bounds (`["[",":"]` holds `[","` and `["a,",",x"]` holds
    `,",",`; a property test checks the filter against a Python model).
    """
    column = _COLLECTION_COLUMNS.get(expr.property.path)
    if column is None:
        raise invalid_filter()
    params.append(expr.value)
    return f"{HAS_MEMBER}({column}, ?)"


def _extended_any(expr: ExtendedPropertyAny, params: list[object]) -> str:
    """The message has this single-value extended property (migration 0024), with this value when given.

    Ids compare case-insensitively (the stored key is the case-folded id), values like every string
    comparison here (`mg_fold` on the JSON text of both sides: equal strings give equal JSON).
    """
    params.append(expr.prop_id.strip().casefold())
    value = ""
    if expr.value is not None:
        params.append(dump(expr.value))
        value = f" AND {FOLD}(p.value_json) = {FOLD}(?)"
    return (
        "EXISTS (SELECT 1 FROM message_properties p WHERE p.message_id = messages.id"
        f" AND p.kind = 'single' AND p.prop_key = ?{value})"
    )


def _compile(expr: Expr, params: list[object]) -> str:
    if isinstance(expr, AnyEq):
        return _any_eq(expr, params)
    if isinstance(expr, ExtendedPropertyAny):
        return _extended_any(expr, params)
    if isinstance(expr, And):
        return f"({_compile(expr.left, params)} AND {_compile(expr.right, params)})"
    if isinstance(expr, Or):
        return f"({_compile(expr.left, params)} OR {_compile(expr.right, params)})"
    if isinstance(expr, Not):
        return f"NOT ({_compile(expr.operand, params)})"
    if isinstance(expr, Call):
        column = _column(expr.property)
        if column.kind != "text":
            raise invalid_filter()
        escaped = escape_like(expr.argument)
        params.append(escaped + "%" if expr.function == "startswith" else "%" + escaped + "%")
        return _guard(column, f"{FOLD}({column.name}) {_LIKE}", "eq")
    return _compare(expr, params)


def _compare(expr: Compare, params: list[object]) -> str:
    column = _column(expr.left)
    value, op = expr.right.value, expr.op
    if value is None:
        if op not in ("eq", "ne"):
            raise invalid_filter()
        return f"{column.name} IS NULL" if op == "eq" else f"{column.name} IS NOT NULL"
    if column.kind == "time":
        return _compare_time(column.name, op, _micros(value), params)
    if column.kind == "bool":
        if not isinstance(value, bool) or op not in ("eq", "ne"):
            raise invalid_filter()
        params.append(int(value))
        return f"{column.name} {_SQL_OPS[op]} ?"
    if not isinstance(value, str):
        raise invalid_filter()
    params.append(value)
    if column.kind == "enum":  # the parser hands on canonical members, stored as such
        return f"{column.name} {_SQL_OPS[op]} ?"
    return _guard(column, f"{FOLD}({column.name}) {_SQL_OPS[op]} {FOLD}(?)", op)


def _compare_time(name: str, op: str, micros: int, params: list[object]) -> str:
    # The stored time T is compared as its whole second S = floor(T). For a literal L:
    # S >= L ⟺ T >= ceil(L); S > L ⟺ T >= floor(L)+1s; S <= L ⟺ T < floor(L)+1s; S < L ⟺ T < ceil(L).
    floor = micros - micros % SECOND
    ceil = floor if floor == micros else floor + SECOND
    if op == "ge":
        params.append(ceil)
        return f"{name} >= ?"
    if op == "gt":
        params.append(floor + SECOND)
        return f"{name} >= ?"
    if op == "le":
        params.append(floor + SECOND)
        return f"{name} < ?"
    if op == "lt":
        params.append(ceil)
        return f"{name} < ?"
    params.extend((ceil, floor + SECOND))
    if op == "eq":
        return f"({name} >= ? AND {name} < ?)"
    return f"({name} < ? OR {name} >= ?)"


def _guard(column: Column, predicate: str, op: str) -> str:
    """Make a predicate on a nullable column two-valued (NULL never reaches `NOT`)."""
    if not column.nullable:
        return predicate
    if op == "ne":
        return f"({column.name} IS NULL OR {predicate})"
    return f"({column.name} IS NOT NULL AND {predicate})"


def _column(prop: Property) -> Column:
    column = MESSAGE_COLUMNS.get(prop.path)
    if column is None:
        raise invalid_filter()
    return column


def _micros(value: object) -> int:
    if not isinstance(value, datetime):
        raise ODataError("ErrorInvalidUrlQueryFilter", "A date/time property needs a date/time literal.")
    if value.tzinfo is None:  # the parser always attaches a zone; treat a bare one as UTC
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1)
