"""CPU cost of change notifications per cycle and per notification (issue 12 follow-up, noisy-machine safe).

Usage::

    python bench/notify_cpu.py --mode none|quiet|drain [--cycles 600] [--subscriptions 100]
                               [--same-url] [--spread] [--profile out.prof] [--callgrind]

Runs `--cycles` create+send cycles (alice → bob, 16 at a time, as bench/notifications.py) on a fresh
demo-tenant data dir: `none` without subscriptions, `quiet` with `--subscriptions` on Bob's Inbox (`--spread`: one per mailbox, bench/notifications.py) and
no notification worker (the in-transaction cost only), `drain` with the worker in-process and then
until the outbox is empty (every notification delivered). Prints the process CPU time (all threads)
of the measured region. `--callgrind`: run this script under
`valgrind --tool=callgrind --callgrind-out-file=OUT`; the counters are zeroed when the measured region
starts and dumped when it ends (`callgrind_control -z/-d` on this pid), so `OUT.1` holds the
instruction count of the region alone, all threads (the writer thread's units included).
The receiver is bench/notifications.py's, in its own process (not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).parent))
import notifications as nb

from mailgraph.domain.model import Actor


def _collect(on: bool, enabled: bool) -> None:
    """Region start: zero callgrind's counters; region end: dump them (`<out>.1` holds the region)."""
    if enabled:  # by our own pid only: other valgrind runs on this machine are not ours
        command = ["-z"] if on else ["-d", "region"]
        subprocess.run(["callgrind_control", *command, str(os.getpid())], check=True, capture_output=True)


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="mg-notify-cpu-") as tmp_name:
        tmp = Path(tmp_name)
        template = tmp / "template"
        await nb.make_template(template, args.subscriptions)
        receiver = nb.Receiver() if args.mode != "none" else None
        runtime = await nb._runtime(template, tmp, "run", notify=args.mode == "drain")
        if args.callgrind and runtime.notifier is not None:  # valgrind runs ~50x slower: no timeouts
            http = runtime.notifier.http
            http.policy = dataclasses.replace(http.policy, validation_timeout_s=600, delivery_timeout_s=600)
        try:
            if receiver is not None:
                await nb._subscribe(runtime, receiver.port, args.subscriptions, args.spread)
            actor = Actor(
                "app", runtime.tenant.id, "mailgraph-demo", None, frozenset({"Mail.Send", "Mail.ReadWrite"})
            )
            messages, sending = runtime.app.services.messages, runtime.app.services.sending
            queue = iter(range(args.cycles))

            async def worker() -> None:
                for i in queue:
                    draft = await messages.create(actor, "alice@contoso.com", nb._changes(i))
                    await sending.send_draft(actor, "alice@contoso.com", draft.rest_id)

            profile = cProfile.Profile() if args.profile else None
            _collect(True, args.callgrind)
            if profile is not None:
                profile.enable()
            c0, w0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(16)))
            c1, w1 = time.process_time(), time.perf_counter()
            if args.mode == "drain":
                while True:
                    counts = await runtime.uow.read(lambda tx: tx.subscriptions.counts())
                    if counts["pending"] == 0:
                        break
                    await asyncio.sleep(0.01)
            c2, w2 = time.process_time(), time.perf_counter()
            if profile is not None:
                profile.disable()
                profile.dump_stats(args.profile)
            _collect(False, args.callgrind)
            n = args.cycles
            print(
                f"mode={args.mode} cycles={n} send: cpu {1e6 * (c1 - c0) / n:.0f} us/cycle "
                f"wall {n / (w1 - w0):.0f} cycles/s; total incl. drain: cpu {1e6 * (c2 - c0) / n:.0f} us/cycle"
                f" ({w2 - w0:.2f} s wall)"
            )
            if receiver is not None and args.mode == "drain":
                arrivals = receiver.arrivals()
                print(f"received {len(arrivals)} unique {len({(s, m) for _, s, m in arrivals})}")
        finally:
            await nb._close(runtime)
            if receiver is not None:
                receiver.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("none", "quiet", "drain"), default="drain")
    parser.add_argument("--cycles", type=int, default=600)
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--same-url", action="store_true")
    parser.add_argument(
        "--spread", action="store_true", help="one subscription per mailbox (see notifications.py)"
    )
    parser.add_argument("--profile", default=None)
    parser.add_argument("--callgrind", action="store_true")
    arguments = parser.parse_args()
    nb.SAME_URL = arguments.same_url
    uvloop.run(run(arguments))
