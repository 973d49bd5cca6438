"""Delta round cost against folder size (issue 12): the same 10 changes in a 10k- and a 100k-item Inbox.

    .venv/bin/python bench/delta.py                      # sizes 10000 100000, 10 changes, 50 repeats
    .venv/bin/python bench/delta.py --sizes 1000 10000 --changes 10 --repeats 20

Per size: a fresh data dir with the demo tenant, the Inbox bulk-loaded through the store (one unit
per 5,000 items, no HTTP), one initial delta round to get a deltaLink, then 10 changes through the
observed unit of work (what every API write goes through: they land in the change log), then the
same delta round (DeltaService, in-process, one read snapshot per page) timed `--repeats` times. The
claim under test: the round costs O(changes), so its time must not grow with the folder size.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mailgraph.config import Settings
from mailgraph.domain import drafts, ids
from mailgraph.domain.delta_tokens import DeltaOptions
from mailgraph.domain.model import Actor, MessageChanges, User
from mailgraph.domain.ports import Tx
from mailgraph.wiring import build, clock

BATCH = 5000


async def _load(rt: object, owner: User, inbox: str, count: int) -> None:
    engine = rt.engine  # type: ignore[attr-defined]
    base = clock()
    for start in range(0, count, BATCH):

        async def unit(tx: Tx, start: int = start) -> None:
            for i in range(start, min(count, start + BATCH)):
                m = drafts.new_draft(owner, inbox, MessageChanges(subject=f"bulk {i}"), base + i)
                m = replace(m, is_draft=False, received_at=base + i)
                await tx.messages.insert(m)

        await engine.write(unit)  # the raw engine: bulk rows, no change log entries (like a restore)


async def one_size(size: int, changes: int, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        rt = await build(Settings(data_dir=Path(tmp) / "data"))
        try:
            users = await rt.engine.read(lambda tx: tx.directory.list_users())
            owner = users[0]
            actor = Actor("user", owner.tenant_id, "bench", owner.id, frozenset({"Mail.ReadWrite"}))
            inbox = (await rt.engine.read(lambda tx: tx.folders.well_known_ids(owner.id)))["inbox"]
            t0 = time.perf_counter()
            await _load(rt, owner, inbox, size)
            load_s = time.perf_counter() - t0
            service = rt.app.services.delta
            t0 = time.perf_counter()
            token, pages = None, 0
            while True:  # the initial round: the whole folder, 1000 a page
                page = await service.messages(actor, None, "inbox", DeltaOptions(), token, 1000)
                token, pages = page.token, pages + 1
                if page.done:
                    break
            initial_s = time.perf_counter() - t0
            listed = await rt.engine.read(
                lambda tx: tx.change_log.folder_items(owner.id, inbox, None, None, changes)
            )

            for m in listed:  # 10 changes through the observed unit of work, as the API makes them

                async def change(tx: Tx, m_id: str = m.id) -> None:
                    current = await tx.messages.get_immutable(owner.id, m_id)
                    assert current is not None
                    current.is_read, current.change_key = True, ids.change_key()
                    await tx.messages.update(current)
                    tx.changes.message("updated", current)

                await rt.uow.write(change)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                page = await service.messages(actor, None, "inbox", DeltaOptions(), token, 1000)
                times.append(time.perf_counter() - t0)
                assert page.done and len(page.entries) == changes, (page.done, len(page.entries))
        finally:
            await rt.engine.close()
    return {
        "size": size,
        "load_s": load_s,
        "initial_round_s": initial_s,
        "initial_pages": pages,
        "delta_p50_ms": statistics.median(times) * 1000,
        "delta_p90_ms": sorted(times)[int(len(times) * 0.9)] * 1000,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    results = [await one_size(size, args.changes, args.repeats) for size in args.sizes]
    for r in results:
        print(
            f"folder {r['size']:>7} items: delta round with {args.changes} changes p50 {r['delta_p50_ms']:.2f} ms"
            f" p90 {r['delta_p90_ms']:.2f} ms | initial round {r['initial_round_s']:.1f} s"
            f" ({r['initial_pages']} pages) | bulk load {r['load_s']:.1f} s"
        )
    ratio = results[-1]["delta_p50_ms"] / results[0]["delta_p50_ms"]
    print(f"ratio p50 {results[-1]['size']} / {results[0]['size']}: {ratio:.2f} (O(changes): ~1)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
