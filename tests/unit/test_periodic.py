"""domain/periodic.py: a failing step does not end the background loop; stop ends it."""

from __future__ import annotations

import asyncio

from mailgraph.domain.periodic import Periodic


async def test_a_failing_step_is_tried_again_and_stop_ends_the_loop() -> None:
    calls = 0
    third = asyncio.Event()

    async def step() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            third.set()
        if calls < 3:
            raise RuntimeError("store closing")

    periodic = Periodic("test-periodic", 0.001, step)
    periodic.start()
    periodic.start()  # idempotent: still one loop
    await asyncio.wait_for(third.wait(), timeout=10)
    await periodic.stop()
    stopped_at = calls
    await asyncio.sleep(0.01)
    assert calls == stopped_at >= 3
    await periodic.stop()  # stopping twice is harmless
