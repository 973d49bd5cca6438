"""The SMTP dialogue: no open relay, unknown recipients, size limits, malformed commands, reply codes."""

from __future__ import annotations

import smtplib

import pytest
from httpx import AsyncClient

from mailgraph.domain.inbound import InboundService
from tests.api.helpers import folder_items
from tests.conftest import TokenFor
from tests.smtp.conftest import MAX_SIZE, SmtpTarget, in_thread


def _status(reply: tuple[int, bytes]) -> tuple[int, str]:
    """Basic code and enhanced status code (RFC 3463) of a reply."""
    return reply[0], reply[1].split(b" ", 1)[0].decode()


async def test_ehlo_advertises_size_starttls_and_enhanced_codes_but_no_auth_before_tls(
    smtp: SmtpTarget,
) -> None:
    def go() -> dict[str, str]:
        with smtp.connect() as client:
            return dict(client.esmtp_features)

    features = await in_thread(go)
    assert features["size"] == str(MAX_SIZE)
    assert "starttls" in features and "enhancedstatuscodes" in features and "8bitmime" in features
    assert "auth" not in features  # RFC 4954 §4: no password over plaintext


async def test_open_relay_is_refused(smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor) -> None:
    def go() -> list[tuple[int, str]]:
        with smtp.connect() as client:
            client.mail("spammer@example.org")
            replies = [_status(client.rcpt(a)) for a in ("victim@example.com", "x@fabrikam.test.evil.org")]
            replies.append(_status(client.rcpt("bob@fabrikam.test")))  # the local one is still taken
            code, _ = client.data(b"Subject: relay?\r\n\r\nbody\r\n")
            replies.append((code, ""))
            # A sender claiming to be one of ours changes nothing without AUTH.
            client.mail("alice@fabrikam.test")
            replies.append(_status(client.rcpt("victim@example.com")))
            return replies

    replies = await in_thread(go)
    assert replies == [(550, "5.7.1"), (550, "5.7.1"), (250, "2.1.5"), (250, ""), (550, "5.7.1")]
    # Only Bob got it, nothing was queued for the outside.
    assert len(await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox")) == 1


async def test_unknown_local_recipients_are_refused_at_rcpt(smtp: SmtpTarget) -> None:
    def go() -> list[tuple[int, str]]:
        with smtp.connect() as client:
            client.mail("sam@example.org")
            return [
                _status(client.rcpt(a))
                for a in (
                    "nobody@fabrikam.test",
                    "NOBODY@FABRIKAM-MAIL.TEST",  # the tenant's second domain, case-insensitive
                    "carol@fabrikam-mail.test",  # a user whose address is on that domain
                    "Alice@Fabrikam.Test",
                    "not-a-mailbox@",
                    "bob@fabrikam..test",
                )
            ]

    assert await in_thread(go) == [
        (550, "5.1.1"),
        (550, "5.1.1"),
        (250, "2.1.5"),
        (250, "2.1.5"),
        (553, "5.1.3"),
        (553, "5.1.3"),
    ]


async def test_data_with_only_refused_recipients_is_not_accepted(smtp: SmtpTarget) -> None:
    def go() -> None:
        with smtp.connect() as client:
            client.sendmail("sam@example.org", ["nobody@fabrikam.test"], b"Subject: x\r\n\r\ny\r\n")

    try:
        await in_thread(go)
    except smtplib.SMTPRecipientsRefused as exc:
        assert _status(exc.recipients["nobody@fabrikam.test"]) == (550, "5.1.1")
    else:
        raise AssertionError("the recipient was accepted")


async def test_declared_size_over_the_limit_is_refused_at_mail(smtp: SmtpTarget) -> None:
    def go() -> tuple[tuple[int, str], tuple[int, str]]:
        with smtp.connect() as client:
            over = _status(client.mail("sam@example.org", [f"SIZE={MAX_SIZE + 1}"]))
            under = _status(client.mail("sam@example.org", [f"SIZE={MAX_SIZE // 2}"]))
            return over, under

    assert await in_thread(go) == ((552, "5.3.4"), (250, "2.1.0"))


async def test_oversized_data_is_refused_with_552_and_nothing_is_stored(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * (MAX_SIZE // 1000 + 2)

    def go() -> tuple[tuple[int, str], int]:
        with smtp.connect() as client:
            client.mail("sam@example.org")  # no SIZE given: the limit applies to the data itself
            client.rcpt("bob@fabrikam.test")
            refused = _status(client.data(big))
            client.mail("sam@example.org")  # the session survives and takes a normal message
            client.rcpt("bob@fabrikam.test")
            return refused, client.data(b"Subject: small\r\n\r\nok\r\n")

    refused, accepted = await in_thread(go)
    assert refused == (552, "5.3.4")
    assert accepted[0] == 250, accepted
    items = await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox")
    assert [m["subject"] for m in items] == ["small"]


async def test_malformed_commands_get_5xx_with_enhanced_codes_and_the_session_survives(
    smtp: SmtpTarget,
) -> None:
    def go() -> list[tuple[int, str]]:
        with smtp.connect() as client:
            replies = []
            for command in (
                "RCPT TO:<bob@fabrikam.test>",  # before MAIL
                "DATA",  # before RCPT
                "MAIL bob@fabrikam.test",  # no FROM:
                "MAIL FROM:<sam@example.org> BOGUS=1",  # unknown parameter
                "XYZZY",  # unknown command
                "MAIL FROM:<" + "a" * 600 + "@example.org>",  # command line too long
                "RSET extra",
            ):
                client.putcmd(command)
                replies.append(_status(client.getreply()))
            replies.append(_status(client.noop()))
            return replies

    assert await in_thread(go) == [
        (503, "5.5.1"),
        (503, "5.5.1"),
        (501, "5.5.2"),
        (555, "5.5.4"),
        (500, "5.5.1"),
        (500, "5.5.6"),
        (501, "5.5.2"),
        (250, "2.0.0"),
    ]


async def test_mail_before_ehlo_and_a_raw_socket_with_garbage(smtp: SmtpTarget) -> None:
    def go() -> list[tuple[int, str]]:
        client = smtplib.SMTP("127.0.0.1", smtp.port, timeout=30)
        try:
            client.putcmd("MAIL FROM:<sam@example.org>")
            first = _status(client.getreply())
            client.send(b"\xff\xfe\x00binary\r\n")
            second = _status(client.getreply())
            client.helo("client.test")
            return [first, second, _status(client.noop())]
        finally:
            client.close()

    assert await in_thread(go) == [(503, "5.5.1"), (500, "5.5.2"), (250, "2.0.0")]


async def test_too_many_recipients_are_deferred_with_452(smtp: SmtpTarget) -> None:
    def go() -> tuple[int, str]:
        with smtp.connect() as client:
            client.mail("sam@example.org")
            for _ in range(500):  # the same local user over and over: accepted, counted once
                client.putcmd("RCPT TO:<bob@fabrikam.test>")
            for _ in range(500):
                client.getreply()
            return _status(client.rcpt("alice@fabrikam.test"))

    assert await in_thread(go) == (250, "2.1.5")


async def test_a_failure_of_ours_is_a_temporary_451_and_the_session_goes_on(
    smtp: SmtpTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: InboundService, mail: object) -> None:
        raise RuntimeError("store unavailable")

    monkeypatch.setattr(InboundService, "receive", broken)

    def go() -> list[tuple[int, str]]:
        with smtp.connect() as client:
            client.mail("sam@example.org")
            client.rcpt("bob@fabrikam.test")
            failed = _status(client.data(b"Subject: x\r\n\r\ny\r\n"))
            return [failed, _status(client.mail("sam@example.org"))]  # no RSET needed

    # 4yz: the sending MTA keeps the message and retries (RFC 5321 §4.2.5); never a bounce.
    assert await in_thread(go) == [(451, "4.3.0"), (250, "2.1.0")]
