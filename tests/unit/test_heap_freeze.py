"""`serve` freezes its start-up heap (cli/heap.py): garbage collected first, the rest exempt from
later full collections; checked in a fresh interpreter (freezing this one would outlive the test),
and on a real `serve` process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import start_server, stop_server

PROGRAM = """
import gc, weakref
from mailgraph.cli.heap import freeze_startup_heap

class Node:
    pass

garbage = Node(); garbage.self = garbage          # a cycle: only the collector frees it
gone = weakref.ref(garbage); del garbage
kept = [Node() for _ in range(1000)]
frozen = freeze_startup_heap()
assert gone() is None, "start-up garbage was frozen instead of collected"
assert frozen == gc.get_freeze_count() and frozen >= 1000, frozen
gc.collect()                                       # later full collections leave them alone
assert gc.get_freeze_count() == frozen
print("ok", frozen)
"""


def test_garbage_is_collected_and_the_rest_frozen() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")


def test_serve_freezes_its_heap_before_it_says_ready(template_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(template_dir, data)
    server = start_server(data, "--log-level", "debug")
    stop_server(server)
    frozen = [line for line in server.startup if "start-up heap frozen" in line]
    assert frozen, "".join(server.startup[-20:])
    assert int(frozen[0].split("frozen:")[1].split()[0]) > 10_000  # the modules, the app, the runtime
