"""A bounded slice of schemathesis over `/openapi.json` against a real server process (issue 17).

Every operation of the description gets two drawn cases (positive and negative generation, real
keys for half of them), with a Graph app or delegated token, the admin token or none, as its
security names. Not one answer may be a 5xx, and none may hang. `./dev fuzz` (bench/fuzz.py) runs
the same over 10,000 and more requests.
"""

from __future__ import annotations

from tests.attack.fuzzing import fuzz
from tests.attack.server import running


def test_no_operation_answers_5xx_or_hangs() -> None:
    with running() as target:
        report = fuzz(target, per_operation=2)
    assert report.operations > 200  # every Graph route × version × root, the control API, the rest
    assert report.requests >= report.operations
    assert report.failures == [], "\n".join(report.failures)
    assert sum(n for status, n in report.statuses.items() if status >= 500) == 0
