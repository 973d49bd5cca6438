"""`./dev trials [--rounds N] [--load SECONDS] [--engine sqlite|postgres] [--scenario TEXT]`: the crash
trials, N rounds per scenario (default 20; the fault scenarios and the disk-full trials of both engines
`--fault-rounds`), then the table docs/reliability.md quotes. `--scenario TEXT` (repeatable) keeps the
scenarios whose name contains it ("two processes", "disk full", …). The machine's load matters for how
much is acknowledged per round, not for the verdicts.

`./dev trials --soak MIN [--rate OPS] [--interval S]`: the soak instead (tests/trials/soak.py).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter

from tests import pgdb
from tests.trials.disk_full import mount_allowed, run_disk_full
from tests.trials.harness import CONCURRENCY, FAULT_SCENARIOS, SCENARIOS, TrialResult, run_trial
from tests.trials.pg_disk_full import pg_allowed, run_pg_disk_full
from tests.trials.soak import run_soak

COLUMNS = ("scenario", "engine", "trials", "acknowledged", "lost", "duplicated", "relay dup. (max)", "half-done", "webhook lost", "5xx", "restart failures")  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="./dev trials")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--load", type=float, default=3.0, help="seconds of load per round")
    parser.add_argument("--engine", choices=("sqlite", "postgres"))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="TEXT",
        help="run only the scenarios whose name contains TEXT (repeatable; 'disk full' selects that trial)",
    )
    parser.add_argument("--fault-rounds", type=int, default=5, help="rounds of each fault scenario (0: none)")
    parser.add_argument(
        "--soak", type=float, metavar="MIN", help="soak for MIN minutes instead (tests/trials/soak.py)"
    )
    parser.add_argument(
        "--rate", type=float, help="soak: operations per second (default: 70 %% of measured capacity)"
    )
    parser.add_argument("--interval", type=float, default=10.0, help="soak: seconds between samples")
    args = parser.parse_args(argv)
    if args.soak is not None:
        result = run_soak(args.soak * 60, args.rate, args.interval)
        print(result.table())
        return 0 if result.ok else 1
    rng = random.Random(args.seed)
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []  # printed under the table
    bad = False
    plan = [(s, args.rounds) for s in SCENARIOS] + [(s, args.fault_rounds) for s in FAULT_SCENARIOS]
    for scenario, rounds in plan:
        if not rounds:
            continue
        if args.engine and scenario.engine != args.engine:
            continue
        if args.scenario and not any(t in scenario.name for t in args.scenario):
            continue
        if scenario.engine == "postgres" and not pgdb.enabled():
            print(f"skipped {scenario.name} on postgres: 127.0.0.1:5432 does not answer", file=sys.stderr)
            continue
        total = TrialResult()
        worst = 0
        ratios: list[float] = []
        started = time.monotonic()
        for n in range(rounds):
            r = run_trial(scenario, rng, args.load, label=f"r{n}")
            total.acknowledged += r.acknowledged
            total.lost += r.lost
            total.duplicated += r.duplicated
            total.relay_duplicates += r.relay_duplicates
            total.half_done += r.half_done
            total.restart_failures += r.restart_failures
            total.webhook_lost += r.webhook_lost
            total.server_errors += r.server_errors
            worst = max(worst, r.relay_duplicates)
            if r.slow_rate_ratio is not None:
                ratios.append(r.slow_rate_ratio)
            for note in r.notes[:5]:
                print(f"  {scenario.name}/{scenario.engine} round {n}: {note[:300]}", file=sys.stderr)
        print(f"{scenario.name} on {scenario.engine}: {rounds} rounds in {time.monotonic() - started:.0f} s", file=sys.stderr)  # fmt: skip
        if ratios:
            notes.append(f"{scenario.name} on {scenario.engine}: send rate while slow ÷ before, per round: "
                         + ", ".join(f"{x:.2f}" for x in ratios))  # fmt: skip
        rows.append((scenario.name, scenario.engine, str(rounds), str(total.acknowledged), str(total.lost),
                     str(total.duplicated), f"{total.relay_duplicates} ({worst})", str(total.half_done),
                     str(total.webhook_lost), str(total.server_errors), str(total.restart_failures)))  # fmt: skip
        bad |= bool(
            total.lost or total.half_done or total.duplicated or total.restart_failures or total.webhook_lost
        )
        bad |= worst > CONCURRENCY
    disk_full = args.fault_rounds and (not args.scenario or any(t in "disk full" for t in args.scenario))
    for engine in ("sqlite", "postgres"):
        if disk_full and args.engine in (None, engine):
            row, failed = _disk_full(args.fault_rounds, engine)
            if row:
                rows.append(row)
            bad |= failed
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |")
    print(
        f"relay duplicates are at-least-once redeliveries; bound per crash: {CONCURRENCY} (transactions in flight)"
    )
    for note in notes:
        print(note)
    return 1 if bad else 0


def _disk_full(rounds: int, engine: str) -> tuple[tuple[str, ...] | None, bool]:
    """`rounds` disk-full trials (tests/trials/disk_full.py, pg_disk_full.py): a row, and whether anything
    failed. The 5xx column counts 500s and 5xx without a Graph body (on PostgreSQL also an SMTP 5yz or
    no answer at all) — the clean refusals (507/452, or 503/451 while PostgreSQL is down) are listed
    apart."""
    reason = mount_allowed() if engine == "sqlite" else pg_allowed()
    if reason:
        print(f"skipped disk full on {engine}: {reason}", file=sys.stderr)
        return None, False
    acked = lost = half = dup = errors = not_back = went_down = 0
    refused: Counter[str] = Counter()
    for n in range(rounds):
        r = run_disk_full() if engine == "sqlite" else run_pg_disk_full()
        acked, lost, half = acked + r.acknowledged, lost + len(r.lost), half + len(r.half_done)
        errors += len(r.server_errors)
        dup += len(r.duplicated)
        not_back += not (r.recovered and r.drained)
        went_down += bool(getattr(r, "pg_went_down", False))
        refused += r.refused
        for note in (r.server_errors + r.half_done + r.lost)[:5]:
            print(f"  disk full on {engine} round {n}: {note[:300]}", file=sys.stderr)
    print(f"disk full on {engine}: clean refusals {dict(refused)}", file=sys.stderr)
    if engine == "postgres":
        print(f"disk full on postgres: PostgreSQL went down (WAL PANIC) in {went_down} of {rounds} rounds", file=sys.stderr)  # fmt: skip
    name = (
        "disk full (24 MB tmpfs), refill"
        if engine == "sqlite"
        else "disk full (64 MB tmpfs under PGDATA), refill"
    )
    row = (name, engine, str(rounds), str(acked), str(lost), str(dup), "–", str(half), "–", str(errors), str(not_back))  # fmt: skip
    return row, bool(lost or half or dup or errors or not_back or not refused)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
