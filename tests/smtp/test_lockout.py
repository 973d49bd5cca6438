"""Issue 17, defect 3 over SMTP AUTH: failures count towards the same lockout as the token endpoint's,
and a locked user cannot authenticate over SMTP either (so SMTP is no way around the lock)."""

from __future__ import annotations

import smtplib
from dataclasses import replace

from httpx import AsyncClient

from mailgraph.wiring import Runtime
from tests.smtp.auth_helpers import ALICE_PASSWORD
from tests.smtp.conftest import SmtpTarget, in_thread


def _login(smtp: SmtpTarget, password: str) -> int:
    with smtp.secure() as client:
        try:
            client.login("alice@fabrikam.test", password)
        except smtplib.SMTPAuthenticationError as err:
            return err.smtp_code
        return 235


async def test_smtp_auth_failures_lock_the_user_everywhere(
    smtp: SmtpTarget, runtime: Runtime, api: AsyncClient
) -> None:
    tenant = replace(runtime.tenant, lockout_threshold=3, lockout_duration_s=60)
    await runtime.engine.write(lambda tx: tx.directory.put_tenant(tenant))
    for _ in range(3):
        assert await in_thread(lambda: _login(smtp, "wrong")) == 535
    assert await in_thread(lambda: _login(smtp, ALICE_PASSWORD)) == 535  # locked: the right one too
    form = {
        "grant_type": "password",
        "client_id": "full-app",
        "client_secret": "full-secret",
        "username": "alice@fabrikam.test",
        "password": ALICE_PASSWORD,
        "scope": "https://graph.microsoft.com/.default",
    }
    r = await api.post("/fabrikam.test/oauth2/v2.0/token", data=form)
    assert r.json()["error_codes"] == [50053]
