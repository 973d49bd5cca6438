"""Real client libraries submit over XOAUTH2: Django's SMTP EmailBackend (subclassed, as users write it)
and aiosmtplib. Each sends one message end to end: Sent Items and the recipient's Inbox, read over Graph."""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from functools import cached_property
from typing import Any

import aiosmtplib
import httpx

from tests.smtp.conftest import in_thread
from tests.submission.conftest import Submission, user_token, xoauth2
from tests.submission.test_xoauth2 import ALICE, BOB, subjects


def _django_backend(submission: Submission, access_token: str) -> Any:
    """Django's EmailBackend with XOAUTH2 instead of LOGIN: the usual ~10-line subclass."""
    from django.conf import settings

    if not settings.configured:
        settings.configure(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend")
    from django.core.mail.backends.smtp import EmailBackend
    from django.core.mail.utils import DNS_NAME

    DNS_NAME._fqdn = "client.test"  # no reverse DNS lookup of this machine in a test

    class XOAuth2EmailBackend(EmailBackend):  # type: ignore[misc]
        """Authenticate with `AUTH XOAUTH2` (Exchange Online's modern auth) after STARTTLS."""

        def __init__(self, token: str, **kwargs: Any) -> None:
            super().__init__(username=None, password=None, **kwargs)  # no AUTH LOGIN by Django
            self.token = token

        @cached_property
        def ssl_context(self) -> ssl.SSLContext:  # trust the server's local CA
            return ssl.create_default_context(cafile=submission.ca_file)

        def open(self) -> bool | None:
            opened: bool | None = super().open()
            if opened:
                # After STARTTLS the client must EHLO again (RFC 3207 §4.2); smtplib's login() does it,
                # its auth() does not.
                self.connection.ehlo_or_helo_if_needed()
                self.connection.auth("XOAUTH2", lambda challenge=None: xoauth2(ALICE, self.token))
            return opened

    return XOAuth2EmailBackend(access_token, host="127.0.0.1", port=submission.port, use_tls=True, timeout=30)


async def test_django_email_backend_sends_with_xoauth2(
    api: httpx.AsyncClient, submission: Submission
) -> None:
    access = await user_token(api, "alice")

    def go() -> int:
        from django.core.mail import EmailMessage as DjangoMessage

        backend = _django_backend(submission, access)
        mail = DjangoMessage(
            "From Django", "Sent by Django's EmailBackend.", ALICE, [BOB], connection=backend
        )
        sent: int = mail.send()
        return sent

    assert await in_thread(go) == 1
    assert await subjects(api, BOB, "inbox") == ["From Django"]
    assert await subjects(api, ALICE, "sentitems") == ["From Django"]


async def test_aiosmtplib_sends_with_xoauth2(api: httpx.AsyncClient, submission: Submission) -> None:
    access = await user_token(api, "alice")
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = ALICE, BOB, "From aiosmtplib"
    mail.set_content("Sent by aiosmtplib.")
    context = ssl.create_default_context(cafile=submission.ca_file)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=submission.port, start_tls=True, tls_context=context)
    async with client:
        await client.auth_xoauth2(ALICE, access)
        errors, reply = await client.send_message(mail)
    assert errors == {} and reply.startswith("2.0.0 OK")
    assert await subjects(api, BOB, "inbox") == ["From aiosmtplib"]
    assert await subjects(api, ALICE, "sentitems") == ["From aiosmtplib"]
