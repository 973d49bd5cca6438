"""Filter/order/search SQL, executed on SQLite built from the real migration."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailgraph.odata.ast import Call, Compare, Not, OrderBy, Property, Search, SearchTerm, Value
from mailgraph.odata.errors import ODataError
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MESSAGE
from mailgraph.store.engines.sqlite import install_functions
from mailgraph.store.sql.filters import (
    compile_message_filter,
    compile_message_order,
    compile_message_search,
    escape_like,
)

MIGRATION = Path(__file__).parents[2] / "src" / "mailgraph" / "store" / "migrations" / "0001_init.sql"
ALL = frozenset({"$filter", "$orderby", "$search"})
SECOND = 1_000_000
T0 = int(datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC).timestamp()) * SECOND

BASE: dict[str, object] = {
    "mailbox_id": "u1",
    "folder_id": "inbox",
    "change_key": "ck",
    "created_at": T0,
    "modified_at": T0,
    "received_at": T0,
    "sent_at": T0,
    "is_draft": 0,
    "is_read": 0,
    "has_attachments": 0,
    "importance": "normal",
    "inference_classification": "focused",
    "internet_message_id": "<x@example.com>",
    "conversation_id": "conv",
    "conversation_index": "AQ==",
    "subject": "",
    "body_type": "html",
    "body": "",
    "body_preview": "",
    "from_address": None,
    "from_name": None,
    "sender_address": None,
    "sender_name": None,
    "to_json": "[]",
    "cc_json": "[]",
    "bcc_json": "[]",
    "reply_to_json": "[]",
    "categories_json": "[]",
    "flag_status": "notFlagged",
    "flag_json": "{}",
    "headers_json": "[]",
    "is_delivery_receipt_requested": 0,
    "is_read_receipt_requested": 0,
}

ROWS: list[dict[str, object]] = [
    {
        "rest_id": "a",
        "subject": "Hello World",
        "from_address": "Alice@Example.com",
        "from_name": "Alice",
        "is_read": 1,
        "received_at": T0 + 500_000,  # 12:00:00.5 — rendered as 12:00:00Z
        "importance": "high",
        "body": "<p>Quarterly report</p>",
        "to_json": '[["bob@example.com","Bob"]]',
    },
    {
        "rest_id": "b",
        "subject": "100% done_ok",
        "from_address": "bob@example.com",
        "from_name": "Bob",
        "received_at": T0 + 60 * SECOND,
        "flag_status": "flagged",
        "cc_json": '[["carol@example.com","Carol"]]',
    },
    {"rest_id": "c", "subject": "re: hello", "received_at": T0 - 60 * SECOND, "has_attachments": 1},
    {
        "rest_id": "d",
        "subject": "back\\slash",
        "from_address": "dave@example.com",
        "received_at": T0 + 60 * SECOND,
    },
]


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    install_functions(conn)
    conn.executescript(MIGRATION.read_text())
    conn.execute("INSERT INTO tenants VALUES ('t', 'T', '[]')")
    conn.execute("INSERT INTO users VALUES ('u1', 't', 'u@x', 'u@x', 'u@x', 'u@x', 'U', NULL, 1)")
    conn.execute("INSERT INTO folders VALUES ('inbox', 'u1', NULL, 'inbox', 'Inbox', 0)")
    for i, row in enumerate(ROWS):
        values = {**BASE, "id": f"imm-{i}", **row}
        names = ", ".join(values)
        conn.execute(
            f"INSERT INTO messages ({names}) VALUES ({', '.join('?' * len(values))})", list(values.values())
        )
    yield conn
    conn.close()


def matching(db: sqlite3.Connection, where: str, params: list[object]) -> list[str]:
    assert where.count("?") == len(params)
    rows = db.execute(f"SELECT rest_id FROM messages WHERE {where} ORDER BY rest_id", params).fetchall()
    return [r[0] for r in rows]


def where(db: sqlite3.Connection, text: str) -> list[str]:
    options = parse_query("$filter=" + text.replace("%", "%25").replace("&", "%26"), MESSAGE, allow=ALL)[0]
    assert options.filter is not None
    return matching(db, *compile_message_filter(options.filter))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("subject eq 'hello world'", ["a"]),
        ("subject ne 'HELLO WORLD'", ["b", "c", "d"]),
        ("startswith(subject,'RE:')", ["c"]),
        ("contains(subject,'hello')", ["a", "c"]),
        ("contains(subject,'100%')", ["b"]),
        ("contains(subject,'0%')", ["b"]),
        ("contains(subject,'e_o')", ["b"]),  # `_` is literal, not a wildcard
        ("contains(subject,'o_')", []),
        ("contains(subject,'k\\s')", ["d"]),
        ("isRead", ["a"]),
        ("not isRead", ["b", "c", "d"]),
        ("isRead eq false and hasAttachments", ["c"]),
        ("importance eq 'High'", ["a"]),
        ("importance ne 'high'", ["b", "c", "d"]),
        ("flag/flagStatus eq 'flagged'", ["b"]),
        ("from/emailAddress/address eq 'alice@example.COM'", ["a"]),
        ("from/emailAddress/address ne 'alice@example.com'", ["b", "c", "d"]),  # NULL counts as "not equal"
        ("not (from/emailAddress/address eq 'alice@example.com')", ["b", "c", "d"]),
        ("not startswith(from/emailAddress/address,'bob')", ["a", "c", "d"]),
        ("not contains(from/emailAddress/name,'x')", ["a", "b", "c", "d"]),
        ("from/emailAddress/address eq null", ["c"]),
        ("from/emailAddress/address ne null", ["a", "b", "d"]),
        ("from/emailAddress/name ge 'B'", ["b"]),
        ("sender/emailAddress/address eq null", ["a", "b", "c", "d"]),
        ("id eq 'a' or id eq 'c'", ["a", "c"]),
    ],
)
def test_filter_rows(db: sqlite3.Connection, text: str, expected: list[str]) -> None:
    assert where(db, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # `a` was received at 12:00:00.5 and is shown as 12:00:00Z: it equals that second.
        ("receivedDateTime eq 2024-05-01T12:00:00Z", ["a"]),
        ("receivedDateTime ne 2024-05-01T12:00:00Z", ["b", "c", "d"]),
        ("receivedDateTime gt 2024-05-01T12:00:00Z", ["b", "d"]),
        ("receivedDateTime ge 2024-05-01T12:00:00Z", ["a", "b", "d"]),
        ("receivedDateTime lt 2024-05-01T12:00:00Z", ["c"]),
        ("receivedDateTime le 2024-05-01T12:00:00Z", ["a", "c"]),
        ("receivedDateTime ge 2024-05-01T14:00:00+02:00", ["a", "b", "d"]),
        ("receivedDateTime gt 2024-05-01T12:00:00.2Z", ["b", "d"]),
        ("receivedDateTime ge 2024-05-01T12:00:00.2Z", ["b", "d"]),
        ("receivedDateTime le 2024-05-01T12:00:00.2Z", ["a", "c"]),
        ("receivedDateTime lt 2024-05-01T12:00:00.2Z", ["a", "c"]),
        ("receivedDateTime eq 2024-05-01T12:00:00.2Z", []),
        ("2024-05-01T12:00:00Z lt receivedDateTime", ["b", "d"]),
        ("sentDateTime eq 2024-05-01", []),
    ],
)
def test_datetimes_compare_at_second_granularity(
    db: sqlite3.Connection, text: str, expected: list[str]
) -> None:
    assert where(db, text) == expected


def test_values_are_parameters_never_sql(db: sqlite3.Connection) -> None:
    sql, params = compile_message_filter(
        Compare("eq", Property(("subject",)), Value("x'); DROP TABLE messages;--"))
    )
    assert "DROP" not in sql
    assert params == ["x'); DROP TABLE messages;--"]
    assert matching(db, sql, params) == []


def test_unmapped_property_refused() -> None:
    with pytest.raises(ODataError) as info:
        compile_message_filter(Compare("eq", Property(("body",)), Value("x")))
    assert info.value.code == "ErrorInvalidUrlQueryFilter"
    with pytest.raises(ODataError):
        compile_message_filter(Call("contains", Property(("isRead",)), "x"))
    with pytest.raises(ODataError):
        compile_message_filter(Not(Compare("gt", Property(("receivedDateTime",)), Value("yesterday"))))


def test_escape_like() -> None:
    assert escape_like("a%b_c\\d") == "a\\%b\\_c\\\\d"


# -- order ----------------------------------------------------------------------------------------


def ordered(db: sqlite3.Connection, order: str) -> list[str]:
    return [r[0] for r in db.execute(f"SELECT rest_id FROM messages ORDER BY {order}").fetchall()]


def test_default_order() -> None:
    assert compile_message_order(()) == "received_at DESC, id DESC"


def test_order_tie_break_follows_first_key(db: sqlite3.Connection) -> None:
    asc = compile_message_order((OrderBy(Property(("receivedDateTime",))),))
    assert asc == "received_at ASC, id ASC"
    assert ordered(db, asc) == ["c", "a", "b", "d"]  # b (imm-1) before d (imm-3) on equal times
    desc = compile_message_order((OrderBy(Property(("receivedDateTime",)), descending=True),))
    assert ordered(db, desc) == ["d", "b", "a", "c"]


def test_order_text_case_insensitive_and_nulls_lowest(db: sqlite3.Connection) -> None:
    name = Property(("from", "emailAddress", "address"))
    assert ordered(db, compile_message_order((OrderBy(name),))) == ["c", "a", "b", "d"]
    assert ordered(db, compile_message_order((OrderBy(name, descending=True),))) == ["d", "b", "a", "c"]
    by_subject = compile_message_order(
        (OrderBy(Property(("subject",))), OrderBy(Property(("isRead",)), True))
    )
    assert by_subject.startswith("mg_fold(subject) ASC, is_read DESC")
    assert ordered(db, by_subject) == ["b", "d", "a", "c"]


def test_order_unmapped_property_refused() -> None:
    with pytest.raises(ODataError):
        compile_message_order((OrderBy(Property(("body",))),))


# -- search ---------------------------------------------------------------------------------------


def search(db: sqlite3.Connection, value: str) -> list[str]:
    options = parse_query("$search=" + value.replace("%", "%25").replace('"', "%22"), MESSAGE, allow=ALL)[0]
    assert options.search is not None
    return matching(db, *compile_message_search(options.search))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"hello"', ["a", "c"]),
        ('"quarterly"', ["a"]),  # body
        ('"alice"', ["a"]),  # from name/address
        ('"hello alice"', ["a"]),  # terms are AND-ed
        ('"subject:hello"', ["a", "c"]),
        ('"subject:quarterly"', []),
        ('"body:report"', ["a"]),
        ('"from:bob"', ["b"]),
        ('"to:bob"', ["a"]),
        ('"cc:carol"', ["b"]),
        ('"recipients:carol"', ["b"]),
        ('"participants:bob"', ["a", "b"]),
        ('"subject:\\"hello world\\""', ["a"]),
        ('"100%"', ["b"]),
    ],
)
def test_search_rows(db: sqlite3.Connection, value: str, expected: list[str]) -> None:
    assert search(db, value) == expected


def test_empty_search_matches_all(db: sqlite3.Connection) -> None:
    assert matching(db, *compile_message_search(Search(()))) == ["a", "b", "c", "d"]
    assert compile_message_search(Search((SearchTerm("x", "to"),)))[1] == ["%x%"]
