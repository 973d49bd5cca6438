"""AUTH LOGIN/PLAIN behind the tenant's SMTP AUTH switch, and the per-IP failed-AUTH throttle."""

from __future__ import annotations

import smtplib
import time
from pathlib import Path

import httpx

from mailgraph.auth.passwords import hash_secret, verify_secret
from mailgraph.config import load_tenant_file, parse_tenant
from mailgraph.domain.directory import DirectoryService, Secrets
from mailgraph.smtpd.throttle import AuthThrottle, ThrottlePolicy
from mailgraph.wiring import Runtime
from tests.smtp.conftest import in_thread
from tests.submission.conftest import TENANT_FILE, Submission, submission_handler, xoauth2
from tests.submission.test_xoauth2 import ALICE, BOB, message, subjects


def _login(submission: Submission, mechanism: str, password: str = "alice-Passw0rd") -> tuple[int, bytes]:
    with submission.secure() as client:
        client.user, client.password = ALICE, password
        method = client.auth_login if mechanism == "LOGIN" else client.auth_plain
        try:
            return client.auth(mechanism, method, initial_response_ok=mechanism == "PLAIN")
        except smtplib.SMTPAuthenticationError as exc:
            return exc.smtp_code, exc.smtp_error


async def _allow_smtp_auth(runtime: Runtime, tmp_path: Path) -> None:
    """Re-apply the tenant file with Exchange's switch turned on (the operator's way)."""
    text = TENANT_FILE.read_text(encoding="utf-8").replace(
        'domains = ["fabrikam.test"]', 'domains = ["fabrikam.test"]\nsmtpClientAuthenticationDisabled = false'
    )
    path = tmp_path / "tenant.toml"
    path.write_text(text, encoding="utf-8")
    spec = load_tenant_file(path)
    assert spec.smtp_password_auth
    await DirectoryService(runtime.engine, Secrets(hash_secret, verify_secret)).apply(spec)


async def test_auth_login_refused_while_disabled_and_accepted_when_the_tenant_allows_it(
    api: httpx.AsyncClient, runtime: Runtime, submission: Submission, tmp_path: Path
) -> None:
    disabled = (
        535,
        b"5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
    )
    assert await in_thread(lambda: _login(submission, "LOGIN")) == disabled
    assert await in_thread(lambda: _login(submission, "PLAIN")) == disabled
    await _allow_smtp_auth(runtime, tmp_path)
    assert await in_thread(lambda: _login(submission, "LOGIN", "wrong")) == (
        535,
        b"5.7.3 Authentication unsuccessful",
    )

    def send() -> dict[str, object]:
        with submission.secure() as client:
            client.login(ALICE, "alice-Passw0rd")  # smtplib picks PLAIN or LOGIN
            return client.sendmail(ALICE, [BOB], message(ALICE, BOB, "With a password"))

    assert await in_thread(send) == {}
    assert await subjects(api, BOB, "inbox") == ["With a password"]
    assert await subjects(api, ALICE, "sentitems") == ["With a password"]


def test_the_tenant_switch_is_off_unless_the_file_turns_it_on() -> None:
    base = {"tenant": {"domains": ["x.test"]}}
    assert parse_tenant(base, "t").smtp_password_auth is False
    on = {"tenant": {"domains": ["x.test"], "smtpClientAuthenticationDisabled": False}}
    assert parse_tenant(on, "t").smtp_password_auth is True


async def test_failed_auths_from_one_ip_are_slowed_then_refused(
    runtime: Runtime, submission: Submission
) -> None:
    policy = ThrottlePolicy(slow_after=2, refuse_after=4, delay_s=0.2, max_delay_s=0.2, window_s=60)
    submission_handler(runtime).throttle = AuthThrottle(policy)

    def go() -> list[tuple[int, bytes, float]]:
        outcomes = []
        for _ in range(5):
            started = time.monotonic()
            code, text = _login(submission, "LOGIN", "wrong")
            outcomes.append((code, text[:5], time.monotonic() - started))
        return outcomes

    outcomes = await in_thread(go)
    assert [(code, status) for code, status, _ in outcomes] == [(535, b"5.7.1")] * 4 + [(454, b"4.7.0")]
    assert outcomes[0][2] < 0.2 <= outcomes[2][2]  # the third attempt waited


def test_throttle_window_forgets_old_failures() -> None:
    now = [0.0]
    throttle = AuthThrottle(
        ThrottlePolicy(slow_after=1, refuse_after=2, delay_s=1, window_s=10), lambda: now[0]
    )
    assert throttle.delay("10.0.0.1") == 0 and not throttle.refused("10.0.0.1")
    throttle.failed("10.0.0.1")
    assert throttle.delay("10.0.0.1") == 1 and not throttle.refused("10.0.0.1")
    throttle.failed("10.0.0.1")
    assert throttle.refused("10.0.0.1") and not throttle.refused("10.0.0.2")
    now[0] = 11.0
    assert not throttle.refused("10.0.0.1") and throttle.delay("10.0.0.1") == 0


async def test_allow_plaintext_offers_auth_before_starttls(data_dir: Path, database: str | None) -> None:
    from mailgraph.config import Settings
    from mailgraph.wiring import build

    rt = await build(
        Settings(data_dir=data_dir, submission_port=0, submission_allow_plaintext=True, database=database)
    )
    assert rt.smtp is not None
    await rt.smtp.start()
    try:
        app = await rt.engine.read(lambda tx: tx.directory.get_app("smtp-client"))
        alice = await rt.engine.read(lambda tx: tx.directory.find_user(rt.tenant.id, ALICE))
        assert app is not None and alice is not None
        access = rt.app.services.tokens.issue_user_token(
            rt.tenant, app, alice, ["SMTP.Send"], resource="https://outlook.office.com"
        )
        port = rt.smtp.ports["submission"]

        def go() -> tuple[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30) as client:
                client.ehlo()
                offered = client.esmtp_features["auth"]
                return offered, client.auth("XOAUTH2", lambda challenge=None: xoauth2(ALICE, access))

        offered, reply = await in_thread(go)
        assert "XOAUTH2" in offered.split() and reply[0] == 235
    finally:
        await rt.smtp.close()
        await rt.engine.close()
