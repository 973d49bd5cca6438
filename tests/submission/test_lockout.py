"""Smart lockout (issue 17, defect 3) on the submission listener: AUTH LOGIN/PLAIN failures count towards
the store-backed lock of the user that the token endpoint, the sign-in page and inbound SMTP AUTH share,
and a user locked anywhere cannot submit with a password either (the per-IP throttle is kept lenient
here, so only the account lock refuses)."""

from __future__ import annotations

import smtplib
from dataclasses import replace

import httpx

from mailgraph.config import parse_tenant
from mailgraph.domain.lockout import user_subject
from mailgraph.wiring import Runtime
from tests.smtp.conftest import in_thread
from tests.submission.conftest import PASSWORDS, TOKEN_URL, Submission
from tests.submission.test_xoauth2 import ALICE


async def _small_policy_with_smtp_auth(runtime: Runtime) -> None:
    """SMTP AUTH switched on and a lock after 3 failures, as the tenant file would set them."""
    current = await runtime.engine.read(lambda tx: tx.directory.get_tenant(runtime.tenant.id))
    assert current is not None
    tenant = replace(current, smtp_password_auth=True, lockout_threshold=3, lockout_duration_s=60)
    await runtime.engine.write(lambda tx: tx.directory.put_tenant(tenant))
    stored = await runtime.engine.read(lambda tx: tx.directory.get_tenant(runtime.tenant.id))
    assert stored == tenant  # the store carries 0008's and 0019's columns together


def _login(submission: Submission, mechanism: str, password: str) -> tuple[int, bytes]:
    with submission.secure() as client:
        client.user, client.password = ALICE, password
        method = client.auth_login if mechanism == "LOGIN" else client.auth_plain
        try:
            return client.auth(mechanism, method, initial_response_ok=mechanism == "PLAIN")
        except smtplib.SMTPAuthenticationError as exc:
            return exc.smtp_code, exc.smtp_error


async def _password_grant(api: httpx.AsyncClient, password: str) -> int:
    """The token endpoint's first error code for alice's password (0 on success)."""
    form = {
        "grant_type": "password",
        "client_id": "smtp-client",
        "username": ALICE,
        "password": password,
        "scope": "https://outlook.office.com/SMTP.Send",
    }
    r = await api.post(TOKEN_URL, data=form)
    return 0 if r.status_code == 200 else int(r.json()["error_codes"][0])


FAILED = (535, b"5.7.3 Authentication unsuccessful")


async def test_submission_password_failures_lock_the_user_everywhere(
    api: httpx.AsyncClient, runtime: Runtime, submission: Submission
) -> None:
    await _small_policy_with_smtp_auth(runtime)
    user = await runtime.engine.read(lambda tx: tx.directory.find_user(runtime.tenant.id, ALICE))
    assert user is not None
    assert await in_thread(lambda: _login(submission, "LOGIN", "wrong")) == FAILED
    assert await in_thread(lambda: _login(submission, "PLAIN", "wrong")) == FAILED
    state = await runtime.engine.read(lambda tx: tx.lockouts.get(user_subject(user.id)))
    assert state is not None and state.failures == 2  # counted in the store, per user
    assert await in_thread(lambda: _login(submission, "LOGIN", "wrong")) == FAILED  # the third: locked
    # Locked: the right password is refused on the submission port and at the token endpoint alike.
    assert await in_thread(lambda: _login(submission, "PLAIN", PASSWORDS["alice"])) == FAILED
    assert await in_thread(lambda: _login(submission, "LOGIN", PASSWORDS["alice"])) == FAILED
    assert await _password_grant(api, PASSWORDS["alice"]) == 50053


async def test_a_user_locked_at_the_token_endpoint_cannot_submit_with_a_password(
    api: httpx.AsyncClient, runtime: Runtime, submission: Submission
) -> None:
    await _small_policy_with_smtp_auth(runtime)
    assert (await in_thread(lambda: _login(submission, "LOGIN", PASSWORDS["alice"])))[0] == 235
    for _ in range(3):
        assert await _password_grant(api, "wrong") == 50126
    assert await _password_grant(api, PASSWORDS["alice"]) == 50053
    assert await in_thread(lambda: _login(submission, "LOGIN", PASSWORDS["alice"])) == FAILED


async def test_a_success_on_the_submission_port_clears_the_count(
    api: httpx.AsyncClient, runtime: Runtime, submission: Submission
) -> None:
    await _small_policy_with_smtp_auth(runtime)
    for _ in range(2):
        assert await _password_grant(api, "wrong") == 50126
    assert (await in_thread(lambda: _login(submission, "PLAIN", PASSWORDS["alice"])))[0] == 235
    for _ in range(2):  # two more failures: not three in a row, so no lock
        assert await in_thread(lambda: _login(submission, "LOGIN", "wrong")) == FAILED
    assert await _password_grant(api, PASSWORDS["alice"]) == 0


def test_the_tenant_file_sets_lockout_policy_and_smtp_auth_together() -> None:
    tenant = {
        "domains": ["x.test"],
        "lockoutThreshold": 5,
        "lockoutDurationSeconds": 30,
        "smtpClientAuthenticationDisabled": False,
    }
    spec = parse_tenant({"tenant": tenant}, "t.toml")
    assert (spec.lockout_threshold, spec.lockout_duration_s, spec.smtp_password_auth) == (5, 30, True)
