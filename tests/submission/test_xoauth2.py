"""SMTP submission with XOAUTH2 over real sockets: tokens from our token endpoint → Graph's send use case."""

from __future__ import annotations

import base64
import smtplib
import time
from dataclasses import replace
from typing import Any

import httpx
import orjson
import pytest

from mailgraph.auth.tokens import TokenService
from mailgraph.config import Settings
from mailgraph.domain.directory import AppSpec, DirectoryService, Secrets, TenantSpec, UserSpec
from mailgraph.wiring import Runtime, delivery_worker
from tests.api.helpers import folder_items
from tests.delivery.conftest import FAST
from tests.delivery.sink import Sink, eventually
from tests.smtp.conftest import in_thread
from tests.submission.conftest import (
    SMTP_SEND,
    Submission,
    app_token,
    claims_of,
    graph_headers,
    token,
    user_token,
    xoauth2,
)

ALICE, BOB, EVE = "alice@fabrikam.test", "bob@fabrikam.test", "eve@fabrikam.test"


def message(sender: str, to: str, subject: str, extra: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\n{extra}Subject: {subject}\r\n"
        "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nSent over SMTP.\r\n"
    ).encode()


async def subjects(api: httpx.AsyncClient, user: str, folder: str) -> list[str]:
    items = await folder_items(api, await graph_headers(api), f"/v1.0/users/{user}", folder)
    return [str(item["subject"]) for item in items]


async def test_token_endpoint_issues_exchange_online_tokens(api: httpx.AsyncClient) -> None:
    delegated = claims_of(await user_token(api, "alice"))
    assert delegated["aud"] == "https://outlook.office.com" and delegated["scp"] == "SMTP.Send"
    app = claims_of(await app_token(api))
    assert app["aud"] == "https://outlook.office.com" and app["roles"] == ["SMTP.SendAsApp"]
    # Microsoft documents both identifier URIs for SMTP; Entra's `aud` is outlook.office.com for either.
    alias = claims_of(await app_token(api, "https://outlook.office365.com/.default"))
    assert alias["aud"] == "https://outlook.office.com" and alias["roles"] == ["SMTP.SendAsApp"]
    # Graph tokens of the same app carry Graph permissions only.
    graph = claims_of(await app_token(api, "https://graph.microsoft.com/.default"))
    assert graph["aud"] == "https://graph.microsoft.com" and graph["roles"] == ["Mail.Read"]
    # One resource per request, as Entra: AADSTS28000.
    r = await api.post(
        "/fabrikam.test/oauth2/v2.0/token",
        data={
            "grant_type": "password",
            "client_id": "smtp-client",
            "username": ALICE,
            "password": "alice-Passw0rd",
            "scope": f"{SMTP_SEND} https://graph.microsoft.com/Mail.Read",
        },
    )
    assert r.status_code == 400 and "AADSTS28000" in r.json()["error_description"]
    # An Exchange Online token is no Graph token.
    r = await api.get(
        "/v1.0/me/messages", headers={"Authorization": "Bearer " + await user_token(api, "alice")}
    )
    assert r.status_code == 401


async def test_delegated_submission_reaches_sent_items_inbox_and_relay_once(
    api: httpx.AsyncClient, runtime: Runtime, submission: Submission
) -> None:
    access = await user_token(api, "alice")
    data = message(ALICE, f"{BOB}, friend@example.com", "Delegated over SMTP", extra=f"Bcc: {EVE}\r\n")

    def go() -> dict[str, Any]:
        with submission.signed_in(ALICE, access) as client:
            return client.sendmail(ALICE, [BOB, "friend@example.com", EVE], data)

    assert await in_thread(go) == {}  # every recipient accepted, then 250 after the commit
    assert await subjects(api, ALICE, "sentitems") == ["Delegated over SMTP"]
    assert await subjects(api, BOB, "inbox") == ["Delegated over SMTP"]
    assert await subjects(api, EVE, "inbox") == ["Delegated over SMTP"]
    bob_copy = (await folder_items(api, await graph_headers(api), f"/v1.0/users/{BOB}", "inbox"))[0]
    assert bob_copy["bccRecipients"] == [] and bob_copy["from"]["emailAddress"]["address"] == ALICE
    # The external copy goes through the durable queue to the relay, exactly once.
    [relayed] = await relayed_once(runtime)
    assert relayed.rcpt_tos == ["friend@example.com"]
    assert relayed.message["Subject"] == "Delegated over SMTP" and relayed.message["Bcc"] is None


async def relayed_once(runtime: Runtime) -> list[Any]:
    """Run the delivery worker against a local relay sink until the queue is empty; what it received."""
    sink = Sink()
    worker = delivery_worker(replace(FAST, data_dir=runtime.data_dir, relay=sink.url), runtime.engine)
    try:
        await worker.start()
        await eventually(lambda: sink.received, within=20)
        assert await worker.run_once() == 0  # nothing left to claim
    finally:
        await worker.stop()
        sink.stop()
    return list(sink.received)


async def test_app_only_submission_within_the_access_policy(
    api: httpx.AsyncClient, runtime: Runtime, submission: Submission
) -> None:
    access = await app_token(api)
    data = message(ALICE, f"{BOB}, partner@example.com", "App-only over SMTP")

    def go() -> tuple[dict[str, Any], tuple[int, bytes]]:
        with submission.signed_in(ALICE, access) as client:
            refused = client.sendmail(ALICE, [BOB, "partner@example.com"], data)
        with submission.secure() as client:  # bob's mailbox is outside the app's access policy
            try:
                client.auth(
                    "XOAUTH2", lambda challenge=None: xoauth2(BOB, access) if challenge is None else ""
                )
            except smtplib.SMTPAuthenticationError as exc:
                return refused, (exc.smtp_code, exc.smtp_error)
        raise AssertionError("AUTH for a mailbox outside the policy succeeded")

    refused, failure = await in_thread(go)
    assert refused == {}
    assert failure == (535, b"5.7.3 Authentication unsuccessful")
    assert await subjects(api, ALICE, "sentitems") == ["App-only over SMTP"]
    assert await subjects(api, BOB, "inbox") == ["App-only over SMTP"]
    [relayed] = await relayed_once(runtime)
    assert relayed.rcpt_tos == ["partner@example.com"]
    assert relayed.message["Subject"] == "App-only over SMTP"


def _tampered(jwt: str) -> str:
    header, payload, signature = jwt.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["upn"] = "mallory@fabrikam.test"
    forged = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


async def _bad_tokens(api: httpx.AsyncClient, runtime: Runtime) -> dict[str, str]:
    """Tokens that must not authenticate, each from a real issuer of ours."""
    good = await user_token(api, "alice")
    id_token = (
        await token(
            api,
            grant_type="password",
            client_id="smtp-client",
            username=ALICE,
            password="alice-Passw0rd",
            scope=f"{SMTP_SEND} openid",
        )
    )["id_token"]
    tokens = runtime.app.services.tokens
    tenant = runtime.tenant
    app = await runtime.engine.read(lambda tx: tx.directory.get_app("smtp-client"))
    alice = await runtime.engine.read(lambda tx: tx.directory.find_user(tenant.id, ALICE))
    assert app is not None and alice is not None
    past = TokenService(tokens.keyring, clock=lambda: time.time() - 3 * 3600)
    expired = past.issue_user_token(tenant, app, alice, ["SMTP.Send"], resource="https://outlook.office.com")
    # Another tenant hosted here, with its own app and user: its tokens verify, but not for alice.
    other = DirectoryService(runtime.engine, Secrets(lambda s: "h:" + s, lambda s, h: h == "h:" + s))
    tenant_b = await other.apply(
        TenantSpec(
            ("contoso.test",),
            id="bbbbbbbb-0000-0000-0000-000000000002",
            users=(UserSpec("alice@contoso.test", "Alice of Contoso"),),
            apps=(AppSpec("b-app", "B", "b", application_permissions=("SMTP.SendAsApp",)),),
        )
    )
    await tokens.keyring.ensure(tenant_b.id)
    app_b = await runtime.engine.read(lambda tx: tx.directory.get_app("b-app"))
    assert app_b is not None
    return {
        "id token (audience is the client)": str(id_token),
        # Signed by the tenant's key, SMTP.Send, alice's: only the audience is another resource's.
        "wrong audience": tokens.issue_user_token(
            tenant, app, alice, ["SMTP.Send"], resource="https://management.azure.com"
        ),
        "Graph token without SMTP.Send": await user_token(
            api, "alice", "https://graph.microsoft.com/Mail.Send", "graph-only"
        ),
        "expired": expired,
        "other tenant's app": tokens.issue_app_token(tenant_b, app_b, resource="https://outlook.office.com"),
        "tampered": _tampered(good),
        "not a JWT": "not-a-token",
    }


async def test_refused_tokens_answer_535_after_the_error_challenge_and_store_nothing(
    api: httpx.AsyncClient, runtime: Runtime, submission: Submission
) -> None:
    bad = await _bad_tokens(api, runtime)
    wrong = claims_of(bad["wrong audience"])  # the same token for Exchange Online authenticates
    assert (wrong["aud"], wrong["scp"], wrong["upn"]) == ("https://management.azure.com", "SMTP.Send", ALICE)

    def attempt(access: str) -> tuple[list[dict[str, Any]], tuple[int, bytes], tuple[int, bytes]]:
        challenges: list[dict[str, Any]] = []

        def respond(challenge: bytes | None = None) -> str:
            if challenge is None:
                return xoauth2(ALICE, access)
            challenges.append(orjson.loads(challenge))
            return ""  # the client's empty answer to the error challenge

        with submission.secure() as client:
            try:
                client.auth("XOAUTH2", respond)
                raise AssertionError("a bad token authenticated")
            except smtplib.SMTPAuthenticationError as exc:
                failure = (exc.smtp_code, exc.smtp_error)
            mail = client.mail(ALICE)  # nothing can be sent without AUTH
        return challenges, failure, mail

    for name, access in bad.items():
        challenges, failure, mail = await in_thread(lambda a=access: attempt(a))  # type: ignore[misc]
        assert challenges == [
            {"status": "401", "schemes": "bearer", "scope": "https://outlook.office.com/SMTP.Send"}
        ], name
        assert failure == (535, b"5.7.3 Authentication unsuccessful"), name
        assert mail == (530, b"5.7.57 Client not authenticated to send mail"), name
    assert await subjects(api, ALICE, "sentitems") == []
    assert await subjects(api, BOB, "inbox") == []
    assert await runtime.engine.read(lambda tx: tx.outbox.list_entries(None, 10)) == []


async def test_mail_from_needs_send_as(api: httpx.AsyncClient, submission: Submission) -> None:
    access = await user_token(api, "alice")

    def go() -> list[tuple[int, bytes]]:
        with submission.signed_in(ALICE, access) as client:
            denied = client.mail(BOB)  # another user, no rights
            client.rset()
            null = client.mail("")  # a submission has a sender
            client.rset()
            shared = client.mail("shared@fabrikam.test")  # alice holds SendAs on it
            client.rcpt(BOB)
            code, reply = client.data(message("shared@fabrikam.test", BOB, "As the shared mailbox"))
            client.mail(ALICE)
            client.rcpt(BOB)
            header = client.data(message(EVE, BOB, "From header of another user"))  # checked at DATA
            return [denied, null, shared, (code, reply[:9]), header]

    denied, null, shared, stored, header = await in_thread(go)
    assert denied == (550, b"5.7.60 SMTP; Client does not have permissions to send as this sender")
    assert null[0] == 550 and shared == (250, b"2.1.0 Sender OK")
    assert stored == (250, b"2.0.0 OK ")
    assert header == (550, b"5.7.60 SMTP; Client does not have permissions to send as this sender")
    [item] = await folder_items(api, await graph_headers(api), f"/v1.0/users/{BOB}", "inbox")
    assert item["from"]["emailAddress"]["address"] == "shared@fabrikam.test"
    assert await subjects(api, ALICE, "sentitems") == ["As the shared mailbox"]


async def test_auth_before_starttls_is_refused_and_not_offered(submission: Submission) -> None:
    def go() -> tuple[dict[str, str], tuple[int, bytes], tuple[int, bytes], dict[str, str]]:
        with submission.connect() as client:
            before = dict(client.esmtp_features)
            client.putcmd("AUTH", "XOAUTH2 " + base64.b64encode(xoauth2(ALICE, "x").encode()).decode())
            auth = client.getreply()
            mail = client.mail(ALICE)
            client.starttls(context=submission.tls)
            client.ehlo()
            return before, auth, mail, dict(client.esmtp_features)

    before, auth, mail, after = await in_thread(go)
    assert "auth" not in before and "starttls" in before
    assert auth[0] == 538 and auth[1].startswith(b"5.7.11")
    assert mail[0] == 530
    assert set(after["auth"].split()) == {"XOAUTH2", "PLAIN", "LOGIN"}


@pytest.mark.parametrize("port", ["submissions"])
async def test_implicit_tls_port_takes_xoauth2(
    api: httpx.AsyncClient, submission: Submission, port: str
) -> None:
    access = await user_token(api, "alice")

    def go() -> dict[str, Any]:
        with smtplib.SMTP_SSL("127.0.0.1", submission.tls_port, context=submission.tls, timeout=30) as client:
            client.ehlo("client.test")
            client.auth("XOAUTH2", lambda challenge=None: xoauth2(ALICE, access))
            return client.sendmail(ALICE, [BOB], message(ALICE, BOB, "Over implicit TLS"))

    assert await in_thread(go) == {}
    assert await subjects(api, BOB, "inbox") == ["Over implicit TLS"]


async def test_banner_lines_name_the_submission_ports() -> None:
    from mailgraph.cli import submission_banner

    lines = submission_banner({"submission": 587, "submissions": 465}, "127.0.0.1", False)
    assert lines[0].startswith("mailgraph SMTP submission: smtp://127.0.0.1:587")
    assert "smtps://127.0.0.1:465" in lines[1]
    assert submission_banner({}, "127.0.0.1", False) == []
    assert Settings().submission_port is None  # off by default


async def test_a_failure_of_ours_at_data_is_451_and_nothing_is_stored(
    api: httpx.AsyncClient, runtime: Runtime, submission: Submission, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`250` means committed; when the unit of work fails the client gets a temporary 451 and keeps the
    message (RFC 5321 §4.2.5), the session goes on, and the next message is stored."""
    access = await user_token(api, "alice")
    uow = runtime.engine
    real_write = uow.write
    calls = {"n": 0}

    async def failing_once(unit: Any, **options: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the disk is gone")
        return await real_write(unit, **options)

    def go() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        with submission.signed_in(ALICE, access) as client:
            client.mail(ALICE)
            client.rcpt(BOB)
            failed = client.data(message(ALICE, BOB, "Lost"))
            client.mail(ALICE)
            client.rcpt(BOB)
            return failed, client.data(message(ALICE, BOB, "Kept"))

    monkeypatch.setattr(uow, "write", failing_once)
    failed, stored = await in_thread(go)
    monkeypatch.undo()
    assert calls["n"] >= 2  # the failure was the store's, at the first message's unit of work
    assert failed == (451, b"4.3.0 Local error in processing; try again later")
    assert stored[0] == 250
    assert await subjects(api, BOB, "inbox") == ["Kept"]
    assert await subjects(api, ALICE, "sentitems") == ["Kept"]
