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


_VERBS = [b"EHLO", b"HELO", b"MAIL FROM:", b"RCPT TO:", b"RSET", b"NOOP", b"VRFY", b"EXPN", b"HELP", b"AUTH",
          b"BDAT", b"ETRN", b"XCLIENT", b"STARTTLS", b"mail from:", b"QUIT", b"DATA"]  # fmt: skip
_ARGS = [b"", b" ", b"<>", b"<bob@fabrikam.test>", b"<sam@example.org> SIZE=999999999999", b"PLAIN",
         b"PLAIN AGdob3N0AHg=", b"LOGIN", b"XOAUTH2 " + b"A" * 3000, b"<a@b> BODY=8BITMIME SMTPUTF8",
         b"<\xc3\xa9@fabrikam.test>", b"\x00\xff", b"<" + b"x" * 900 + b"@fabrikam.test>", b"=", b"*"]  # fmt: skip
_COMMAND = st.one_of(
    st.tuples(st.sampled_from(_VERBS), st.sampled_from(_ARGS)).map(
        lambda t: t[0] + (b" " if t[1] else b"") + t[1]
    ),
    st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
)


async def test_arbitrary_command_lines_get_well_formed_replies(smtp: SmtpTarget) -> None:
    """Hypothesis over the command phase (issue 17): any line gets one well-formed reply that is not a
    local error (451 4.3.0) — a syntax 5yz, a refusal, or a success — and the session goes on, or the
    server ends it with 221 (QUIT), 421 (too many errors) or aiosmtpd's 502 "… goodbye." (too many
    unrecognised commands)."""
    replies: list[int] = []

    def run() -> None:
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(st.lists(_COMMAND, min_size=1, max_size=12))
        def one(lines: list[bytes]) -> None:
            with smtp.connect() as client:
                for line in lines:
                    if line.upper().startswith((b"DATA", b"BDAT", b"STARTTLS")):
                        continue  # a DATA or TLS phase is the other tests' subject
                    assert client.sock is not None
                    client.sock.sendall(line + b"\r\n")
                    code, text = client.getreply()
                    replies.append(code)
                    assert 200 <= code < 600, (line, code, text)
                    assert not (code == 451 and text.startswith(b"4.3.0")), (line, text)
                    if code in (221, 421):
                        return
                    if code == 502 and b"goodbye" in text:  # aiosmtpd's limit of unrecognised commands
                        return  # (10 a session) ends it with 502 5.5.1 "… goodbye." and closes
                assert client.noop()[0] == 250

        one()

    await in_thread(run)
    assert any(code >= 500 for code in replies) and any(code == 250 for code in replies)
