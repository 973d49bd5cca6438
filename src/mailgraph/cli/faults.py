"""`mailgraph faults add|list|clear`: fault rules in the store (docs/faults.md).

The rules live in the database, so a running server picks up a change within a second (its background
reload), and several server processes share them and their occurrence counts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mailgraph.config import Settings
from mailgraph.domain.faults import FaultService, rule_from_mapping, rule_to_mapping
from mailgraph.domain.model import now
from mailgraph.wiring import clock, open_engine


def add_fault_commands(sub: Any) -> None:
    """The `faults` command and its sub-commands."""
    faults = sub.add_parser("faults", help="inject failures: add, list and clear fault rules")
    faults.add_argument("--data-dir", type=Path, default=Settings().data_dir)
    faults.add_argument("--database", default=None, help="database URL (default: the data dir's)")
    cmds = faults.add_subparsers(dest="faults_command", required=True)
    add = cmds.add_parser(
        "add", help="add a rule, e.g. --route 'POST */messages/*/send' --nth 3 --status 503"
    )
    for flag in ("id", "scope", "method", "route", "mailbox", "app", "code", "message"):
        add.add_argument(f"--{flag}")
    for flag in ("nth", "seed", "times", "status", "retry-after", "latency-ms"):
        add.add_argument(f"--{flag}", type=int)
    add.add_argument("--probability", type=float)
    add.add_argument("--ttl-seconds", type=float)
    add.add_argument("--reset", action="store_true", help="drop the connection (relay: mid-DATA)")
    cmds.add_parser("list", help="print the rules and their counts as JSON lines")
    clear = cmds.add_parser("clear", help="remove every rule (or --id one)")
    clear.add_argument("--id")


_NAMES = {"retry_after": "retryAfter", "latency_ms": "latencyMs", "ttl_seconds": "ttlSeconds"}


async def run_faults(args: argparse.Namespace) -> int:
    """Run one `faults` sub-command against the store."""
    engine = await open_engine(Settings(data_dir=args.data_dir, database=args.database))
    try:
        service = FaultService(engine, clock)
        if args.faults_command == "add":
            keys = ("id", "scope", "method", "route", "mailbox", "app", "code", "message", "nth", "seed",
                    "times", "status", "retry_after", "latency_ms", "probability", "ttl_seconds")  # fmt: skip
            data = {_NAMES.get(k, k): getattr(args, k) for k in keys if getattr(args, k) is not None}
            if args.reset:
                data["reset"] = True
            rule = await service.add(rule_from_mapping(data, now()))
            print(json.dumps(rule_to_mapping(rule)))
        elif args.faults_command == "list":
            for rule in await service.refresh():
                print(json.dumps(rule_to_mapping(rule)))
        else:
            print(f"removed {await service.clear(args.id)}")
    finally:
        await engine.close()
    return 0
