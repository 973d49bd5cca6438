"""`categories/any(c: c eq '…')` in SQL agrees with a Python model, on every engine (hypothesis).

The SQL (store/sql/filters.py `_any_eq`) asks `mg_has_member` of each engine; the alphabet here is full
of JSON and LIKE metacharacters (`"`, `\\`, `,`, `[`, `%`, `_`) and case pairs folding differs on
(ß/SS, É/é): a member must match only as a whole and case-insensitively (str.casefold, as mg_fold).
The explicit examples are the ones a LIKE over the encoded text got wrong (found by this test).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailgraph.domain.model import Message, Page, User
from mailgraph.domain.ports import Tx
from mailgraph.odata.ast import AnyEq, Not, Property
from mailgraph.store.engines import open_engine
from tests import pgdb
from tests.store.conftest import ENGINES
from tests.store.test_contract import message, seed

NAME = st.text(alphabet='ab AßSSéÉ"\\,[]%_:', min_size=1, max_size=6)
CATEGORIES = Property(("categories",))


@pytest.fixture(scope="module", params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An engine with one mailbox, driven from sync code on pgdb's background loop."""
    name = None
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path_factory.mktemp('cats').resolve()}/db.sqlite"
    else:
        name = pgdb.create(prefix="mg_cats")
        url = pgdb.url_of(name)
    engine = pgdb.run(lambda: open_engine(url))
    (alice,) = pgdb.run(lambda: seed(engine, "alice"))
    inbox = pgdb.run(lambda: engine.read(lambda tx: tx.folders.well_known_ids(alice.id)))["inbox"]
    yield engine, alice, inbox
    pgdb.run(engine.close)
    if name is not None:
        pgdb.drop(name)


def _items(alice: User, inbox: str, members: list[list[str]]) -> list[Message]:
    items = []
    for i, cats in enumerate(members):
        item = message(alice, inbox, i + 1, subject=str(i))
        item.categories = cats
        items.append(item)
    return items


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members=st.lists(st.lists(NAME, max_size=3), max_size=6), data=st.data())
def test_any_eq_matches_the_model(store: Any, members: list[list[str]], data: st.DataObject) -> None:
    pool = [c for cats in members for c in cats]
    value = data.draw(st.sampled_from(pool).map(str.swapcase) | NAME if pool else NAME, label="value")
    _check(store, members, value)


@pytest.mark.parametrize(
    ("members", "value"),
    [
        ([[":", "[", ":"], [":", ":", ","]], ","),  # `[","` spans the members "[" and ":"
        ([["a,", ",x"], ["y"]], ","),  # `,",",` starts inside the member "a,"
    ],
)
def test_any_eq_never_matches_across_members(store: Any, members: list[list[str]], value: str) -> None:
    _check(store, members, value)


def _check(store: Any, members: list[list[str]], value: str) -> None:
    engine, alice, inbox = store
    items = _items(alice, inbox, members)

    async def replace_all(tx: Tx) -> None:
        for old in await tx.messages.list(alice.id, None, Page(top=1000)):
            await tx.messages.delete(old.id)
        for item in items:
            await tx.messages.insert(item)

    pgdb.run(lambda: engine.write(replace_all))
    expected = {m.subject for m in items if any(c.casefold() == value.casefold() for c in m.categories)}
    for expr, want in (
        (AnyEq(CATEGORIES, value), expected),
        (Not(AnyEq(CATEGORIES, value)), {m.subject for m in items} - expected),
    ):
        page = Page(top=1000, filter=expr)
        got = pgdb.run(lambda p=page: engine.read(lambda tx: tx.messages.list(alice.id, None, p)))  # type: ignore[misc]
        assert {m.subject for m in got} == want, (members, value)
