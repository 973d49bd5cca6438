"""The query string of one request → `QueryOptions` (spec §2.9; client-wire fact 7).

Clients encode query strings three ways (client-wire fact 7): Kiota sends `$top` raw and spaces as
`%20`, O365 sends `%24top` and spaces as `+`, graph-client leaves `(`, `,` and `'` raw. So every name
and value is form-decoded (`+` is a space, then percent-escapes as UTF-8) before anything else, and
option names are matched case-insensitively. Graph's URI parser also accepts system options without
the `$` (`top=5`, seen from davmail against v1.0), so known names are accepted in that form too.

Choices Graph does not document (codes and messages are listed in odata/errors.py):

- queries longer than `MAX_QUERY_LENGTH` are refused (bounds all later work);
- an empty `$select`, `$expand` or `$orderby` is treated as absent, `$select=*` as no `$select`;
- `$skip` is capped at 2^31-1 (larger values only overflow database OFFSETs);
- non-`$` parameters other than system option names (`includeHiddenFolders`) are returned to the
  caller, first occurrence wins, names as sent; so are allowed system options `QueryOptions` does not
  model (`$skiptoken`, `$deltatoken`, `$format`), under their lowercase `$name`.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote_plus, unquote_to_bytes

from mailgraph.odata.ast import (
    And,
    Compare,
    Expr,
    ExtendedPropertyAny,
    Not,
    Or,
    OrderBy,
    Property,
    QueryOptions,
)
from mailgraph.odata.errors import (
    SEARCH_WITH_FILTER,
    SEARCH_WITH_FILTER_MESSAGE,
    SEARCH_WITH_ORDER_BY,
    SEARCH_WITH_ORDER_BY_MESSAGE,
    ODataError,
    bad_request,
    inefficient,
)
from mailgraph.odata.filter_parser import parse_filter
from mailgraph.odata.resources import Resource
from mailgraph.odata.search import parse_search

MAX_QUERY_LENGTH: Final = 8192
MAX_TOP: Final = 1000  # spec §6: $top 1–1000
MAX_SKIP: Final = 2**31 - 1

SYSTEM_OPTIONS: Final = frozenset(
    {
        "$select",
        "$filter",
        "$orderby",
        "$top",
        "$skip",
        "$count",
        "$search",
        "$expand",
        "$format",
        "$skiptoken",
        "$deltatoken",
        "$levels",
        "$apply",
        "$compute",
        "$index",
        "$schemaversion",
        "$id",
    }
)
# The options QueryOptions models; other allowed system options go back to the caller verbatim.
_MODELLED: Final = frozenset(
    {"$select", "$filter", "$orderby", "$top", "$skip", "$count", "$search", "$expand"}
)
# Names accepted without `$`: only the common ones, so that a plain `id=` or `index=` stays a parameter.
_NO_DOLLAR: Final = frozenset(name[1:] for name in _MODELLED | {"$format", "$skiptoken", "$deltatoken"})
_ORDER_ITEM = re.compile(
    r"\s*([A-Za-z_]\w*(?:/[A-Za-z_]\w*)*)(?:\s+(asc|desc))?\s*", re.IGNORECASE | re.ASCII
)


_NO_OPTIONS = QueryOptions()  # frozen: one shared instance for the empty query string


def parse_query(
    query: str, resource: Resource, *, allow: frozenset[str]
) -> tuple[QueryOptions, dict[str, str]]:
    """Parse and validate the query string of one request.

    Args:
        query: The raw query string (the bytes after `?`, decoded as latin-1 or as text).
        resource: The resource the route returns (`MESSAGE`, `MAIL_FOLDER`).
        allow: The system options this route accepts, lowercase with `$` (`{"$select", "$top"}`).

    Returns:
        The validated options, and the other parameters (decoded name → decoded value): the
        non-system ones as sent, plus allowed system options `QueryOptions` does not model
        (`$deltatoken`, `$skiptoken`, `$format`) under their lowercase `$` name.

    Raises:
        ODataError: For any option Graph would refuse (codes and messages: odata/errors.py).
    """
    if not query:  # most requests (every create and send): nothing to parse or validate
        return _NO_OPTIONS, {}
    key = (query, id(resource), allow)
    found = _PARSED.get(key)
    if found is not None and found[0] is resource:
        return found[1], dict(found[2])
    options, extra = _parse(query, resource, allow)
    if len(_PARSED) >= _PARSED_MAX:  # bounded: varied queries (skip tokens, searches) only refill it
        _PARSED.clear()
    _PARSED[key] = (resource, options, extra.copy())
    return options, extra


# A client repeats the same few query strings (a list view asks for the same page shape every time):
# their parsed, validated options are kept (`QueryOptions` is frozen; the extra parameters are copied
# out). Parsing is pure, and a refused query raises before anything is stored, so it is parsed again.
_PARSED: dict[tuple[str, int, frozenset[str]], tuple[Resource, QueryOptions, dict[str, str]]] = {}
_PARSED_MAX = 1024


def _parse(query: str, resource: Resource, allow: frozenset[str]) -> tuple[QueryOptions, dict[str, str]]:
    if len(query) > MAX_QUERY_LENGTH:
        raise bad_request(
            f"The query string is longer than the {MAX_QUERY_LENGTH} characters this server accepts."
        )
    allowed = {name.lower() for name in allow}
    raw: dict[str, str] = {}
    extra: dict[str, str] = {}
    for part in query.split("&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition("=")
        name, value = _decode(raw_name), _decode(raw_value)
        key = name.lower()
        if key in _NO_DOLLAR:
            key = "$" + key
        elif not key.startswith("$"):
            extra.setdefault(name, value)
            continue
        if key not in SYSTEM_OPTIONS or key not in allowed:
            raise bad_request(f"The query parameter '{name}' is not supported.")
        if key in raw:
            raise bad_request(
                f"Query option '{name}' was specified more than once, but it must be specified at most once."
            )
        raw[key] = value
        if key not in _MODELLED:
            extra[key] = value  # e.g. `$deltatoken`, `$skiptoken` on routes that allow them
    return _options(raw, resource), extra


def _options(raw: dict[str, str], resource: Resource) -> QueryOptions:
    select = _select(raw["$select"], resource) if raw.get("$select", "").strip() else None
    expand, expand_select, expand_ids = (
        _expand(raw["$expand"], resource) if raw.get("$expand", "").strip() else ((), (), ())
    )
    filter_ = None
    if "$filter" in raw:
        if not raw["$filter"].strip():
            raise bad_request("The $filter query option requires a value.")
        filter_ = parse_filter(raw["$filter"], resource)
    order_by = _order_by(raw["$orderby"], resource) if raw.get("$orderby", "").strip() else ()
    search = parse_search(raw["$search"]) if "$search" in raw else None
    top = _integer(raw["$top"], "$top", 1, MAX_TOP) if "$top" in raw else None
    skip = _integer(raw["$skip"], "$skip", 0, MAX_SKIP) if "$skip" in raw else 0
    count = _count(raw["$count"]) if "$count" in raw else False
    if search is not None and order_by:
        raise ODataError(SEARCH_WITH_ORDER_BY, SEARCH_WITH_ORDER_BY_MESSAGE)
    if search is not None and filter_ is not None:
        raise ODataError(SEARCH_WITH_FILTER, SEARCH_WITH_FILTER_MESSAGE)
    if filter_ is not None and order_by:
        _check_order_in_filter(order_by, filter_)
    return QueryOptions(
        select, filter_, order_by, top, skip, count, search, expand, expand_select, expand_ids
    )


def _decode(text: str) -> str:
    """Form-decode one name or value: `+` is a space, percent-escapes are UTF-8 bytes.

    The API hands the query over as latin-1 text (one char per byte), so re-encoding recovers the
    raw bytes and raw UTF-8 is read correctly too. Text that is not byte-per-char (a caller passing a
    real `str`), or bytes that are not UTF-8, fall back to plain `unquote_plus` (which substitutes
    U+FFFD for undecodable bytes).
    """
    try:
        return unquote_to_bytes(text.replace("+", " ").encode("latin-1")).decode("utf-8")
    except UnicodeError:
        return unquote_plus(text)


def _integer(text: str, option: str, low: int, high: int) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 10 and low <= int(value) <= high):
        requirement = (
            f"an integer value between {low} and {high}"
            if option == "$top"
            else "a non-negative integer value"
        )
        raise bad_request(
            f"Invalid value '{text}' for {option} query option found. "
            f"The {option} query option requires {requirement}."
        )
    return int(value)


def _count(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise bad_request(f"'{text}' is not a valid count option.")
    return value == "true"


def _unknown(resource: Resource, name: str, *, prefixed: bool) -> ODataError:
    prefix = resource.select_error_prefix if prefixed else ""
    message = f"{prefix}Could not find a property named '{name}' on type '{resource.type_name}'."
    return ODataError(resource.unknown_property_code, message)


def _select(text: str, resource: Resource) -> tuple[str, ...] | None:
    """`$select=a, b`: canonical names, duplicates dropped; `id` is always returned, listed or not."""
    names: list[str] = []
    for item in text.split(","):
        name = item.strip()
        if not name:
            raise bad_request(f"Syntax error: empty property name in $select '{text}'.")
        if name == "*":
            return None
        spec = resource.find_property(name)
        if spec is None:
            raise _unknown(resource, name, prefixed=True)
        if not spec.selectable:
            raise bad_request(f"The property '{spec.name}' cannot be used in the $select query option.")
        if spec.name not in names:
            names.append(spec.name)
    return tuple(names)


def _split_top_level(text: str) -> list[str]:
    items, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                break
        elif c == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise bad_request(f"Syntax error: unbalanced parentheses in '{text}'.")
    items.append(text[start:])
    return items


_ID_FILTERED: Final = frozenset({"singleValueExtendedProperties", "multiValueExtendedProperties"})
_ID_EQ: Final = re.compile(r"\s*id\s+eq\s+'((?:[^']|'')*)'\s*", re.IGNORECASE)
_Nested = tuple[tuple[str, tuple[str, ...]], ...]


def _expand(text: str, resource: Resource) -> tuple[tuple[str, ...], _Nested, _Nested]:
    """`$expand=attachments`, `attachments($select=name,size)`,
    `singleValueExtendedProperties($filter=id eq '…')`: the resource's expandable navigations, with the
    nested options Graph documents for each (odata/resources.py `expand_targets`, `_ID_FILTERED`)."""
    names: list[str] = []
    selects: list[tuple[str, tuple[str, ...]]] = []
    id_filters: list[tuple[str, tuple[str, ...]]] = []
    for item in _split_top_level(text):
        name, paren, rest = item.strip().partition("(")
        name = name.strip()
        if not name or name == "*":
            raise bad_request(f"Expanding '{item.strip()}' is not supported.")
        spec = resource.find_property(name)
        if spec is None:
            raise _unknown(resource, name, prefixed=True)
        if not spec.navigation:
            raise bad_request(
                f"{resource.select_error_prefix}Property '{spec.name}' on type '{resource.type_name}' "
                "is not a navigation property or complex property. Only navigation properties can be expanded."
            )
        if spec.name not in resource.expandable:
            raise bad_request(f"Expanding '{spec.name}' is not supported.")
        if paren:
            select, ids = _nested(spec.name, rest, resource)
            if select is not None:
                selects.append((spec.name, select))
            if ids is not None:
                id_filters.append((spec.name, ids))
        if spec.name not in names:
            names.append(spec.name)
    return tuple(names), tuple(selects), tuple(id_filters)


def _nested(
    navigation: str, rest: str, resource: Resource
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """The `$select=…` (navigations with a target resource) or `$filter=id eq '…' [or id eq '…']`
    (extended properties) inside `navigation(…)`; any other nested option is refused, never ignored."""
    target = resource.expand_targets.get(navigation)
    inner = rest.rstrip()
    if not inner.endswith(")"):
        raise bad_request(f"Syntax error: unbalanced parentheses in '{navigation}({rest}'.")
    inner = inner[:-1].strip()
    select: tuple[str, ...] | None = None
    ids: tuple[str, ...] | None = None
    for option in (o.strip() for o in inner.split(";")):
        key, _, value = option.partition("=")
        key = key.strip().lower()
        if key in ("$select", "select") and target is not None and value.strip() and select is None:
            select = _select(value, target)
        elif key in ("$filter", "filter") and navigation in _ID_FILTERED and ids is None:
            ids = _id_filter(value)
        elif option:
            raise bad_request(
                f"The query option '{option}' inside $expand of '{navigation}' is not supported."
            )
    return select, ids


def _id_filter(text: str) -> tuple[str, ...]:
    """`id eq 'A' or id eq 'B'`: the only filter Graph evaluates on expanded extended properties."""
    ids = []
    for part in re.split(r"\s+or\s+", text.strip(), flags=re.IGNORECASE):
        match = _ID_EQ.fullmatch(part)
        if match is None:
            raise bad_request(f"The filter '{text}' on extended properties must be id eq '…' (or-ed).")
        ids.append(match.group(1).replace("''", "'"))
    return tuple(ids)


def _order_by(text: str, resource: Resource) -> tuple[OrderBy, ...]:
    """`$orderby=a desc, b/c`: sortable properties only, each at most once."""
    keys: list[OrderBy] = []
    for item in text.split(","):
        match = _ORDER_ITEM.fullmatch(item)
        if match is None:
            raise bad_request(f"Syntax error in $orderby item '{item.strip()}'.")
        segments = match.group(1).split("/")
        spec = resource.find_field(segments)
        if spec is None and resource.find_property(segments[0]) is None:
            raise _unknown(resource, segments[0], prefixed=False)
        if spec is None or not spec.sortable:
            raise bad_request("OrderBy not supported.")  # spec §2.9 [field]
        if any(k.property.path == spec.path for k in keys):
            raise bad_request(f"Duplicate property named '{spec.name}' is not supported in '$orderby'.")
        descending = (match.group(2) or "asc").lower() == "desc"
        keys.append(OrderBy(Property(spec.path), descending))
    return tuple(keys)


def filter_properties(expr: Expr) -> list[tuple[str, ...]]:
    """The property paths a filter uses, in the order they appear in its text, each once.

    Args:
        expr: A parsed filter.

    Returns:
        Canonical paths, first occurrence order.
    """
    seen: list[tuple[str, ...]] = []
    stack: list[Expr] = [expr]
    while stack:  # iterative: a long `and` chain is a deep tree
        node = stack.pop()
        if isinstance(node, And | Or):
            stack.extend((node.right, node.left))
        elif isinstance(node, Not):
            stack.append(node.operand)
        else:
            if isinstance(node, ExtendedPropertyAny):
                path: tuple[str, ...] = ("singleValueExtendedProperties",)
            else:
                path = node.left.path if isinstance(node, Compare) else node.property.path
            if path not in seen:
                seen.append(path)
    return seen


def _check_order_in_filter(order_by: tuple[OrderBy, ...], expr: Expr) -> None:
    # Exchange serves a filtered, sorted listing from one index: the sort keys must be restricted too,
    # in the same order and before any other property (spec §2.9, user-list-messages.md).
    used = filter_properties(expr)
    wanted = [key.property.path for key in order_by]
    if used[: len(wanted)] != wanted:
        raise inefficient()
