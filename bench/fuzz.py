"""`./dev fuzz [--requests N] [--seed S] [--positive]`: schemathesis over `/openapi.json`, ≥ 10,000 requests.

Measured (docs/limits.md): 10,000+ requests over 279 operations, 0 × 5xx, 0 hangs.

Starts `mailgraph serve` (test tenant, real tokens; tests/attack/server.py), sends about N drawn
requests spread over every operation of the server's own OpenAPI description (tests/attack/fuzzing.py)
and prints the statuses, the 5xx answers and hangs (with a curl line each). Exit status 1 on any.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.attack.fuzzing import Report, fuzz
from tests.attack.server import running


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--positive", action="store_true", help="only cases that fit the schema")
    args = parser.parse_args()
    with running() as target:
        operations = len(__import__("httpx").get(f"{target.url}/openapi.json").json()["paths"])
        per_operation = max(1, math.ceil(args.requests / max(1, operations * 1.5)))
        report = Report()
        round_seed = args.seed
        while report.requests < args.requests:  # hypothesis may draw fewer distinct cases than asked
            fuzz(target, per_operation, round_seed, "positive" if args.positive else "all", report)
            round_seed += 1
            per_operation = max(1, math.ceil((args.requests - report.requests) / max(1, operations)))
    print(f"operations: {report.operations}, requests: {report.requests}, seconds: {report.seconds:.0f}")
    print("statuses:", ", ".join(f"{s}: {n}" for s, n in sorted(report.statuses.items())))
    print("slowest operations (s):", ", ".join(f"{op} {t:.1f}" for t, op in report.slowest[:5]))
    print(f"5xx and hangs: {len(report.failures)}")
    for failure in report.failures:
        print("  " + failure)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
