"""The crash trials, bounded for CI: one round per scenario (SQLite and PostgreSQL, one and two
processes), a short soak (tests/trials/soak.py) and one disk-full round per engine
(tests/trials/disk_full.py, tests/trials/pg_disk_full.py).
`./dev trials` runs 20 rounds per scenario and prints the table (tests/trials/run.py)."""

from __future__ import annotations

import random

import pytest

from tests import pgdb
from tests.trials.disk_full import mount_allowed, run_disk_full
from tests.trials.harness import CONCURRENCY, SCENARIOS, Scenario, run_trial
from tests.trials.pg_disk_full import pg_allowed, run_pg_disk_full
from tests.trials.soak import FD_SLACK, run_soak

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


def test_soak_bounded_descriptors_steady_and_backlog_drains() -> None:
    """A short soak at a fixed modest rate (`./dev trials --soak MIN` is the real one): the server's open
    descriptors do not grow from the end of the warm-up to the end, and the relay backlog drains."""
    result = run_soak(25, rate=8, interval_s=5, warmup_s=5)
    assert result.acknowledged > 0, result.notes
    before, after = result.idle_fds
    assert after <= before + FD_SLACK, result.table()
    assert result.drained, result.table()
    assert result.server_errors == 0, result.notes


def test_disk_full_clean_refusals_nothing_half_written_recovers() -> None:
    """The data dir on a 24 MB tmpfs fills under load (tests/trials/disk_full.py): Graph answers 507
    `quotaLimitReached` (SMTP 452), never a 500; no message is half written; sends work again once the
    filler is deleted, without a restart."""
    reason = mount_allowed()
    if reason:
        pytest.skip(reason)
    result = run_disk_full(rounds_full=3)
    assert result.server_errors == [], (result.server_errors[:3], result.log_tail)
    assert result.refused, "the disk never filled"
    assert set(result.refused) <= {"507 quotaLimitReached", "SMTP 452 4.3.1"}, result.refused
    assert result.half_done == [] and result.lost == [], (result.half_done[:5], result.lost[:5])
    assert result.duplicated == [], result.duplicated[:5]
    assert result.recovered, result.log_tail
    assert result.drained, result.log_tail


def test_postgres_disk_full_clean_refusals_or_clean_outage_nothing_lost() -> None:
    """PostgreSQL's data directory (pg_wal too) on a 64 MB tmpfs fills under load
    (tests/trials/pg_disk_full.py): 507/452 while PostgreSQL refuses for space, 503/451 if it goes down
    (a WAL write fails: PANIC), never a 500; with space back (and PostgreSQL started again) the running
    server sends again; nothing acknowledged is lost, nothing half written."""
    reason = pg_allowed()
    if reason:
        pytest.skip(reason)
    result = run_pg_disk_full(rounds_full=3, bound_s=60)
    assert result.server_errors == [], (result.server_errors[:3], result.log_tail)
    assert result.refused, "the disk never filled"
    clean = {"507 quotaLimitReached", "SMTP 452 4.3.1", "503 serviceNotAvailable", "SMTP 451 4.3.0"}
    assert set(result.refused) <= clean, result.refused
    assert result.half_done == [] and result.lost == [], (result.half_done[:5], result.lost[:5])
    assert result.duplicated == [], result.duplicated[:5]
    assert result.recovered, result.log_tail
    assert result.drained, result.log_tail
