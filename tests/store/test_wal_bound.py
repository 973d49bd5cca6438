"""The SQLite engine keeps its WAL bounded under back-to-back write batches (issue 11).

PASSIVE checkpoints alone never move the WAL's write position back while batches follow each other,
and SQLite never shrinks the file by itself, so without the writer's TRUNCATE checkpoint the -wal file
only grows (8.6 GB in a bulk load). Here the limit is small, so a few MB of writes cross it many times.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from mailgraph.domain.lockout import SignInFailures
from mailgraph.domain.ports import Tx
from mailgraph.store.engines.sqlite import SqliteEngine

LIMIT = 256 * 1024
WAVES = 40
ROW = "x" * 200  # a wave of 16 units x 20 rows appends ~200 KB of pages (rows and their index)


async def test_the_wal_stays_near_its_limit_under_sustained_writes(tmp_path: Path) -> None:
    engine = SqliteEngine(tmp_path / "m.db", durability="normal", wal_limit=LIMIT)
    wal = tmp_path / "m.db-wal"
    largest = 0
    try:

        def unit(first: int) -> object:
            async def write(tx: Tx) -> None:
                for n in range(first, first + 20):
                    await tx.lockouts.put(SignInFailures(f"{ROW}{n}", 1, 0, 0), n)

            return write

        for wave in range(WAVES):  # 16 concurrent units a wave: batches back to back
            await asyncio.gather(*(engine.write(unit((wave * 16 + u) * 20)) for u in range(16)))  # type: ignore[arg-type]
            largest = max(largest, os.stat(wal).st_size)
        resets = engine.wal_resets
    finally:
        await engine.close()
    # Bounded by the limit plus what one wave appends (~200 KB; the first also holds the schema): without
    # the bound the file ends at 8.8 MB.
    assert largest < LIMIT + 2 * 1024 * 1024, largest
    assert resets >= 10
    db = sqlite3.connect(tmp_path / "m.db")
    try:  # nothing was lost on the way
        assert db.execute("SELECT COUNT(*) FROM sign_in_failures").fetchone() == (WAVES * 16 * 20,)
    finally:
        db.close()


async def _nothing(tx: Tx) -> None:
    return None


async def test_a_long_reader_delays_the_reset_without_stalling_every_batch(tmp_path: Path) -> None:
    engine = SqliteEngine(tmp_path / "m.db", durability="normal", wal_limit=64 * 1024)
    wal = tmp_path / "m.db-wal"
    reader = sqlite3.connect(tmp_path / "m.db", isolation_level=None)

    async def wave(first: int) -> None:
        async def write(tx: Tx) -> None:
            for n in range(first, first + 50):
                await tx.lockouts.put(SignInFailures(f"{ROW}{n}", 1, 0, 0), n)

        await engine.write(write)

    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM sign_in_failures").fetchone()  # holds its snapshot
        for n in range(10):
            await wave(n * 50)
        # The TRUNCATE could not finish while the snapshot was held: it gave up and backs off.
        assert engine.wal_resets == 0 and engine._wal_pause >= 1.0
        assert os.stat(wal).st_size > 64 * 1024
        reader.execute("COMMIT")

        async def back_off_over(tx: Tx) -> None:
            # The back-off is over (instead of sleeping through it). Set on the writer thread, inside
            # a unit: set from here it raced the writer's own back-off bookkeeping of the last wave.
            engine._wal_retry_at = 0.0
            await tx.lockouts.put(SignInFailures(f"{ROW}last", 1, 0, 0), 0)

        await engine.write(back_off_over)
        # The writer bounds the WAL after it has settled the batch's futures; a next unit runs only
        # once that is over, so the assertion below sees its outcome.
        await engine.write(_nothing)
        assert engine.wal_resets == 1 and os.stat(wal).st_size < 64 * 1024
    finally:
        reader.close()
        await engine.close()
