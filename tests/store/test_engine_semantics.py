"""Semantics every engine must keep (store/contract.py states them); runs once per engine in ENGINES.

(a) a failing unit rolls back alone while its batch-mates commit; (b) what a unit that suspends
does to the batch and the engine; (c) case folding of lookups, `$filter`, `$orderby` and `$search`,
non-ASCII letters included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from mailgraph.domain.model import EmailAddress, Page, User
from mailgraph.domain.ports import Tx
from mailgraph.odata.ast import Call, Compare, Expr, OrderBy, Property, Search, SearchTerm, Value
from mailgraph.store.contract import Engine, UnitSuspendedError
from tests.store.test_contract import TENANT, message, seed, user

# Whether an engine runs a unit that awaits something other than its Tx (True: PostgreSQL, where
# units really await) or refuses it with UnitSuspendedError (SQLite drives units synchronously).
RUNS_SUSPENDING_UNITS = {"sqlite": False, "postgres": True}


class Boom(Exception):
    """A unit's own failure, raised after it wrote."""


async def _users(engine: Engine) -> set[str]:
    return {u.user_principal_name for u in await engine.read(lambda tx: tx.directory.list_users())}


async def _heavy(tx: Tx) -> None:
    """A unit long enough that the units submitted after it queue up and share a batch."""
    for i in range(300):
        await tx.directory.put_user(user(f"heavy{i}"))


async def test_a_unit_failing_after_it_wrote_rolls_back_alone(engine: Engine) -> None:
    (alice,) = await seed(engine, "alice")
    inbox = (await engine.read(lambda tx: tx.folders.well_known_ids(alice.id)))["inbox"]
    good = [user(f"u{i}") for i in range(12)]
    doomed_user, doomed_item = user("doomed"), message(alice, inbox, 5)

    async def failing(tx: Tx) -> None:
        await tx.directory.put_user(doomed_user)
        await tx.messages.insert(doomed_item)  # also moves the Inbox counters: they must roll back
        raise Boom

    def put(u: User) -> Callable[[Tx], Awaitable[None]]:
        return lambda tx: tx.directory.put_user(u)

    units = [_heavy, *(put(u) for u in good[:6]), failing, *(put(u) for u in good[6:])]
    results = await asyncio.gather(*(engine.write(u) for u in units), return_exceptions=True)
    assert [type(r) for r in results if r is not None] == [Boom]
    names = await _users(engine)
    assert {u.user_principal_name for u in good} <= names and doomed_user.user_principal_name not in names
    assert await engine.read(lambda tx: tx.messages.get_immutable(alice.id, doomed_item.id)) is None
    folder = await engine.read(lambda tx: tx.folders.get(alice.id, inbox))
    assert folder is not None and (folder.total_item_count, folder.unread_item_count) == (0, 0)


async def _sleeps(tx: Tx) -> None:
    await asyncio.sleep(0)


async def _awaits_a_future(tx: Tx) -> None:
    loop = asyncio.get_running_loop()  # on SQLite's writer thread there is none: also refused
    future = loop.create_future()
    loop.call_soon(future.set_result, None)
    await future


@pytest.mark.parametrize("suspend", [_sleeps, _awaits_a_future], ids=["sleep", "future"])
async def test_a_suspending_unit_is_all_or_nothing_and_the_engine_stays_usable(
    engine: Engine, suspend: Callable[[Tx], Awaitable[None]]
) -> None:
    await seed(engine, "alice")
    before, after = user("before"), user("after")
    neighbours = [user(f"n{i}") for i in range(8)]

    async def suspending(tx: Tx) -> str:
        await tx.directory.put_user(before)
        await suspend(tx)
        await tx.directory.put_user(after)
        return "done"

    def put(u: User) -> Callable[[Tx], Awaitable[None]]:
        return lambda tx: tx.directory.put_user(u)

    units = [_heavy, *(put(u) for u in neighbours[:4]), suspending, *(put(u) for u in neighbours[4:])]
    results = await asyncio.gather(*(engine.write(u) for u in units), return_exceptions=True)
    names = await _users(engine)
    assert {u.user_principal_name for u in neighbours} <= names  # the batch-mates committed
    mine = {before.user_principal_name, after.user_principal_name} & names
    outcome = results[5]
    if RUNS_SUSPENDING_UNITS[engine.name]:
        assert outcome == "done" and len(mine) == 2
    else:
        # SQLite: refused (the sleep) or failed for want of a loop (the future); never half-written.
        assert isinstance(outcome, UnitSuspendedError | RuntimeError) and mine == set()
    # Still usable: a plain write and a read after it.
    await engine.write(lambda tx: tx.directory.put_user(user("later")))
    assert "later@example.test" in await _users(engine)


# (c) Case folding: Unicode `str.casefold()` everywhere (store/sql/dialect.py, `mg_fold`).

FOLDED = [  # (stored, asked): must match case-insensitively
    ("école ärger", "ÉCOLE ÄRGER"),  # Latin-1 accents: SQLite's lower() alone missed these
    ("привет мир", "ПРИВЕТ МИР"),  # Cyrillic
    ("αθηνα", "ΑΘΗΝΑ"),  # Greek
    ("Straße", "STRASSE"),  # full folding: ß → ss (casefold, not lower)
    ("plain", "PLAIN"),
]


async def test_user_lookups_fold_unicode_case(engine: Engine) -> None:
    await engine.write(lambda tx: tx.directory.put_tenant(TENANT))
    jurgen = replace(user("x"), user_principal_name="jürgen@example.test", mail="Jürgen.Groß@example.test")
    await engine.write(lambda tx: tx.directory.put_user(jurgen))
    assert await engine.read(lambda tx: tx.directory.find_user(TENANT.id, "JÜRGEN@EXAMPLE.TEST")) == jurgen
    assert (
        await engine.read(lambda tx: tx.directory.find_user(TENANT.id, "jürgen.gross@example.test")) == jurgen
    )
    found = await engine.read(
        lambda tx: tx.directory.find_users_by_address(TENANT.id, ["JÜRGEN.GROSS@example.test"])
    )
    assert found == {"jürgen.gross@example.test": jurgen}


async def _matching(engine: Engine, mailbox: str, page: Page) -> list[str]:
    return [m.subject for m in await engine.read(lambda tx: tx.messages.list(mailbox, None, page))]


async def test_filters_search_and_order_fold_unicode_case(engine: Engine) -> None:
    (alice,) = await seed(engine, "alice")
    inbox = (await engine.read(lambda tx: tx.folders.well_known_ids(alice.id)))["inbox"]
    items = []
    for i, (stored, _) in enumerate(FOLDED):
        item = message(alice, inbox, i + 1, subject=stored)
        item.from_ = EmailAddress(f"s{i}@example.test", stored.title())
        items.append(item)

    async def unit(tx: Tx) -> None:
        for item in items:
            await tx.messages.insert(item)

    await engine.write(unit)
    subject = Property(("subject",))
    for stored, asked in FOLDED:
        checks: list[Expr] = [
            Compare("eq", subject, Value(asked)),
            Call("startswith", subject, asked[:4]),
            Call("contains", subject, asked[2:]),
        ]
        for expr in checks:
            assert await _matching(engine, alice.id, Page(top=50, filter=expr)) == [stored], expr
        assert await _matching(
            engine, alice.id, Page(top=50, filter=Compare("ne", subject, Value(asked)))
        ) == [s for s, _ in reversed(FOLDED) if s != stored]
        for field in (None, "subject", "from"):
            search = Search((SearchTerm(asked, field),))  # type: ignore[arg-type]
            assert await _matching(engine, alice.id, Page(top=50, search=search)) == [stored], field
    by_subject = Page(top=50, order_by=(OrderBy(subject, False),))
    assert await _matching(engine, alice.id, by_subject) == sorted(
        (s for s, _ in FOLDED), key=lambda s: s.casefold().encode()
    )
