"""FifoWakeups (store/engines/wakeups.py): a notify reaches the other listeners of a channel, never the
notifier itself; the pipe of a dead listener is removed; a burst of notifies is one wake-up or more,
never lost. Two instances with different pids stand for two processes (the e2e tests use real ones)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from mailgraph.store.contract import NoWakeups, wakeups_of
from mailgraph.store.engines.sqlite import SqliteEngine
from mailgraph.store.engines.wakeups import FifoWakeups


def _as_pid(w: FifoWakeups, pid: int) -> FifoWakeups:
    w._pid = pid  # a second "process" in one test process
    return w


async def test_notify_wakes_other_listeners_not_itself(tmp_path: Path) -> None:
    a = _as_pid(FifoWakeups(tmp_path), 1_000_001)
    b = _as_pid(FifoWakeups(tmp_path), 1_000_002)
    woken: list[str] = []
    a.listen("outbox", lambda: woken.append("a"))
    b.listen("outbox", lambda: woken.append("b"))
    b.listen("other", lambda: woken.append("b-other"))
    try:
        for _ in range(50):  # a burst: one or more wake-ups
            assert a.notify("outbox") == 1
        for _ in range(100):
            await asyncio.sleep(0.01)
            if woken:
                break
        await asyncio.sleep(0.05)
        assert set(woken) == {"b"}
    finally:
        a.close()
        b.close()
    assert sorted(os.listdir(tmp_path)) == []


async def test_a_dead_listeners_pipe_is_removed(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "outbox.424242")  # left by a process that died: no reader
    (tmp_path / "unrelated").write_text("x")
    n = FifoWakeups(tmp_path)
    assert n.notify("outbox") == 0
    assert sorted(os.listdir(tmp_path)) == ["unrelated"]
    assert FifoWakeups(tmp_path / "never-made").notify("outbox") == 0
    with pytest.raises(ValueError):
        n.listen("../x", lambda: None)


async def test_the_pipe_directory_is_private(tmp_path: Path) -> None:
    w = FifoWakeups(tmp_path / "m.db.wake")  # made by the first listen, 0700 like the data dir
    w.listen("outbox", lambda: None)
    try:
        assert (tmp_path / "m.db.wake").stat().st_mode & 0o777 == 0o700
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in (tmp_path / "m.db.wake").iterdir())
    finally:
        w.close()


async def test_engines_offer_wakeups(tmp_path: Path) -> None:
    engine = SqliteEngine(tmp_path / "m.db")
    try:
        assert isinstance(wakeups_of(engine), FifoWakeups)
        assert isinstance(wakeups_of(object()), NoWakeups)
        assert wakeups_of(object()).notify("outbox") == 0
    finally:
        await engine.close()


async def test_engines_wake_each_other_on_one_database(engine_url: str) -> None:
    """Two engines on one database (two processes, or two hosts on PostgreSQL): a notify of one
    reaches the other's listener, never its own (SQLite: pipes; PostgreSQL: LISTEN/NOTIFY)."""
    from mailgraph.store.engines import open_engine

    first, second = await open_engine(engine_url), await open_engine(engine_url)
    if engine_url.startswith("sqlite"):
        _as_pid(wakeups_of(first), 1_000_011)  # type: ignore[arg-type]
        _as_pid(wakeups_of(second), 1_000_012)  # type: ignore[arg-type]
    woken: list[str] = []
    try:
        wakeups_of(first).listen("outbox", lambda: woken.append("first"))
        wakeups_of(second).listen("outbox", lambda: woken.append("second"))
        await asyncio.sleep(0.3)  # PostgreSQL: the LISTEN connection is opened in the background
        for _ in range(100):
            wakeups_of(first).notify("outbox")
            await asyncio.sleep(0.02)
            if woken:
                break
        await asyncio.sleep(0.1)
        assert woken and set(woken) == {"second"}
    finally:
        await first.close()
        await second.close()
