"""STARTTLS, implicit TLS and authenticated submission (RFC 3207, RFC 4954, RFC 8314)."""

from __future__ import annotations

import base64
import smtplib
import ssl
from dataclasses import replace

import pytest
from httpx import AsyncClient

from mailgraph.wiring import Runtime
from tests.api.helpers import folder_items
from tests.conftest import TokenFor
from tests.smtp.auth_helpers import ALICE_PASSWORD
from tests.smtp.conftest import TIMEOUT, SmtpTarget, in_thread


def _status(reply: tuple[int, bytes]) -> tuple[int, str]:
    return reply[0], reply[1].split(b" ", 1)[0].decode()


def _plain(login: str, password: str) -> str:
    return base64.b64encode(f"\0{login}\0{password}".encode()).decode()


async def test_starttls_verifies_against_the_data_dir_ca_and_then_offers_auth(smtp: SmtpTarget) -> None:
    def go() -> tuple[dict[str, str], str | None]:
        with smtp.secure() as client:
            sock = client.sock
            assert isinstance(sock, ssl.SSLSocket)
            return dict(client.esmtp_features), sock.version()

    features, version = await in_thread(go)
    assert "starttls" not in features  # RFC 3207 §4.2: not offered twice
    assert set(features["auth"].split()) == {"PLAIN", "LOGIN"}
    assert version in ("TLSv1.2", "TLSv1.3")


async def test_auth_before_starttls_is_refused(smtp: SmtpTarget) -> None:
    def go() -> tuple[int, str]:
        with smtp.connect() as client:
            client.putcmd("AUTH", "PLAIN " + _plain("alice@fabrikam.test", ALICE_PASSWORD))
            return _status(client.getreply())

    assert await in_thread(go) == (538, "5.7.11")  # RFC 4954 §6: encryption required


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_good_and_bad_passwords(smtp: SmtpTarget, mechanism: str) -> None:
    def go() -> list[object]:
        outcomes: list[object] = []
        for login, password in (
            ("alice@fabrikam.test", ALICE_PASSWORD),
            ("ALICE@fabrikam.test", ALICE_PASSWORD),  # logins are case-insensitive like UPNs
            ("alice@fabrikam.test", "wrong"),
            ("nobody@fabrikam.test", ALICE_PASSWORD),
        ):
            with smtp.secure() as client:
                client.user, client.password = login, password
                try:
                    method = client.auth_plain if mechanism == "PLAIN" else client.auth_login
                    outcomes.append(_status(client.auth(mechanism, method, initial_response_ok=False)))
                except smtplib.SMTPAuthenticationError as exc:
                    outcomes.append(_status((exc.smtp_code, exc.smtp_error)))
        return outcomes

    assert await in_thread(go) == [(235, "2.7.0"), (235, "2.7.0"), (535, "5.7.8"), (535, "5.7.8")]


async def test_password_auth_follows_the_tenant_switch_here_too(smtp: SmtpTarget, runtime: Runtime) -> None:
    """The tenant's SMTP AUTH switch (docs/smtp-submission.md) governs this listener's password AUTH as
    well: a tenant that turned it off cannot be reached with a password on either port. Mail *to* the
    tenant (no AUTH, Exchange's inbound port 25) is not affected."""
    tenant = await runtime.engine.read(lambda tx: tx.directory.get_tenant(runtime.tenant.id))
    assert tenant is not None and tenant.smtp_password_auth  # tests/tenant.toml turns it on
    off = replace(tenant, smtp_password_auth=False)

    def go() -> tuple[tuple[int, str], dict[str, tuple[int, bytes]]]:
        with smtp.secure() as client:
            try:
                client.login("alice@fabrikam.test", ALICE_PASSWORD)
                raise AssertionError("password AUTH succeeded for a tenant with SMTP AUTH off")
            except smtplib.SMTPAuthenticationError as exc:
                refused = _status((exc.smtp_code, exc.smtp_error))
            inbound = b"From: x@example.org\r\nTo: bob@fabrikam.test\r\nSubject: In\r\n\r\nhi\r\n"
            return refused, client.sendmail("x@example.org", ["bob@fabrikam.test"], inbound)

    await runtime.engine.write(lambda tx: tx.directory.put_tenant(off))
    refused, delivered = await in_thread(go)
    assert refused == (535, "5.7.139") and delivered == {}


async def test_malformed_auth_data_and_too_many_attempts(smtp: SmtpTarget) -> None:
    def go() -> list[tuple[int, str]]:
        with smtp.secure() as client:
            replies = []
            for argument in ("PLAIN !!!notbase64", "PLAIN " + base64.b64encode(b"no-separators").decode()):
                client.putcmd("AUTH", argument)
                replies.append(_status(client.getreply()))
            client.putcmd("AUTH", "PLAIN " + _plain("alice@fabrikam.test", "wrong"))
            replies.append(_status(client.getreply()))
            for _ in range(2):  # attempts 4 and 5: the last ones allowed
                client.putcmd("AUTH", "PLAIN " + _plain("alice@fabrikam.test", "wrong"))
                client.getreply()
            client.putcmd("AUTH", "PLAIN " + _plain("alice@fabrikam.test", ALICE_PASSWORD))
            replies.append(_status(client.getreply()))  # the sixth attempt: the connection is dropped
            return replies

    assert await in_thread(go) == [(501, "5.5.2"), (501, "5.5.2"), (535, "5.7.8"), (421, "4.7.0")]


async def test_authenticated_submission_relays_saves_to_sent_items_and_delivers(
    smtp: SmtpTarget, runtime: Runtime, api: AsyncClient, token_for: TokenFor
) -> None:
    data = (
        b"From: Alice Able <alice@fabrikam.test>\r\nTo: bob@fabrikam.test, friend@example.com\r\n"
        b"Subject: Submitted\r\nMessage-ID: <sub-1@fabrikam.test>\r\n\r\nHello both\r\n"
    )
    hidden = "hidden@example.net"  # a Bcc: only in the envelope

    def go() -> dict[str, tuple[int, bytes]]:
        with smtp.secure() as client:
            client.login("alice@fabrikam.test", ALICE_PASSWORD)
            return client.sendmail(
                "alice@fabrikam.test", ["bob@fabrikam.test", "friend@example.com", hidden], data
            )

    assert await in_thread(go) == {}
    alice = token_for("alice", "Mail.Read")
    [sent] = await folder_items(api, alice, "/v1.0/me", "sentitems")
    assert sent["subject"] == "Submitted" and sent["isDraft"] is False and sent["isRead"] is True
    assert sent["internetMessageId"] == "<sub-1@fabrikam.test>"
    assert sent["from"]["emailAddress"]["address"] == "alice@fabrikam.test"
    [copy] = await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox")
    assert copy["internetMessageId"] == "<sub-1@fabrikam.test>"
    assert copy["isRead"] is False and copy["conversationId"] == sent["conversationId"]
    queued = await runtime.engine.read(lambda tx: tx.outbox.list_entries())
    assert sorted(e.recipient for e in queued) == ["friend@example.com", hidden]
    assert {e.internet_message_id for e in queued} == {"<sub-1@fabrikam.test>"}


async def test_an_authenticated_session_sends_only_as_itself(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    forged = (
        b"From: Bob Baker <bob@fabrikam.test>\r\nTo: carol@fabrikam-mail.test\r\nSubject: forged\r\n\r\nx\r\n"
    )

    def go() -> list[tuple[int, str]]:
        with smtp.secure() as client:
            client.login("alice@fabrikam.test", ALICE_PASSWORD)
            envelope = _status(client.mail("bob@fabrikam.test"))  # MAIL FROM someone else
            client.rset()
            client.mail("alice@fabrikam.test")
            client.rcpt("carol@fabrikam-mail.test")
            header = _status(client.data(forged))  # From field of someone else
            return [envelope, header]

    assert await in_thread(go) == [(550, "5.7.60"), (550, "5.7.60")]
    assert await folder_items(api, token_for("carol", "Mail.Read"), "/v1.0/me", "inbox") == []


async def test_implicit_tls_port_offers_auth_at_once(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    data = b"From: alice@fabrikam.test\r\nTo: bob@fabrikam.test\r\nSubject: over 465\r\n\r\nhi\r\n"

    def go() -> tuple[dict[str, str], dict[str, tuple[int, bytes]]]:
        client = smtplib.SMTP_SSL("127.0.0.1", smtp.tls_port, context=smtp.tls, timeout=TIMEOUT)
        try:
            client.ehlo("client.test")
            features = dict(client.esmtp_features)
            client.login("alice@fabrikam.test", ALICE_PASSWORD)
            return features, client.sendmail("alice@fabrikam.test", ["bob@fabrikam.test"], data)
        finally:
            client.close()

    features, refused = await in_thread(go)
    assert "auth" in features and "starttls" not in features
    assert refused == {}
    [copy] = await folder_items(api, token_for("bob", "Mail.Read"), "/v1.0/me", "inbox")
    headers = await api.get(
        f"/v1.0/me/messages/{copy['id']}?$select=internetMessageHeaders",
        headers=token_for("bob", "Mail.Read"),
    )
    assert "with ESMTPSA" in headers.json()["internetMessageHeaders"][0]["value"]  # RFC 3848
