"""Hypothesis: whatever bytes a client sends as DATA, the server stores the message or refuses it with
550 5.6.0, never fails with a 4xx/5xx of its own, and the session goes on."""

from __future__ import annotations

import smtplib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.smtp.conftest import SmtpTarget, in_thread

_FRAGMENTS = [
    b"From: sam@example.org",
    b"To: bob@fabrikam.test, =?utf-8?q?B=C3=B6b?= <bob@fabrikam.test>",
    b"Subject: =?utf-8?b?w6TDtsO8?=",
    b"Subject: \xff\xfe broken 8-bit",
    b"Message-ID: <x@y>",
    b"Message-ID: not-a-msg-id",
    b"In-Reply-To: <<<>>>",
    b"Date: not a date",
    b"MIME-Version: 1.0",
    b'Content-Type: multipart/mixed; boundary="b"',
    b"Content-Type: text/html; charset=nonexistent",
    b"Content-Transfer-Encoding: base64",
    b"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.txt",
    b"--b",
    b"--b--",
    b"",
    b" folded continuation",
    b"<html><body>hi</body></html>",
]
_LINE = st.one_of(
    st.sampled_from(_FRAGMENTS),
    st.binary(max_size=120).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
)


async def test_arbitrary_data_is_stored_or_refused_with_5_6_0(smtp: SmtpTarget) -> None:
    outcomes: list[tuple[int, bytes]] = []

    def run() -> None:
        with smtp.connect() as client:

            @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(st.lists(_LINE, max_size=30))
            def one(lines: list[bytes]) -> None:
                client.mail("sam@example.org")
                client.rcpt("bob@fabrikam.test")
                try:
                    reply = client.data(b"\r\n".join(lines) + b"\r\n")
                except smtplib.SMTPDataError as exc:
                    reply = (exc.smtp_code, exc.smtp_error)
                outcomes.append(reply)
                assert reply[0] == 250 or (reply[0] == 550 and reply[1].startswith(b"5.6.0")), reply
                assert client.noop()[0] == 250

            one()

    await in_thread(run)
    assert any(code == 250 for code, _ in outcomes)
