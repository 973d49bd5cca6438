"""`send_quota.admit`: the message-rate schedule and the daily recipient block, as pure arithmetic."""

from __future__ import annotations

from mailgraph.domain.model import SECOND
from mailgraph.domain.send_quota import QuotaState, admit
from mailgraph.domain.throttling import PRESETS, profile

LIMITS = profile("exchange-online", sends=3, sends_window_s=2, recipients=10, recipients_window_s=60)
T0 = 1_000 * SECOND


def _run(times: list[float], recipients: int = 1) -> list[tuple[str, float]]:
    state, out = QuotaState("m"), []
    for t in times:
        state, a = admit(state, LIMITS, recipients, T0 + round(t * SECOND))
        out.append((a.kind, (a.at - T0) / SECOND))
    return out


def test_a_burst_drains_at_the_allowed_rate() -> None:
    assert _run([0] * 7) == [
        ("send", 0), ("send", 0), ("send", 0), ("hold", 2), ("hold", 2), ("hold", 2), ("hold", 4)
    ]  # fmt: skip


def test_a_window_starts_at_the_first_send_after_the_last_one_ended() -> None:
    assert _run([0, 0.5, 1, 2.5, 2.6, 2.7, 2.8]) == [
        ("send", 0), ("send", 0.5), ("send", 1), ("send", 2.5), ("send", 2.6), ("send", 2.7), ("hold", 4.5)
    ]  # fmt: skip


def test_a_sender_that_waits_for_its_held_sends_is_not_held_longer() -> None:
    assert _run([0, 0, 0, 0, 4.5]) == [("send", 0)] * 3 + [("hold", 2), ("send", 4.5)]


def test_over_the_recipient_limit_the_mailbox_is_blocked_for_a_window() -> None:
    state = QuotaState("m")
    state, first = admit(state, LIMITS, 6, T0)
    assert first.kind == "send" and state.day_recipients == 6
    state, over = admit(state, LIMITS, 5, T0 + SECOND)  # 11 > 10
    assert over.kind == "blocked" and over.at == T0 + 61 * SECOND
    state, small = admit(state, LIMITS, 1, T0 + 2 * SECOND)  # would fit, but the mailbox is blocked
    assert small == over
    state, after = admit(state, LIMITS, 10, T0 + 61 * SECOND)  # a new day: the whole limit again
    assert after.kind == "send" and state.day_recipients == 10 and state.blocked_until == 0


def test_exactly_the_limit_is_allowed_and_one_message_over_it_is_not() -> None:
    assert admit(QuotaState("m"), LIMITS, 10, T0)[1].kind == "send"
    assert admit(QuotaState("m"), LIMITS, 11, T0)[1].kind == "blocked"


def test_the_preset_has_exchange_online_values() -> None:
    preset = PRESETS["exchange-online"]
    assert preset is not None
    assert (preset.sends, preset.sends_window_s) == (30, 60)
    assert (preset.recipients, preset.recipients_window_s) == (10_000, 86_400)
