"""Anonymous mail claiming a hosted domain (issue 17, defect 5), over a real SMTP socket.

Junk Email with the failing composite-auth marks by default, the Inbox or a 550 5.7.1 per tenant
(tenant file `spoofedInternalMail`, control API `PATCH /_mailgraph/tenants/{t}`); mail from other
domains and authenticated submission are left alone; forged organization headers are dropped.
"""

from __future__ import annotations

import smtplib
from typing import Any

import pytest
from httpx import AsyncClient

from mailgraph.wiring import Runtime
from tests.api.helpers import folder_items
from tests.conftest import TokenFor
from tests.smtp.conftest import SmtpTarget, in_thread
from tests.smtp.test_delivery import headers_of
from tests.workbench.helpers import admin

TENANT = "11111111-2222-3333-4444-555555555555"  # tests/tenant.toml
ALICE_PASSWORD = "alice-Passw0rd"


def mime(sender: str, subject: str, extra: str = "") -> bytes:
    text = (
        f"From: {sender}\r\nTo: Bob <bob@fabrikam.test>\r\nSubject: {subject}\r\n"
        f"Message-ID: <{abs(hash(subject))}@spoof.test>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
        f"MIME-Version: 1.0\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\r\nHi Bob\r\n"
    )
    return text.encode()


def anonymous(smtp: SmtpTarget, envelope_from: str, data: bytes) -> Any:
    with smtp.connect() as client:
        return client.sendmail(envelope_from, ["bob@fabrikam.test"], data)


async def _set_policy(api: AsyncClient, runtime: Runtime, rule: str) -> dict[str, Any]:
    r = await api.patch(
        f"/_mailgraph/tenants/{TENANT}", json={"spoofedInternalMail": rule}, headers=admin(runtime)
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _names(headers: list[dict[str, str]]) -> dict[str, str]:
    return {h["name"].casefold(): h["value"] for h in headers}


async def test_spoofed_internal_sender_goes_to_junk_marked(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    forged = "X-MS-Exchange-Organization-AuthAs: Internal\r\n"
    assert (
        await in_thread(
            lambda: anonymous(
                smtp, "alice@fabrikam.test", mime("Alice <alice@fabrikam.test>", "Pay this", forged)
            )
        )
        == {}
    )
    bob = token_for("bob", "Mail.Read")
    assert await folder_items(api, bob, "/v1.0/me", "inbox") == []
    [item] = await folder_items(api, bob, "/v1.0/me", "junkemail")
    assert item["subject"] == "Pay this"
    headers = await headers_of(api, bob, item)
    assert headers[0]["name"] == "Received"
    found = _names(headers)
    assert found["x-ms-exchange-organization-authas"] == "Anonymous"  # the forged "Internal" is gone
    assert [h["value"] for h in headers if h["name"].casefold() == "x-ms-exchange-organization-authas"] == [
        "Anonymous"
    ]
    results = found["authentication-results"]
    assert "compauth=fail reason=601" in results and "header.from=fabrikam.test" in results
    assert "smtp.mailfrom=fabrikam.test" in results and "sender IP is 127.0.0.1" in results


async def test_header_from_alone_counts_and_envelope_alone_counts(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    await in_thread(
        lambda: anonymous(smtp, "bounce@example.org", mime("alice@fabrikam-mail.test", "Header only"))
    )
    await in_thread(
        lambda: anonymous(smtp, "alice@fabrikam.test", mime("Sam <sam@example.org>", "Envelope only"))
    )
    bob = token_for("bob", "Mail.Read")
    junk = {m["subject"] for m in await folder_items(api, bob, "/v1.0/me", "junkemail")}
    assert junk == {"Header only", "Envelope only"}


async def test_other_domains_and_null_sender_stay_in_the_inbox_unmarked(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    await in_thread(lambda: anonymous(smtp, "sam@example.org", mime("Sam <sam@example.org>", "From outside")))
    await in_thread(lambda: anonymous(smtp, "", mime("MAILER-DAEMON@example.org", "A bounce")))
    bob = token_for("bob", "Mail.Read")
    inbox = await folder_items(api, bob, "/v1.0/me", "inbox")
    assert {m["subject"] for m in inbox} == {"From outside", "A bounce"}
    for item in inbox:
        found = _names(await headers_of(api, bob, item))
        assert "x-ms-exchange-organization-authas" not in found and "authentication-results" not in found
    assert await folder_items(api, bob, "/v1.0/me", "junkemail") == []


async def test_authenticated_submission_is_not_marked(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    data = mime("Alice <alice@fabrikam.test>", "Really Alice")

    def go() -> object:
        with smtp.secure() as client:
            client.login("alice@fabrikam.test", ALICE_PASSWORD)
            return client.sendmail("alice@fabrikam.test", ["bob@fabrikam.test"], data)

    assert await in_thread(go) == {}
    bob = token_for("bob", "Mail.Read")
    [item] = await folder_items(api, bob, "/v1.0/me", "inbox")
    assert "authentication-results" not in _names(await headers_of(api, bob, item))
    assert await folder_items(api, bob, "/v1.0/me", "junkemail") == []


async def test_policy_inbox_files_it_in_the_inbox_still_marked(
    smtp: SmtpTarget, api: AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    assert (await _set_policy(api, runtime, "inbox"))["spoofedInternalMail"] == "inbox"
    shown = await api.get(f"/_mailgraph/tenants/{TENANT}", headers=admin(runtime))
    assert shown.json()["spoofedInternalMail"] == "inbox"
    await in_thread(lambda: anonymous(smtp, "alice@fabrikam.test", mime("alice@fabrikam.test", "Injected")))
    bob = token_for("bob", "Mail.Read")
    [item] = await folder_items(api, bob, "/v1.0/me", "inbox")
    assert _names(await headers_of(api, bob, item))["x-ms-exchange-organization-authas"] == "Anonymous"


async def test_policy_reject_answers_550_5_7_1_and_stores_nothing(
    smtp: SmtpTarget, api: AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    await _set_policy(api, runtime, "reject")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await in_thread(
            lambda: anonymous(smtp, "alice@fabrikam.test", mime("alice@fabrikam.test", "Refused"))
        )
    assert refused.value.smtp_code == 550
    text = refused.value.smtp_error.decode()
    assert text.startswith("5.7.1 ") and "anonymous mail may not use this organization's domain" in text
    bob = token_for("bob", "Mail.Read")
    assert await folder_items(api, bob, "/v1.0/me", "inbox") == []
    assert await folder_items(api, bob, "/v1.0/me", "junkemail") == []
    # Mail from elsewhere still arrives.
    await in_thread(lambda: anonymous(smtp, "sam@example.org", mime("sam@example.org", "Still fine")))
    assert len(await folder_items(api, bob, "/v1.0/me", "inbox")) == 1


async def test_control_api_refuses_an_unknown_policy(api: AsyncClient, runtime: Runtime) -> None:
    r = await api.patch(
        f"/_mailgraph/tenants/{TENANT}", json={"spoofedInternalMail": "maybe"}, headers=admin(runtime)
    )
    assert r.status_code == 400 and "spoofedInternalMail" in r.json()["error"]["message"]
    r = await api.patch(f"/_mailgraph/tenants/{TENANT}", json={"displayName": "x"}, headers=admin(runtime))
    assert r.status_code == 400
    r = await api.patch(
        "/_mailgraph/tenants/nope", json={"spoofedInternalMail": "inbox"}, headers=admin(runtime)
    )
    assert r.status_code == 404


def test_tenant_file_sets_and_checks_the_policy() -> None:
    from mailgraph.config import TenantFileError, parse_tenant

    base = {"tenant": {"domains": ["x.test"]}}
    assert parse_tenant(base, "t.toml").spoofed_mail == "junk"
    assert (
        parse_tenant(
            {"tenant": {"domains": ["x.test"], "spoofedInternalMail": "inbox"}}, "t.toml"
        ).spoofed_mail
        == "inbox"
    )
    with pytest.raises(TenantFileError, match="spoofedInternalMail"):
        parse_tenant({"tenant": {"domains": ["x.test"], "spoofedInternalMail": True}}, "t.toml")


async def test_junk_filed_spoof_gets_no_rules_and_no_automatic_reply(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    """Bob's rule (mark read, category) and automatic reply hold for his Inbox mail only: the spoof stays
    unread in Junk Email, and nothing answers the forged sender (docs/rules-and-auto-replies.md)."""
    bob = token_for("bob", "Mail.ReadWrite", "MailboxSettings.ReadWrite")
    rule = {"displayName": "all", "sequence": 1, "actions": {"markAsRead": True, "assignCategories": ["R"]}}
    r = await api.post("/v1.0/me/mailFolders/inbox/messageRules", json=rule, headers=bob)
    assert r.status_code == 201, r.text
    away = {"automaticRepliesSetting": {"status": "alwaysEnabled", "internalReplyMessage": "away"}}
    assert (await api.patch("/v1.0/me/mailboxSettings", json=away, headers=bob)).status_code == 200
    spoof = mime("Alice <alice@fabrikam.test>", "Spoofed")
    assert await in_thread(lambda: anonymous(smtp, "alice@fabrikam.test", spoof)) == {}
    [item] = await folder_items(api, bob, "/v1.0/me", "junkemail")
    assert item["subject"] == "Spoofed" and item["isRead"] is False and item["categories"] == []
    alice = token_for("alice", "Mail.Read")
    assert await folder_items(api, alice, "/v1.0/me", "inbox") == []  # no automatic reply to "alice"
    # the same rule and reply do apply to genuine mail from another domain
    genuine = mime("Dora <dora@example.org>", "Genuine")
    assert await in_thread(lambda: anonymous(smtp, "dora@example.org", genuine)) == {}
    [kept] = [m for m in await folder_items(api, bob, "/v1.0/me", "inbox") if m["subject"] == "Genuine"]
    assert kept["isRead"] is True and kept["categories"] == ["R"]
