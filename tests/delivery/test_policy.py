"""The retry policy and relay URLs: pure functions, no I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailgraph.delivery.policy import SECOND, Reply, RetryPolicy, backoff_us, decide, parse_schedule
from mailgraph.delivery.relay import parse_relay_url

POLICY = RetryPolicy(backoff_s=(1, 10, 100))
NOW = 1_000 * SECOND
LATER = NOW + 3600 * SECOND


def test_success_delivers() -> None:
    outcome = decide(POLICY, Reply(250, "2.0.0 OK"), 0, LATER, NOW)
    assert outcome.status == "delivered" and outcome.reason == ""


@pytest.mark.parametrize("code", [550, 551, 552, 553, 554])
def test_permanent_reply_fails_at_once(code: int) -> None:
    outcome = decide(POLICY, Reply(code, "5.1.1 no"), 0, LATER, NOW)
    assert outcome.status == "failed"
    assert "rejected" in outcome.reason


@pytest.mark.parametrize(
    "reply", [Reply(421, "4.3.2 bye"), Reply(451, "4.7.1 later"), Reply(None, "refused")]
)
def test_transient_reply_or_no_reply_defers(reply: Reply) -> None:
    outcome = decide(POLICY, reply, 0, LATER, NOW)
    assert outcome.status == "deferred"
    assert outcome.next_attempt_at == NOW + 1 * SECOND


def test_unexpected_codes_are_transient() -> None:
    assert Reply(354, "go ahead").kind == "transient"
    assert Reply(199, "odd").kind == "transient"


def test_backoff_grows_then_repeats_its_last_step() -> None:
    assert [backoff_us(POLICY, n) // SECOND for n in range(6)] == [1, 10, 100, 100, 100, 100]


def test_deferral_never_goes_past_the_expiry() -> None:
    expires = NOW + 5 * SECOND
    outcome = decide(POLICY, Reply(451, "later"), 2, expires, NOW)
    assert outcome.status == "deferred" and outcome.next_attempt_at == expires


def test_expired_entry_fails_with_the_last_reply() -> None:
    outcome = decide(POLICY, Reply(451, "4.7.1 later"), 7, NOW, NOW)
    assert outcome.status == "failed"
    assert "expired" in outcome.reason and outcome.reply.describe() == "451 4.7.1 later"


@given(
    attempts=st.integers(0, 50),
    code=st.one_of(st.none(), st.integers(100, 599)),
    left=st.integers(-10 * SECOND, 10_000 * SECOND),
)
def test_decide_is_total_and_never_schedules_into_the_past(
    attempts: int, code: int | None, left: int
) -> None:
    outcome = decide(POLICY, Reply(code, "x"), attempts, NOW + left, NOW)
    assert outcome.status in ("delivered", "deferred", "failed")
    if outcome.status == "deferred":
        assert NOW < outcome.next_attempt_at <= NOW + left
    if outcome.status == "failed":
        assert outcome.reason


def test_schedule_parsing() -> None:
    assert parse_schedule("1, 2.5,60") == (1.0, 2.5, 60.0)
    for bad in ("", "a,b", "0", "-1,5"):
        with pytest.raises(ValueError):
            parse_schedule(bad)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(backoff_s=())
    with pytest.raises(ValueError):
        RetryPolicy(lease_s=0)


def test_relay_urls() -> None:
    plain = parse_relay_url("smtp://127.0.0.1:1025")
    assert (plain.host, plain.port, plain.tls, plain.verify) == ("127.0.0.1", 1025, "none", True)
    assert parse_relay_url("smtp://mx.example.com").port == 25
    sub = parse_relay_url("smtp+starttls://me%40x.com:p%3Ass@smtp.example.com:587")
    assert (sub.tls, sub.username, sub.password, sub.port) == ("starttls", "me@x.com", "p:ss", 587)
    assert "p:ss" not in sub.display()
    tls = parse_relay_url("smtps://u:p@smtp.example.com?verify=false&timeout=5")
    assert (tls.tls, tls.port, tls.verify, tls.timeout_s) == ("tls", 465, False, 5.0)
    assert "OFF" in tls.display()
    context = tls.tls_context()
    assert context is not None and context.check_hostname is False
    checked = parse_relay_url("smtps://smtp.example.com").tls_context()
    assert checked is not None and checked.check_hostname is True
    assert parse_relay_url("smtp://h").tls_context() is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://x", "must start with"),
        ("smtp://", "no host"),
        ("smtp://u:p@h", "need TLS"),
        ("smtp://h:99999", "invalid port"),
        ("smtps://h?verify=maybe", "verify"),
        ("smtps://h?tls=1", "unknown relay URL option"),
        ("smtps://h?timeout=-1", "positive"),
        ("smtps://h/path", "no path"),
    ],
)
def test_bad_relay_urls_say_why(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_relay_url(url)
