"""The pytest plugin, as a user's suite uses it: a sample suite run in a subprocess under `pytest -n 2`."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_sample_suite_passes_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=Path(__file__).with_name("sample_suite.py").read_text())
    # Each xdist worker is its own session, so it starts its own server: nothing shared between them.
    result = pytester.runpytest_subprocess(
        "-n", "2", "-p", "no:cacheprovider", "-W", "ignore::ResourceWarning", timeout=240
    )
    result.assert_outcomes(passed=4)


def test_a_failed_wait_fails_the_test_with_the_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_timeout="""
def test_waits(mailgraph_tenant):
    mailgraph_tenant.wait_for_message(mailbox="alice", subject="never", timeout=0.2)
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*408*RequestTimeout*"])
