"""Properties of the OData layer: total error handling, print/parse round trip, SQL that always runs."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailgraph.odata.ast import And, Call, Compare, CompareOp, Expr, Not, Or, Property, Value
from mailgraph.odata.errors import ODataError
from mailgraph.odata.parser import parse_query
from mailgraph.odata.printer import print_filter
from mailgraph.odata.resources import MAIL_FOLDER, MESSAGE, FieldSpec
from mailgraph.store.engines.sqlite import install_functions
from mailgraph.store.sql.filters import compile_message_filter, compile_message_order, compile_message_search

MIGRATION = Path(__file__).parents[2] / "src" / "mailgraph" / "store" / "migrations" / "0001_init.sql"
ALL = frozenset({"$select", "$top", "$skip", "$orderby", "$filter", "$count", "$search", "$expand"})
BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- (a) arbitrary input: ODataError or a result, nothing else -------------------------------------

FILTER_WORDS = [
    "subject", "isRead", "receivedDateTime", "from/emailAddress/address", "importance", "flag/flagStatus",
    " eq ", " ne ", " gt ", " le ", " and ", " or ", "not ", "(", ")", ",", "'", "''", "'x'", "true",
    "null", "42", "-7", "2000-01-01T00:00:00Z", "2000-01-01T00:00:00+01:00", "2000-01-01", "startswith(",
    "contains(", "endswith(", " in ", "any(", "/", ":", "%", "+", "microsoft.graph.importance'high'",
]  # fmt: skip


@BOUNDED
@given(st.text(max_size=300))
def test_arbitrary_query_only_raises_odata_error(text: str) -> None:
    for resource in (MESSAGE, MAIL_FOLDER):
        with contextlib.suppress(ODataError):
            parse_query(text, resource, allow=ALL)


@BOUNDED
@given(
    st.lists(st.sampled_from(FILTER_WORDS) | st.text(max_size=3), max_size=30),
    st.sampled_from(["$filter", "$orderby", "$search", "$select", "$expand"]),
)
def test_filterish_option_values_only_raise_odata_error(words: list[str], option: str) -> None:
    value = "".join(words)
    for encoded in (value, quote(value, safe="")):
        try:
            options, _ = parse_query(f"{option}={encoded}", MESSAGE, allow=ALL)
        except ODataError:
            continue
        # Whatever parses must compile and run.
        if options.filter is not None:
            _run(*compile_message_filter(options.filter))
        if options.search is not None:
            _run(*compile_message_search(options.search))
        _run("1 = 1", [], compile_message_order(options.order_by))


# -- (b) generated trees: print → parse gives the same tree ----------------------------------------

MESSAGE_FIELDS = sorted(MESSAGE.fields.values(), key=lambda s: s.path)
STRING_FIELDS = [s for s in MESSAGE_FIELDS if s.type == "string"]
safe_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])
datetimes = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets)


@st.composite
def comparisons(draw: st.DrawFn) -> Expr:
    spec: FieldSpec = draw(st.sampled_from(MESSAGE_FIELDS))
    prop = Property(spec.path)
    # Exchange has no range restriction on booleans and enums (the parser refuses them).
    ops: list[CompareOp] = (
        ["eq", "ne"] if spec.type in ("bool", "enum") else ["eq", "ne", "gt", "ge", "lt", "le"]
    )
    op = draw(st.sampled_from(ops))
    if op in ("eq", "ne") and draw(st.integers(0, 9)) == 0:
        return Compare(op, prop, Value(None))
    value: str | bool | datetime
    if spec.type == "string":
        value = draw(safe_text)
    elif spec.type == "bool":
        value = draw(st.booleans())
    elif spec.type == "datetime":
        value = draw(datetimes)
    else:
        value = draw(st.sampled_from(spec.enum_values))
    return Compare(op, prop, Value(value))


calls = st.builds(
    Call,
    st.sampled_from(["startswith", "contains"]),
    st.sampled_from([Property(s.path) for s in STRING_FIELDS]),
    safe_text,
)
trees: st.SearchStrategy[Expr] = st.recursive(
    comparisons() | calls,
    lambda inner: st.builds(And, inner, inner) | st.builds(Or, inner, inner) | st.builds(Not, inner),
    max_leaves=12,
)


@BOUNDED
@given(trees)
def test_print_parse_round_trip(tree: Expr) -> None:
    text = print_filter(tree)
    options, _ = parse_query("$filter=" + quote(text, safe=""), MESSAGE, allow=ALL)
    assert options.filter == tree, text


@BOUNDED
@given(trees)
def test_round_trip_with_form_encoding(tree: Expr) -> None:
    # O365 style: spaces as `+`, `$` as `%24` (client-wire fact 7).
    text = print_filter(tree)
    options, _ = parse_query("%24filter=" + quote(text, safe="").replace("%20", "+"), MESSAGE, allow=ALL)
    assert options.filter == tree


# -- (c) compiled SQL always executes, with one parameter per placeholder --------------------------


_DB: list[sqlite3.Connection] = []  # one schema for the whole module, made on first use


def _run(where: str, params: list[object], order: str = "id") -> None:
    if not _DB:
        conn = sqlite3.connect(":memory:")
        install_functions(conn)
        conn.executescript(MIGRATION.read_text())
        _DB.append(conn)
    assert where.count("?") == len(params)
    _DB[0].execute(f"SELECT id FROM messages WHERE {where} ORDER BY {order}", params).fetchall()


@BOUNDED
@given(trees)
def test_compiled_sql_executes(tree: Expr) -> None:
    sql, params = compile_message_filter(tree)
    assert all(isinstance(p, str | int) for p in params)
    _run(sql, params)
