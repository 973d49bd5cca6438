"""The authorization matrix, generated from the route table (issue 17): every mailbox route × method ×
{owner, another user (delegated), an app without the permission, an app outside its mailbox access
policy, a caller of another tenant}, all aimed at alice's mailbox with her real ids.

The expected status comes from the permission table (auth/permissions.py `allows`, `granting`) and the
mailbox rules of spec §4.3-§4.5, not from what the server answers: a permission that does not allow
the operation → 403 `ErrorAccessDenied`; a delegated caller without a `.Shared` permission and
FullAccess on the mailbox → 403; an app outside its access policy → 403; a caller of another tenant →
404 `ErrorInvalidUser` (the mailbox does not exist in its tenant, as Graph answers). No refused
answer may carry alice's data, and after all of them her mailbox is as it was. The owner goes last
(its writes are allowed): never 401 or 403.
"""

from __future__ import annotations

from typing import Any

import httpx

from mailgraph.api.router import KEY
from mailgraph.api.routes import ROUTES
from mailgraph.auth.permissions import APPLICATION_PERMISSIONS, Operation, allows, granting
from mailgraph.domain import delegation
from mailgraph.domain.delegation import PolicySpec
from mailgraph.domain.directory import AppSpec, DirectoryService, Secrets, TenantSpec, UserSpec
from mailgraph.wiring import Runtime
from tests.api.helpers import create_draft
from tests.conftest import TokenFor

ALICE = "alice@fabrikam.test"
SECRET = "alice-secret-7Qx9"  # in her draft's subject and body: must never reach another caller
MAIL_DELEGATED = ("Mail.ReadWrite", "Mail.Send", "Mail.Read")
# Every delegated permission a mailbox route can ask (settings and rules, translateExchangeIds' User.*).
DELEGATED_ALL = (*MAIL_DELEGATED, "MailboxSettings.ReadWrite", "User.Read.All")
APP_ALL = ("Mail.ReadWrite", "Mail.Send", "Mail.Read", "MailboxSettings.ReadWrite", "User.Read.All")
RECIPIENTS = [{"emailAddress": {"address": "bob@fabrikam.test"}}]
# Actions Graph does not support with application permissions (user-translateexchangeids.md).
APP_ONLY_REFUSED = {"translateexchangeids"}
# A body each action accepts, so that a refusal is about the caller, not about the body.
BODIES: dict[str, Any] = {
    "messages": {"subject": "x"},
    "sendmail": {"message": {"subject": "x", "toRecipients": RECIPIENTS}},
    "reply": {"comment": "x"},
    "replyall": {"comment": "x"},
    "forward": {"comment": "x", "toRecipients": RECIPIENTS},
    "createreply": {},
    "createreplyall": {},
    "createforward": {},
    "move": {"destinationId": "inbox"},
    "copy": {"destinationId": "inbox"},
    "attachments": {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "n.txt",
        "contentBytes": "aGk=",
    },
    "createuploadsession": {"AttachmentItem": {"attachmentType": "file", "name": "u.bin", "size": 10}},
    # issue 15
    "mailfolders": {"displayName": "matrix folder"},
    "childfolders": {"displayName": "matrix child"},
    "messagerules": {"displayName": "r", "sequence": 1, "actions": {"markAsRead": True}},
    "mailboxsettings": {"timeZone": "UTC"},
    "mastercategories": {"displayName": "matrix category"},
    "overrides": {"classifyAs": "focused", "senderEmailAddress": {"address": "x@example.test"}},
    "extensions": {"@odata.type": "microsoft.graph.openTypeExtension", "extensionName": "matrix.ext"},
    "translateexchangeids": {"inputIds": ["AAAA"], "sourceIdType": "restId", "targetIdType": "ewsId"},
}


def _cases(ids: dict[str, str]) -> list[tuple[str, str, Operation, Any]]:
    """(method, path below the mailbox, operation, body) for every mailbox route × method."""
    out = []
    for route in ROUTES:
        if route.root:  # /subscriptions (tests/webhooks isolation), /$batch (items checked one by one)
            continue
        path = []
        for i, seg in enumerate(route.pattern):
            if seg != KEY:
                path.append(seg)
            elif i and route.pattern[i - 1] == "delta":
                path[-1] += "()"
            else:
                path.append(ids.get(route.pattern[i - 1], "AAMkAGnotthere="))
        for method, (_, operation) in route.methods.items():
            body = BODIES.get(route.pattern[-1] if route.pattern[-1] != KEY else route.pattern[-2])
            out.append((method, "/".join(path), operation, body if method in ("POST", "PATCH") else None))
    return out


async def _other_tenant(runtime: Runtime) -> tuple[dict[str, str], dict[str, str]]:
    """A delegated and an app token of another tenant hosted on the same server, every Mail permission."""
    other = DirectoryService(runtime.engine, Secrets(lambda s: "h:" + s, lambda s, h: h == "h:" + s))
    perms = APP_ALL
    tenant = await other.apply(
        TenantSpec(
            ("contoso.test",),
            id="bbbbbbbb-0000-0000-0000-0000000000b2",
            users=(UserSpec("mallory@contoso.test", "Mallory"),),
            apps=(AppSpec("b-app", "B", "b", application_permissions=perms, delegated_permissions=perms),),
        )
    )
    tokens = runtime.app.services.tokens
    await tokens.keyring.ensure(tenant.id)
    app = await runtime.engine.read(lambda tx: tx.directory.get_app("b-app"))
    mallory = await runtime.engine.read(lambda tx: tx.directory.find_user(tenant.id, "mallory@contoso.test"))
    assert app is not None and mallory is not None
    user_token = tokens.issue_user_token(tenant, app, mallory, list(perms))
    return {"Authorization": f"Bearer {user_token}"}, {
        "Authorization": f"Bearer {tokens.issue_app_token(tenant, app)}"
    }


async def _send(
    api: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], body: Any
) -> httpx.Response:
    return await api.request(method, f"/v1.0/users/{ALICE}/{path}", headers=headers, json=body)


def _no_leak(r: httpx.Response, alice_id: str, label: str) -> None:
    assert SECRET not in r.text, label
    assert alice_id not in r.text, label
    if r.status_code >= 400:
        assert set(r.json()) == {"error"}, label


async def test_every_route_against_every_kind_of_caller(
    api: httpx.AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    owner = token_for("alice", *DELEGATED_ALL)
    draft = await create_draft(
        api,
        owner,
        root=f"/v1.0/users/{ALICE}",
        subject=SECRET,
        body={"contentType": "text", "content": SECRET},
    )
    attachment = (
        await _send(api, "POST", f"messages/{draft['id']}/attachments", owner, BODIES["attachments"])
    ).json()
    alice_id = (await api.get("/v1.0/me/mailFolders/inbox", headers=owner)).json()["id"]
    ids = {
        "messages": draft["id"],
        "attachments": attachment["id"],
        "mailfolders": "drafts",
        "mailboxsettings": "timeZone",
        "extensions": "matrix.ext",
    }
    cases = _cases(ids)
    mallory, b_app = await _other_tenant(runtime)
    counted = 0

    # Another user of the tenant, delegated, every non-.Shared Mail permission: no FullAccess, no .Shared.
    bob = token_for("bob", *DELEGATED_ALL)
    for method, path, op, body in cases:
        assert not allows("user", frozenset(DELEGATED_ALL), op, other_mailbox=True)
        r = await _send(api, method, path, bob, body)
        assert r.status_code == 403, ("bob", method, path, r.status_code, r.text[:200])
        assert r.json()["error"]["code"] == "ErrorAccessDenied"
        _no_leak(r, alice_id, f"bob {method} {path}")
        counted += 1

    # An app whose roles do not allow the operation: every application Mail permission but those that would.
    for method, path, op, body in cases:
        roles = sorted(
            p for p in APPLICATION_PERMISSIONS if p.startswith("Mail.") and p not in granting("app", op)
        )
        assert not allows("app", frozenset(roles), op)
        r = await _send(api, method, path, token_for(app=roles), body)
        assert r.status_code == 403, ("app without permission", method, path, r.status_code, r.text[:200])
        _no_leak(r, alice_id, f"app-without {method} {path}")
        counted += 1

    # Other tenant: its delegated user and its app, with every Mail permission → alice does not exist there.
    for who, headers in (("mallory", mallory), ("b-app", b_app)):
        for method, path, _op, body in cases:
            r = await _send(api, method, path, headers, body)
            if who == "b-app" and path in APP_ONLY_REFUSED:  # refused for any app, before any mailbox
                assert r.status_code == 403, (who, method, path, r.status_code, r.text[:200])
                _no_leak(r, alice_id, f"{who} {method} {path}")
                counted += 1
                continue
            assert r.status_code == 404, (who, method, path, r.status_code, r.text[:200])
            assert r.json()["error"]["code"] == "ErrorInvalidUser", (who, path)
            _no_leak(r, alice_id, f"{who} {method} {path}")
            counted += 1

    # The app restricted by an application access policy to bob's mailbox (spec §4.5).
    policy = [PolicySpec("full-app", "RestrictAccess", ("bob@fabrikam.test",))]
    await runtime.engine.write(lambda tx: delegation.apply(tx, runtime.tenant.id, [], policy, ["full-app"]))
    everything = token_for(app=list(APP_ALL))
    assert (await api.get("/v1.0/users/bob@fabrikam.test/messages", headers=everything)).status_code == 200
    for method, path, _op, body in cases:
        r = await _send(api, method, path, everything, body)
        assert r.status_code == 403, ("outside policy", method, path, r.status_code, r.text[:200])
        _no_leak(r, alice_id, f"outside-policy {method} {path}")
        counted += 1

    # Nothing of hers changed: the draft, its attachment, no sent mail.
    after = (await _send(api, "GET", f"messages/{draft['id']}?$expand=attachments", owner, None)).json()
    assert after["subject"] == SECRET and after["isDraft"] is True
    assert [a["id"] for a in after["attachments"]] == [attachment["id"]]
    sent = (await _send(api, "GET", "mailFolders/sentitems/messages", owner, None)).json()["value"]
    assert sent == []

    # The owner, last (her writes are allowed): never refused for who she is.
    for method, path, _op, body in cases:
        r = await _send(api, method, path, owner, body)
        assert r.status_code not in (401, 403), ("owner", method, path, r.status_code, r.text[:200])
        assert r.status_code < 500
        counted += 1
    assert counted == 6 * len(cases) and len(cases) >= 50  # six callers × every route and method
