"""Build a big mailgraph data directory quickly: N messages bulk-inserted through the store, not HTTP.

    .venv/bin/python bench/load_store.py /tmp/mg-1m --messages 1000000      # ~2-4 min on 2 cores

The demo tenant is seeded as `mailgraph serve` would (same `wiring.build`), then messages are written
with the store's own repository (`tx.messages.insert`: the row, its folder counter deltas, folded per unit) in units of
`--unit` messages, several units in flight so the SQLite engine groups them into one commit each.
Durability is `normal` while loading (a power cut only loses the half-built benchmark store).

The shape is a busy, realistic store: half of the messages in alice's Inbox, a quarter in her Sent
Items, a quarter in bob's Inbox; one in three read; received times one second apart, the newest last,
so the benchmark's "newest 50 with a `$filter`" has to find them among all of them. `bench/run.py`
calls `load()` for its 10k and 1M stores (and keeps them in `--store-cache` between runs).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
from pathlib import Path

from mailgraph.config import Settings
from mailgraph.domain import ids
from mailgraph.domain.model import EmailAddress, ItemBody, Message
from mailgraph.domain.ports import Tx
from mailgraph.wiring import build

DEMO_DOMAIN = "contoso.com"
BODY = "Hello, this is a stored benchmark message. " * 8


async def _targets(runtime: object) -> list[tuple[str, str]]:
    """(mailbox id, folder id) of alice's Inbox, alice's Sent Items, alice's Inbox, bob's Inbox."""
    engine = runtime.engine  # type: ignore[attr-defined]
    tenant = runtime.tenant  # type: ignore[attr-defined]

    async def find(tx: Tx) -> list[tuple[str, str]]:
        out = []
        for user, folder in (
            ("alice", "inbox"),
            ("alice", "sentitems"),
            ("alice", "inbox"),
            ("bob", "inbox"),
        ):
            u = await tx.directory.find_user(tenant.id, f"{user}@{DEMO_DOMAIN}")
            assert u is not None, user
            f = await tx.folders.get_well_known(u.id, folder)
            assert f is not None, folder
            out.append((u.id, f.id))
        return out

    result: list[tuple[str, str]] = await engine.read(find)
    return result


def _message(n: int, mailbox_id: str, folder_id: str, t0: int) -> Message:
    at = t0 + n * 1_000_000
    return Message(
        id=ids.immutable_id(),
        rest_id=ids.message_id(),
        mailbox_id=mailbox_id,
        folder_id=folder_id,
        change_key=ids.change_key(),
        created_at=at,
        modified_at=at,
        received_at=at,
        sent_at=at,
        is_draft=False,
        is_read=n % 3 == 0,
        internet_message_id=ids.internet_message_id(DEMO_DOMAIN),
        conversation_id=ids.conversation_id(),
        conversation_index=ids.conversation_index(at),
        subject=f"stored message {n}",
        body=ItemBody("text", BODY),
        body_preview=BODY[:255],
        from_=EmailAddress(f"carol@{DEMO_DOMAIN}", "Carol"),
        sender=EmailAddress(f"carol@{DEMO_DOMAIN}", "Carol"),
        to=[EmailAddress(f"alice@{DEMO_DOMAIN}", "Alice")],
    )


async def load(
    data_dir: Path, messages: int, unit: int = 2000, inflight: int = 4, quiet: bool = False
) -> float:
    """Seed the demo tenant in `data_dir` and insert `messages` messages; returns seconds taken."""
    t_start = time.monotonic()
    runtime = await build(Settings(data_dir=data_dir, durability="normal", worker=False))
    try:
        targets = await _targets(runtime)
        t0 = 1_600_000_000_000_000  # 2020-09-13, µs: older than anything the benchmark creates
        sem = asyncio.Semaphore(inflight)
        done = 0

        async def write(first: int, last: int) -> None:
            nonlocal done
            batch = [_message(n, *targets[n % len(targets)], t0) for n in range(first, last)]

            async def unit_of_work(tx: Tx) -> None:
                for m in batch:
                    await tx.messages.insert(m)
                # Fold the counter deltas as we go (what the server's background fold does), so the
                # loaded store starts with none pending.
                await tx.folders.fold_counts(2 * len(batch))

            async with sem:
                await runtime.engine.write(unit_of_work)
            done += last - first
            if not quiet and done % (unit * 50) == 0:
                print(f"  {done:>9,} messages, {time.monotonic() - t_start:6.1f} s", flush=True)

        tasks: set[asyncio.Task[None]] = set()
        for first in range(0, messages, unit):
            if first and first % (unit * 25) == 0:  # let the WAL restart (see _truncate_wal)
                await asyncio.gather(*tasks)
                await asyncio.to_thread(_truncate_wal, data_dir / "mailgraph.db")
            await sem.acquire()  # bound the messages built ahead of the writer
            sem.release()
            task = asyncio.create_task(write(first, min(first + unit, messages)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if len(tasks) >= inflight:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.gather(*tasks)
    finally:
        await runtime.engine.close()
    return time.monotonic() - t_start


def _truncate_wal(db_path: Path) -> None:
    """Checkpoint and truncate the WAL while no unit is in flight.

    Under back-to-back write batches the engine's PASSIVE checkpoints never catch up with the last
    commit, so the WAL never restarts and grows without bound (8 GB at 600k messages): a bulk load
    pauses now and then for a TRUNCATE checkpoint.
    """
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    ap.add_argument("data_dir", type=Path, help="a new (or empty) directory")
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--unit", type=int, default=2000, help="messages per unit of work")
    args = ap.parse_args(argv)
    if args.data_dir.exists() and any(args.data_dir.iterdir()):
        print(f"{args.data_dir} is not empty", file=sys.stderr)
        return 2
    seconds = asyncio.run(load(args.data_dir, args.messages, args.unit))
    print(f"loaded {args.messages:,} messages in {seconds:.1f} s ({args.messages / seconds:,.0f}/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
