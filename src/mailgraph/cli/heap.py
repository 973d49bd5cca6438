"""The process heap after start-up: what `serve` and `worker` built by then lives as long as the process.

CPython's full (generation 2) collections walk every object the collector tracks. After start-up that
is mostly objects that never die — the imported modules, the app and its route tables, the runtime,
the caches warmed at start — and a full collection walking all of them stalls the event loop for
milliseconds at a time, a few times a second under load: the tail of a change notification's latency
(bench/notifications.py's fan-out p99 went from 34–57 ms to 22–27 ms without it; docs/performance.md,
"The collector's walk over the start-up heap"). `gc.freeze()` (Python 3.7+, docs.python.org/3/library/
gc.html#gc.freeze) moves every object alive at that moment to a permanent generation that no later
collection walks. Start-up garbage is collected first, so nothing that is already garbage is kept.
Objects the process allocates afterwards are collected as before.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect start-up garbage, then exempt every surviving object from later collections.

    Returns how many objects were frozen (for the log)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
