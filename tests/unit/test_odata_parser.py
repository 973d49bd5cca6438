"""Query-string parsing and validation (spec §2.9, §5; client-wire fact 7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailgraph.odata.ast import (
    And,
    Call,
    Compare,
    Not,
    Or,
    OrderBy,
    Property,
    QueryOptions,
    Search,
    SearchTerm,
    Value,
)
from mailgraph.odata.errors import ODataError
from mailgraph.odata.parser import filter_properties, parse_query
from mailgraph.odata.resources import MAIL_FOLDER, MESSAGE
from mailgraph.odata.search import parse_search

LIST = frozenset({"$select", "$top", "$skip", "$orderby", "$filter", "$count", "$search", "$expand"})
INVALID = "ErrorInvalidUrlQueryFilter"

SUBJECT = Property(("subject",))
RECEIVED = Property(("receivedDateTime",))
IS_READ = Property(("isRead",))
FROM_ADDRESS = Property(("from", "emailAddress", "address"))
Y2K = datetime(2000, 1, 1, tzinfo=UTC)


def parse(query: str, allow: frozenset[str] = LIST) -> QueryOptions:
    return parse_query(query, MESSAGE, allow=allow)[0]


def error(query: str, allow: frozenset[str] = LIST) -> ODataError:
    with pytest.raises(ODataError) as info:
        parse_query(query, MESSAGE, allow=allow)
    return info.value


# -- the three client encodings (client-wire fact 7) ----------------------------------------------


def test_kiota_encoding() -> None:
    q = (
        "$filter=receivedDateTime%20ge%202000-01-01T00%3A00%3A00Z%20and%20startswith%28subject%2C%27ab%27%29"
        "&$orderby=receivedDateTime%20desc&$select=subject,from,toRecipients&$top=2"
    )
    options = parse(q)
    assert options.filter == And(Compare("ge", RECEIVED, Value(Y2K)), Call("startswith", SUBJECT, "ab"))
    assert options.order_by == (OrderBy(RECEIVED, descending=True),)
    assert options.select == ("subject", "from", "toRecipients")
    assert options.top == 2


def test_o365_encoding() -> None:
    q = (
        "%24top=2&%24filter=receivedDateTime+ge+2000-01-01T00%3A00%3A00%2B00%3A00"
        "+and+startswith%28subject%2C+%27x+y%27%29"
    )
    options = parse(q)
    assert options.top == 2
    assert options.filter == And(Compare("ge", RECEIVED, Value(Y2K)), Call("startswith", SUBJECT, "x y"))


def test_graph_client_encoding() -> None:
    options = parse("$filter=startswith(subject,%27[acc%C3%A9]%20page%27)")
    assert options.filter == Call("startswith", SUBJECT, "[accé] page")


def test_raw_plus_offset_read_back_as_offset() -> None:
    # A raw `+` decodes to a space; a space then HH:MM after a datetime can only be its offset.
    options = parse("$filter=receivedDateTime ge 2000-01-01T02:00:00+02:00")
    assert options.filter == Compare("ge", RECEIVED, Value(Y2K))


def test_latin1_bytes_of_raw_utf8_are_decoded() -> None:
    raw = "$filter=subject eq 'é'".encode().decode("latin-1")
    assert parse(raw).filter == Compare("eq", SUBJECT, Value("é"))


def test_option_names_case_insensitive_and_without_dollar() -> None:
    options = parse("$Top=5&%24SKIP=3&COUNT=true&select=Subject")
    assert (options.top, options.skip, options.count, options.select) == (5, 3, True, ("subject",))


def test_extra_parameters_returned() -> None:
    options, extra = parse_query("includeHiddenFolders=true&$top=1", MAIL_FOLDER, allow=frozenset({"$top"}))
    assert options.top == 1
    assert extra == {"includeHiddenFolders": "true"}


def test_unmodelled_system_options_returned_when_allowed() -> None:
    allow = frozenset({"$deltatoken", "$select"})
    options, extra = parse_query("%24DeltaToken=abc%3D&id=7&$select=subject", MESSAGE, allow=allow)
    assert options.select == ("subject",)
    assert extra == {"$deltatoken": "abc=", "id": "7"}
    assert error("$deltatoken=abc").code == "BadRequest"  # not allowed on a plain list


def test_empty_query() -> None:
    assert parse_query("", MESSAGE, allow=frozenset()) == (QueryOptions(), {})
    assert parse("&&") == QueryOptions()


# -- option validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "1001", "-1", "1.5", "abc", "", "٣", "99999999999999999999"])
def test_bad_top(value: str) -> None:
    e = error(f"$top={value}")
    assert e.code == "BadRequest"
    assert "$top" in e.message


@pytest.mark.parametrize("value", ["1", "1000"])
def test_top_bounds(value: str) -> None:
    assert parse(f"$top={value}").top == int(value)


@pytest.mark.parametrize("value", ["-1", "x", "", "1e3", str(2**31)])
def test_bad_skip(value: str) -> None:
    assert "$skip" in error(f"$skip={value}").message


def test_count_values() -> None:
    assert parse("$count=true").count is True
    assert parse("$count=False").count is False
    assert error("$count=yes").code == "BadRequest"


def test_unknown_option() -> None:
    e = error("$foo=1")
    assert (e.code, e.message) == ("BadRequest", "The query parameter '$foo' is not supported.")


def test_option_not_allowed_on_route() -> None:
    assert error("$filter=isRead", allow=frozenset({"$select"})).code == "BadRequest"
    assert error("$top=1", allow=frozenset()).code == "BadRequest"


def test_duplicate_option() -> None:
    assert "more than once" in error("$top=1&%24TOP=2").message


def test_query_too_long() -> None:
    assert error("$filter=" + "x" * 9000).code == "BadRequest"


# -- $select and $expand --------------------------------------------------------------------------


def test_select_spaces_case_and_duplicates() -> None:
    assert parse("$select=subject, BODY ,subject,id").select == ("subject", "body", "id")


def test_select_star_is_everything() -> None:
    assert parse("$select=*").select is None


def test_select_unknown_property_graph_answer() -> None:
    e = error("$select=subject,foo")
    assert e.code == "RequestBroker--ParseUri"
    assert e.message == "Could not find a property named 'foo' on type 'microsoft.graph.message'."


def test_select_unknown_on_mail_folder() -> None:
    with pytest.raises(ODataError) as info:
        parse_query("$select=isRead", MAIL_FOLDER, allow=frozenset({"$select"}))
    assert info.value.code == "BadRequest"
    assert info.value.message == (
        "Parsing OData Select and Expand failed: "
        "Could not find a property named 'isRead' on type 'microsoft.graph.mailFolder'."
    )


def test_select_navigation_refused() -> None:
    assert error("$select=attachments").code == "BadRequest"


def test_expand_validated() -> None:
    assert error("$expand=foo").code == "RequestBroker--ParseUri"
    assert "not a navigation property" in error("$expand=subject").message
    assert parse("$expand=Attachments").expand == ("attachments",)  # the one expandable navigation
    assert parse("$expand=extensions").expand == ("extensions",)  # issue 15
    assert error("$expand=mentions").code == "RequestBroker--ParseUri"  # beta-only, unknown in v1.0 tables
    nested = parse("$expand=attachments($select=Name,size)")  # nested $select (issue 15)
    assert nested.expand == ("attachments",) and nested.selected_in("attachments") == ("name", "size")
    assert error("$expand=attachments($top=1)").code == "BadRequest"


# -- $filter --------------------------------------------------------------------------------------


def f(text: str) -> object:
    return parse("$filter=" + text.replace("&", "%26")).filter


def test_bare_boolean_property() -> None:
    assert f("isRead") == Compare("eq", IS_READ, Value(True))
    assert f("not isRead") == Not(Compare("eq", IS_READ, Value(True)))


def test_precedence_and_parentheses() -> None:
    a = Compare("eq", SUBJECT, Value("a"))
    b = Compare("eq", SUBJECT, Value("b"))
    c = Compare("eq", SUBJECT, Value("c"))
    assert f("subject eq 'a' or subject eq 'b' and subject eq 'c'") == Or(a, And(b, c))
    assert f("(subject eq 'a' or subject eq 'b') and subject eq 'c'") == And(Or(a, b), c)
    assert f("subject eq 'a' and subject eq 'b' and subject eq 'c'") == And(And(a, b), c)
    assert f("not (subject eq 'a' or subject eq 'b')") == Not(Or(a, b))


def test_keywords_case_insensitive() -> None:
    assert f("Subject EQ 'a' AND NOT IsRead") == And(
        Compare("eq", SUBJECT, Value("a")), Not(Compare("eq", IS_READ, Value(True)))
    )


@pytest.mark.parametrize(
    ("text", "op"),
    [("'a' eq subject", "eq"), ("'a' ne subject", "ne"), ("'a' lt subject", "gt"), ("'a' ge subject", "le")],
)
def test_literal_on_left_flipped(text: str, op: str) -> None:
    assert f(text) == Compare(op, SUBJECT, Value("a"))  # type: ignore[arg-type]


def test_string_escaping_and_functions_with_spaces() -> None:
    assert f("subject eq 'it''s'") == Compare("eq", SUBJECT, Value("it's"))
    assert f("contains( subject , 'x' )") == Call("contains", SUBJECT, "x")
    assert f("startswith(from/emailAddress/address, 'bob')") == Call("startswith", FROM_ADDRESS, "bob")


def test_call_compared_to_boolean() -> None:
    call = Call("contains", SUBJECT, "x")
    assert f("contains(subject,'x') eq true") == call
    assert f("contains(subject,'x') eq false") == Not(call)
    assert f("true ne contains(subject,'x')") == Not(call)


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("2000-01-01T00:00:00Z", Y2K),
        ("2000-01-01T00:00:00+00:00", Y2K),
        ("2000-01-01T01:00:00%2B01:00", Y2K),
        ("1999-12-31T19:00:00-05:00", Y2K),
        ("2000-01-01", Y2K),
        ("2000-01-01T00:00:00.1234567Z", Y2K + timedelta(microseconds=123456)),
    ],
)
def test_datetimes(literal: str, expected: datetime) -> None:
    value = parse(f"$filter=receivedDateTime ge {literal}").filter
    assert value == Compare("ge", RECEIVED, Value(expected))
    assert isinstance(value, Compare) and isinstance(value.right.value, datetime)
    assert value.right.value.tzinfo is not None


def test_offset_kept() -> None:
    value = f("sentDateTime lt 2000-01-01T05:30:00+05:30")
    assert isinstance(value, Compare)
    assert value.right.value == Y2K
    assert isinstance(value.right.value, datetime)
    assert value.right.value.utcoffset() == timezone(timedelta(hours=5, minutes=30)).utcoffset(None)


def test_enums_case_insensitive_and_qualified() -> None:
    assert f("importance eq 'HIGH'") == Compare("eq", Property(("importance",)), Value("high"))
    assert f("flag/flagStatus eq 'flagged'") == Compare(
        "eq", Property(("flag", "flagStatus")), Value("flagged")
    )
    assert f("flag/flagStatus ne microsoft.graph.followupFlagStatus'NOTFLAGGED'") == Compare(
        "ne", Property(("flag", "flagStatus")), Value("notFlagged")
    )
    assert error("$filter=importance eq 'urgent'").code == "BadRequest"


def test_null_and_nested_paths() -> None:
    assert f("From/EmailAddress/Address eq null") == Compare("eq", FROM_ADDRESS, Value(None))
    assert error("$filter=receivedDateTime gt null").code == "BadRequest"


@pytest.mark.parametrize(
    "text",
    [
        "endswith(subject,'x')",
        "subject in ('a','b')",
        "toRecipients/any(r:r/emailAddress/address eq 'a@b.c')",
        "categories/any(c:c ne 'red')",  # categories/any(c:c eq 'red') is supported (issue 15)
        "categories/any(c:contains(c,'r'))",
        "tolower(subject) eq 'x'",
        "body/content eq 'x'",
        "subject eq subject",
        "'a' eq 'a'",
        "isRead gt false",
        "importance lt 'high'",
        "true",
        "hasAttachments add 1 eq 2",
    ],
)
def test_unsupported_constructs_are_invalid_nodes(text: str) -> None:
    e = error("$filter=" + text)
    assert (e.code, e.message) == (INVALID, "The query filter contains one or more invalid nodes.")


@pytest.mark.parametrize(
    "text",
    [
        "receivedDateTime ge 'x'",
        "isRead eq 'true'",
        "subject eq 1",
        "subject eq 2000-01-01T00:00:00Z",
        "contains(importance,'h')",
        "startswith(subject,1)",
    ],
)
def test_literal_type_checked(text: str) -> None:
    assert error("$filter=" + text).code == "BadRequest"


def test_unknown_filter_property() -> None:
    e = error("$filter=isJunk ne true")
    assert (e.code, e.message) == (
        "RequestBroker--ParseUri",
        "Could not find a property named 'isJunk' on type 'microsoft.graph.message'.",
    )


@pytest.mark.parametrize(
    "text",
    [
        "subject eq",
        "subject eq 'abc",
        "(isRead",
        "isRead)",
        "subject",
        "isRead and",
        "subject eq 'a' 'b'",
        "subject # 'a'",
        "receivedDateTime ge 2000-13-01T00:00:00Z",
        "receivedDateTime ge 2000-01-01T00:00:00+15:00",
        "subject eq 1.5",
        "",
        "   ",
    ],
)
def test_syntax_errors_are_bad_request(text: str) -> None:
    assert error("$filter=" + text.replace("#", "%23")).code == "BadRequest"


def test_nesting_and_size_bounded() -> None:
    assert error("$filter=" + "(" * 60 + "isRead" + ")" * 60).code == "InefficientFilter"
    assert error("$filter=" + "not " * 60 + "isRead").code == "InefficientFilter"
    assert error("$filter=" + " and ".join(["isRead"] * 101)).code == "InefficientFilter"
    assert parse("$filter=" + " and ".join(["isRead"] * 100)).filter is not None
    assert parse("$filter=" + "(" * 50 + "isRead" + ")" * 50).filter == Compare("eq", IS_READ, Value(True))


# -- $orderby and its rule with $filter ---------------------------------------------------------


def test_orderby_parsing() -> None:
    assert parse("$orderby=receivedDateTime desc, from/emailAddress/name,Subject ASC").order_by == (
        OrderBy(RECEIVED, True),
        OrderBy(Property(("from", "emailAddress", "name")), False),
        OrderBy(SUBJECT, False),
    )


def test_orderby_errors() -> None:
    assert error("$orderby=foo").code == "RequestBroker--ParseUri"
    assert error("$orderby=body").message == "OrderBy not supported."
    assert error("$orderby=bodyPreview").message == "OrderBy not supported."
    assert error("$orderby=subject sideways").code == "BadRequest"
    assert "Duplicate" in error("$orderby=subject,Subject desc").message


@pytest.mark.parametrize(
    ("filter_", "order", "ok"),
    [
        ("receivedDateTime ge 2000-01-01", "receivedDateTime desc", True),
        ("receivedDateTime ge 2000-01-01 and subject eq 'a'", "receivedDateTime", True),
        ("receivedDateTime ge 2000-01-01 and subject eq 'a'", "receivedDateTime,subject", True),
        ("subject eq 'a' and receivedDateTime ge 2000-01-01", "receivedDateTime", False),
        ("receivedDateTime ge 2000-01-01 and subject eq 'a'", "subject,receivedDateTime", False),
        ("subject eq 'a'", "receivedDateTime", False),
        ("'a' eq subject", "subject", True),
    ],
)
def test_orderby_must_lead_the_filter(filter_: str, order: str, ok: bool) -> None:
    query = f"$filter={filter_}&$orderby={order}"
    if ok:
        parse(query)
    else:
        e = error(query)
        assert (e.code, e.message) == (
            "InefficientFilter",
            "The restriction or sort order is too complex for this operation.",
        )


def test_filter_properties_in_text_order() -> None:
    expr = f("(subject eq 'a' or isRead) and not contains(subject,'b') and receivedDateTime ge 2000-01-01")
    assert expr is not None
    assert filter_properties(expr) == [("subject",), ("isRead",), ("receivedDateTime",)]  # type: ignore[arg-type]


# -- $search --------------------------------------------------------------------------------------


def test_search_terms() -> None:
    assert parse('$search="pizza"').search == Search((SearchTerm("pizza"),))
    assert parse_search('"subject:\\"hello world\\" FROM:bob AND x"') == Search(
        (SearchTerm("hello world", "subject", phrase=True), SearchTerm("bob", "from"), SearchTerm("x"))
    )
    assert parse_search('to:a@b.c "a phrase" http://x') == Search(
        (SearchTerm("a@b.c", "to"), SearchTerm("a phrase", phrase=True), SearchTerm("http://x"))
    )


@pytest.mark.parametrize("value", ['""', "", "AND", '"size:10"', "a OR b", '"unterminated', "subject:"])
def test_search_errors(value: str) -> None:
    assert error("$search=" + value.replace('"', "%22")).code == "BadRequest"


def test_search_combinations() -> None:
    e = error('$search="x"&$orderby=subject')
    assert (e.code, e.message) == (
        "SearchWithOrderBy",
        "The query parameter '$orderBy' is not supported with '$search'.",
    )
    assert error('$search="x"&$filter=isRead').code == "ErrorInvalidUrlQuery"
    assert parse('$search="x"&$top=5&$count=true').search is not None


def test_search_term_limit() -> None:
    assert error("$search=" + "+".join(["w"] * 65)).code == "InefficientFilter"
