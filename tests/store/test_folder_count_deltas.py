"""Folder counters as insert-only deltas (migration 0029), on every engine: exact under concurrency.

Message writes append `folder_count_deltas` rows instead of updating the folder row (issue 11), readers
add the pending deltas, and `fold_counts` folds them into the row in a unit of its own. Here random
rounds of concurrent units — create, move, read-flag flips, deletes, units that fail after writing —
run together with folds of a few rows at a time, on SQLite and PostgreSQL. After every round, each
folder's totalItemCount/unreadItemCount must equal COUNT(*) over its messages and the model.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from mailgraph.domain.folder_counts import FolderCountFolder
from mailgraph.domain.mailboxes import provision
from mailgraph.domain.model import Message
from mailgraph.domain.ports import Tx
from mailgraph.store.contract import Engine
from tests.store.test_folder_counts import TENANT, _message, _user

_ACTUAL = (
    "SELECT f.id, COUNT(m.id), SUM(CASE WHEN m.is_read = 0 THEN 1 ELSE 0 END)"
    " FROM folders f LEFT JOIN messages m ON m.folder_id = f.id GROUP BY f.id"
)


class Boom(Exception):
    """A unit that fails after writing."""


async def _seed(engine: Engine) -> tuple[list[str], dict[str, list[str]]]:
    users = [_user("alice"), _user("bob")]

    async def seed(tx: Tx) -> dict[str, list[str]]:
        await tx.directory.put_tenant(TENANT)
        folders: dict[str, list[str]] = {}
        for u in users:
            await tx.directory.put_user(u)
            await provision(tx, u)
            folders[u.id] = sorted((await tx.folders.well_known_ids(u.id)).values())
        return folders

    folders = await engine.write(seed)
    return [u.id for u in users], folders


async def _check(engine: Engine, folders: dict[str, list[str]], items: dict[str, Message]) -> None:
    """What readers see equals COUNT(*) over the rows, and the model, for every folder."""

    async def read(tx: Tx) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
        seen = {}
        for owner, folder_ids in folders.items():
            for f in await tx.folders.list_all(owner):
                seen[f.id] = (f.total_item_count, f.unread_item_count)
            for folder_id in folder_ids:  # the single-folder read agrees with the listing
                one = await tx.folders.get(owner, folder_id)
                assert one is not None and (one.total_item_count, one.unread_item_count) == seen[folder_id]
        rows = await tx.folders._conn.fetch_all(_ACTUAL)  # type: ignore[attr-defined]
        return seen, {str(r[0]): (int(r[1]), int(r[2] or 0)) for r in rows}

    seen, actual = await engine.read(read)
    model = {
        f: (
            sum(m.folder_id == f for m in items.values()),
            sum(m.folder_id == f and not m.is_read for m in items.values()),
        )
        for ids in folders.values()
        for f in ids
    }
    assert seen == actual == model


Unit = Callable[[Tx], Awaitable[None]]


def _unit(
    rng: random.Random, owners: list[str], folders: dict[str, list[str]], mine: list[Message]
) -> tuple[Unit, dict[str, Message | None] | None]:
    """One unit's ops over its own items `mine` (units of a round never share an item): returns the
    unit function and the items as they stand if it commits (None for a deleted one)."""
    ops: list[tuple[str, Message]] = []
    after: dict[str, Message | None] = {}
    live = list(mine)
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["create", "move", "flag", "move_flag", "delete"] if live else ["create"])
        if kind == "create":
            owner = rng.choice(owners)
            m = _message_in(owner, rng.choice(folders[owner]), rng.random() < 0.5)
            ops.append(("insert", m))
            live.append(m)
            after[m.id] = m
            continue
        old = live.pop(rng.randrange(len(live)))
        if kind == "delete":
            ops.append(("delete", old))
            after[old.id] = None
            continue
        new = replace(
            old,
            folder_id=rng.choice(folders[old.mailbox_id]) if "move" in kind else old.folder_id,
            is_read=(not old.is_read) if "flag" in kind else old.is_read,
        )
        ops.append(("update", new))
        live.append(new)
        after[new.id] = new
    fails = rng.random() < 0.15

    async def fn(tx: Tx) -> None:
        for op, m in ops:
            if op == "insert":
                await tx.messages.insert(m)
            elif op == "update":
                await tx.messages.update(m)
            else:
                await tx.messages.delete(m.id)
        # No explicit yield: SQLite units never suspend (its engine refuses it), and on PostgreSQL
        # every statement is an await, so the round's units and the fold interleave at each one.
        if fails:
            raise Boom

    return fn, (None if fails else after)


def _message_in(owner: str, folder_id: str, is_read: bool) -> Message:
    return replace(_message(_user("x"), folder_id, is_read), mailbox_id=owner)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_concurrent_units_and_folds_keep_counts_exact(engine: Engine, seed: int) -> None:
    rng = random.Random(seed)
    owners, folders = await _seed(engine)
    folder = FolderCountFolder(engine, batch=3)  # small batches: folds interleave with the units
    items: dict[str, Message] = {}
    for _ in range(10):
        shuffled = list(items.values())
        rng.shuffle(shuffled)
        units = [_unit(rng, owners, folders, shuffled[i::4]) for i in range(4)]
        results = await asyncio.gather(
            *(engine.write(fn) for fn, _ in units), folder.fold(), return_exceptions=True
        )
        for (_, after), result in zip(units, results, strict=False):
            if isinstance(result, BaseException):
                assert isinstance(result, Boom), result
                continue
            assert after is not None
            for item_id, m in after.items():
                if m is None:
                    items.pop(item_id, None)
                else:
                    items[item_id] = m
        assert not isinstance(results[-1], BaseException), results[-1]
        await _check(engine, folders, items)
    await folder.fold()
    pending = await engine.read(
        lambda tx: tx.folders._conn.fetch_one("SELECT COUNT(*) FROM folder_count_deltas")  # type: ignore[attr-defined]
    )
    assert pending is not None and int(pending[0]) == 0
    await _check(engine, folders, items)  # all folded: the folder rows alone hold the counts


async def test_deleting_a_folder_or_a_mailbox_drops_its_deltas(engine: Engine) -> None:
    owners, folders = await _seed(engine)
    alice = owners[0]
    everything = await engine.read(lambda tx: tx.folders.list_all(alice))
    parents = {f.parent_id for f in everything}
    leaf = next(f.id for f in everything if f.id not in parents and f.well_known_name == "archive")
    m = _message_in(alice, leaf, False)
    await engine.write(lambda tx: tx.messages.insert(m))
    await engine.write(lambda tx: tx.messages.delete(m.id))  # the folder is empty, its deltas sum to 0

    async def pending(tx: Tx) -> int:
        row = await tx.folders._conn.fetch_one("SELECT COUNT(*) FROM folder_count_deltas")  # type: ignore[attr-defined]
        return int(row[0])

    assert await engine.read(pending) == 2
    await engine.write(lambda tx: tx.folders.delete(leaf))
    assert await engine.read(pending) == 0
    await engine.write(lambda tx: tx.messages.insert(_message_in(owners[1], folders[owners[1]][0], True)))
    assert await engine.read(pending) == 1
    await engine.write(lambda tx: tx.directory.delete_user(owners[1]))
    assert await engine.read(pending) == 0


async def test_concurrent_moves_of_one_item_count_it_once(engine: Engine) -> None:
    """Units that read an item, then move it, all at once: each unit's deltas must move the item from
    where it really was when its update ran (on PostgreSQL a unit's read may be stale by then)."""
    owners, folders = await _seed(engine)
    alice = owners[0]
    item = _message_in(alice, folders[alice][0], False)
    await engine.write(lambda tx: tx.messages.insert(item))

    def mover(target: str, read: bool) -> Unit:
        async def fn(tx: Tx) -> None:
            current = await tx.messages.get_immutable(alice, item.id)
            assert current is not None
            await tx.messages.update(replace(current, folder_id=target, is_read=read))

        return fn

    rng = random.Random(7)
    moves = [mover(rng.choice(folders[alice]), rng.random() < 0.5) for _ in range(12)]
    await asyncio.gather(*(engine.write(fn) for fn in moves))
    final = await engine.read(lambda tx: tx.messages.get_immutable(alice, item.id))
    assert final is not None
    await _check(engine, folders, {item.id: final})
