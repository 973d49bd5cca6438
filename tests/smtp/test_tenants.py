"""Two tenants on one server: no lookup, token or delivery crosses from one to the other (issue 10).

Tenant A is the test tenant (fabrikam.test); tenant B (contoso.test) is written through the store and
has a user with A's local part, alice@contoso.test.
"""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from joserfc import jws

from mailgraph.auth.keyring import KeyRing
from mailgraph.auth.tokens import TokenError, TokenService
from mailgraph.domain.directory import AppSpec, DirectoryService, Secrets, TenantSpec, UserSpec
from mailgraph.domain.model import App, Tenant, User
from mailgraph.wiring import Runtime
from tests.api.helpers import folder_items
from tests.conftest import Directory
from tests.smtp.conftest import SmtpTarget, in_thread
from tests.smtp.test_delivery import mime, send

B_ID = "bbbbbbbb-0000-0000-0000-000000000002"
ALL = ["Mail.ReadWrite", "Mail.Send", "Mail.Read"]


async def add_tenant_b(runtime: Runtime) -> tuple[Tenant, User, App]:
    directory = DirectoryService(runtime.engine, Secrets(lambda s: "h:" + s, lambda s, h: h == "h:" + s))
    spec = TenantSpec(
        ("contoso.test",),
        id=B_ID,
        display_name="Contoso",
        users=(UserSpec("alice@contoso.test", "Alice of Contoso"),),
        apps=(AppSpec("b-app", "B app", "b-secret", application_permissions=tuple(ALL)),),
    )
    tenant = await directory.apply(spec)
    user = await runtime.engine.read(lambda tx: tx.directory.find_user(B_ID, "alice@contoso.test"))
    app = await runtime.engine.read(lambda tx: tx.directory.get_app("b-app"))
    assert user is not None and app is not None
    return tenant, user, app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_second_tenant_is_isolated(
    runtime: Runtime, directory: Directory, api: AsyncClient, smtp: SmtpTarget
) -> None:
    tokens = runtime.app.services.tokens
    tenant_b, alice_b, app_b = await add_tenant_b(runtime)
    # put_tenant for B left A alone: its tenant row, users and apps are unchanged.
    assert (
        await runtime.engine.read(lambda tx: tx.directory.get_tenant(directory.tenant.id)) == directory.tenant
    )
    a_users = await runtime.engine.read(lambda tx: tx.directory.list_users(directory.tenant.id))
    assert {u.id for u in a_users} == {u.id for u in directory.users.values()}

    full_a = directory.apps["full-app"]
    a_app = App(full_a.client_id, full_a.tenant_id, full_a.object_id, "A", None, False, tuple(ALL), ())
    token_a = bearer(tokens.issue_app_token(directory.tenant, a_app))
    await tokens.keyring.ensure(B_ID)
    token_b = bearer(tokens.issue_app_token(tenant_b, app_b))

    # A's token: B's alice (by address and by id) is Graph's unknown user, exactly like a made-up one.
    unknown = await api.get("/v1.0/users/nobody@contoso.test/messages", headers=token_a)
    assert unknown.status_code == 404
    for key in ("alice@contoso.test", "ALICE@Contoso.Test", alice_b.id):
        r = await api.get(f"/v1.0/users/{key}/messages", headers=token_a)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == unknown.json()["error"]["code"]
    assert (await api.get("/v1.0/users/alice@fabrikam.test/messages", headers=token_a)).status_code == 200

    # B's token cannot reach A's mailboxes, by address or id; it reaches its own.
    alice_a = directory.users["alice"]
    for key in ("alice@fabrikam.test", alice_a.id):
        assert (await api.get(f"/v1.0/users/{key}/messages", headers=token_b)).status_code == 404
    assert (await api.get("/v1.0/users/alice@contoso.test/messages", headers=token_b)).status_code == 200

    # Keys: B's tokens carry B's kid, published only in B's JWKS; B's key never vouches for A's tid.
    kid_b = jws.extract_compact(token_b["Authorization"][7:].encode()).headers()["kid"]
    jwks_b = (await api.get(f"/{B_ID}/discovery/v2.0/keys")).json()
    jwks_a = (await api.get(f"/{directory.tenant.id}/discovery/v2.0/keys")).json()
    assert kid_b in {k["kid"] for k in jwks_b["keys"]}
    assert kid_b not in {k["kid"] for k in jwks_a["keys"]}
    assert tokens.keyring.current(B_ID).kid != tokens.keyring.current(directory.tenant.id).kid
    payload = jws.extract_compact(token_a["Authorization"][7:].encode()).payload
    key_b = tokens.keyring.current(B_ID)
    forged = jws.serialize_compact({"alg": "RS256", "kid": key_b.kid}, payload, key_b.jwk)
    with pytest.raises(TokenError):
        tokens.verify(forged)  # A's claims signed with B's key

    # Inbound SMTP: the recipient's domain picks the tenant; B's alice gets it, A's alice does not.
    refused: Any = await in_thread(lambda: send(smtp, ["alice@contoso.test"], mime(subject="to B")))
    assert refused == {}
    b_inbox = await folder_items(api, token_b, "/v1.0/users/alice@contoso.test", "inbox")
    assert [m["subject"] for m in b_inbox] == ["to B"]
    a_inbox = await folder_items(api, token_a, "/v1.0/users/alice@fabrikam.test", "inbox")
    assert "to B" not in [m["subject"] for m in a_inbox]


async def test_rotation_by_another_process_is_picked_up(runtime: Runtime, directory: Directory) -> None:
    tokens = runtime.app.services.tokens
    other = KeyRing(runtime.engine)  # another process on the same database
    await other.refresh()
    new = await other.rotate(directory.tenant.id)
    assert tokens.keyring.current(directory.tenant.id).kid != new.kid
    token = TokenService(other).issue_app_token(directory.tenant, directory.apps["full-app"])
    with pytest.raises(TokenError):
        tokens.verify(token)  # unknown kid until the ring reloads ...
    assert (await tokens.authenticate(token)).app_id == "full-app"  # ... which an unknown kid triggers


async def test_send_to_another_hosted_tenant_is_delivered_there(
    runtime: Runtime, directory: Directory, api: AsyncClient
) -> None:
    tenant_b, _, app_b = await add_tenant_b(runtime)
    tokens = runtime.app.services.tokens
    await tokens.keyring.ensure(B_ID)
    alice_a = directory.users["alice"]
    token_a = bearer(tokens.issue_user_token(directory.tenant, directory.apps["full-app"], alice_a, ALL))
    body = {
        "message": {
            "subject": "across tenants",
            "toRecipients": [
                {"emailAddress": {"address": "alice@contoso.test"}},
                {"emailAddress": {"address": "ghost@contoso.test"}},
            ],
        }
    }
    assert (await api.post("/v1.0/me/sendMail", json=body, headers=token_a)).status_code == 202
    token_b = bearer(tokens.issue_app_token(tenant_b, app_b))
    b_inbox = await folder_items(api, token_b, "/v1.0/users/alice@contoso.test", "inbox")
    assert [m["subject"] for m in b_inbox] == ["across tenants"]
    a_inbox = await folder_items(api, token_a, "/v1.0/me", "inbox")
    assert [m["subject"] for m in a_inbox if m["subject"].startswith("Undeliverable")] == [
        "Undeliverable: across tenants"
    ]
