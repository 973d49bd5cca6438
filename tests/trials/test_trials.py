"""The crash trials, bounded for CI: one round per scenario (SQLite and PostgreSQL, one and two
processes). `./dev trials` runs 20 rounds per scenario and prints the table (tests/trials/run.py)."""

from __future__ import annotations

import random

import pytest

from tests import pgdb
from tests.trials.harness import CONCURRENCY, SCENARIOS, Scenario, run_trial

pytestmark = [pytest.mark.trials, pytest.mark.e2e]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.engine}-{s.processes}p")
def test_kill_9_loses_nothing_acknowledged(scenario: Scenario) -> None:
    if scenario.engine == "postgres" and not pgdb.enabled():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    result = run_trial(scenario, random.Random(), load_s=2.0, label="ci")
    assert result.restart_failures == 0, result.notes
    assert result.acknowledged > 0
    assert result.lost == 0, result.notes
    assert result.half_done == 0, result.notes
    assert result.duplicated == 0, result.notes  # local delivery and Sent Items are exactly-once
    assert result.relay_duplicates <= CONCURRENCY, result.notes  # at-least-once relay, bounded
    assert result.webhook_lost == 0, result.notes
