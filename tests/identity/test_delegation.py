"""Mailbox delegation (FullAccess + .Shared scopes), send-as / send-on-behalf (spec §4.4) and application
access policies (spec §4.5), through the real app on the real store."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from mailgraph.domain import delegation
from mailgraph.domain.delegation import PermissionSpec, PolicySpec
from mailgraph.domain.errors import BadRequestError
from mailgraph.wiring import Runtime
from tests.api.helpers import assert_graph_error, draft_body, folder_items
from tests.conftest import TokenFor

BOB = "/v1.0/users/bob@fabrikam.test"
ALICE = "/v1.0/users/alice@fabrikam.test"


async def _grant(runtime: Runtime, *rights: str, policies: tuple[PolicySpec, ...] = ()) -> None:
    perms = [PermissionSpec("bob@fabrikam.test", "alice@fabrikam.test", rights)] if rights else []
    await runtime.engine.write(
        lambda tx: delegation.apply(tx, runtime.tenant.id, perms, policies, ["full-app"])
    )


def _send_mail(from_: str | None = None) -> dict[str, Any]:
    message = draft_body(to=["carol@fabrikam.test"], subject="delegated")
    if from_:
        message["from"] = {"emailAddress": {"address": from_}}
    return {"message": message, "saveToSentItems": True}


async def test_other_mailbox_needs_full_access_and_shared_scope(
    api: AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    shared = token_for("alice", "Mail.Read.Shared")
    assert_graph_error(await api.get(f"{BOB}/messages", headers=shared), 403, "ErrorAccessDenied")
    await _grant(runtime, "FullAccess")
    assert (await api.get(f"{BOB}/messages", headers=shared)).status_code == 200
    assert (await api.get(f"{BOB}/mailFolders/inbox", headers=shared)).status_code == 200
    # Mail.Read covers only the caller's own mailbox, even with FullAccess.
    own_only = token_for("alice", "Mail.Read", "Mail.ReadWrite")
    assert_graph_error(await api.get(f"{BOB}/messages", headers=own_only), 403, "ErrorAccessDenied")
    # Read.Shared does not write; ReadWrite.Shared does.
    r = await api.post(
        f"{BOB}/messages", json=draft_body(), headers=token_for("alice", "Mail.Read.Shared", "Mail.ReadWrite")
    )
    assert_graph_error(r, 403, "ErrorAccessDenied")
    r = await api.post(
        f"{BOB}/messages", json=draft_body(), headers=token_for("alice", "Mail.ReadWrite.Shared")
    )
    assert r.status_code == 201, r.text
    # The grant is one-way: Bob has no rights on Alice's mailbox.
    r = await api.get(f"{ALICE}/messages", headers=token_for("bob", "Mail.Read.Shared"))
    assert_graph_error(r, 403, "ErrorAccessDenied")


async def test_send_as(api: AsyncClient, runtime: Runtime, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.Send", "Mail.Send.Shared", "Mail.Read")
    r = await api.post("/v1.0/me/sendMail", json=_send_mail("bob@fabrikam.test"), headers=alice)
    assert_graph_error(r, 403, "ErrorSendAsDenied")
    await _grant(runtime, "SendAs")
    # Without Mail.Send.Shared the right alone is not enough for a delegated caller.
    r = await api.post(
        "/v1.0/me/sendMail", json=_send_mail("bob@fabrikam.test"), headers=token_for("alice", "Mail.Send")
    )
    assert_graph_error(r, 403, "ErrorSendAsDenied")
    r = await api.post("/v1.0/me/sendMail", json=_send_mail("bob@fabrikam.test"), headers=alice)
    assert r.status_code == 202, r.text
    inbox = await folder_items(api, token_for(app=["Mail.Read"]), "/v1.0/users/carol@fabrikam.test", "inbox")
    assert inbox[0]["from"]["emailAddress"]["address"] == "bob@fabrikam.test"
    assert inbox[0]["sender"]["emailAddress"]["address"] == "bob@fabrikam.test"  # no trace of Alice
    sent = await folder_items(api, alice, "/v1.0/me", "sentitems")  # /me: the caller's Sent Items
    assert [m["subject"] for m in sent] == ["delegated"]


async def test_send_on_behalf_from_the_delegates_mailbox_and_from_the_owners(
    api: AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    await _grant(runtime, "SendOnBehalf", "FullAccess")
    alice = token_for("alice", "Mail.Send", "Mail.Send.Shared", "Mail.Read.Shared")
    r = await api.post("/v1.0/me/sendMail", json=_send_mail("bob@fabrikam.test"), headers=alice)
    assert r.status_code == 202, r.text
    app = token_for(app=["Mail.Read"])
    inbox = await folder_items(api, app, "/v1.0/users/carol@fabrikam.test", "inbox")
    assert inbox[0]["from"]["emailAddress"]["address"] == "bob@fabrikam.test"
    assert inbox[0]["sender"]["emailAddress"]["address"] == "alice@fabrikam.test"  # "Alice on behalf of Bob"
    # Through /users/bob: Bob's Sent Items get the copy (it needs FullAccess, spec §4.4).
    r = await api.post(f"{BOB}/sendMail", json=_send_mail(), headers=alice)
    assert r.status_code == 202, r.text
    sent = await folder_items(api, app, BOB, "sentitems")
    assert [m["subject"] for m in sent] == ["delegated"]
    assert sent[0]["sender"]["emailAddress"]["address"] == "alice@fabrikam.test"


async def test_full_access_alone_does_not_send_as(
    api: AsyncClient, runtime: Runtime, token_for: TokenFor
) -> None:
    await _grant(runtime, "FullAccess")
    r = await api.post(f"{BOB}/sendMail", json=_send_mail(), headers=token_for("alice", "Mail.Send.Shared"))
    assert_graph_error(r, 403, "ErrorSendAsDenied")
    # An unknown or foreign `from` is refused too.
    r = await api.post(
        "/v1.0/me/sendMail", json=_send_mail("nobody@else.example"), headers=token_for("alice", "Mail.Send")
    )
    assert_graph_error(r, 403, "ErrorSendAsDenied")


async def test_application_access_policies(api: AsyncClient, runtime: Runtime, token_for: TokenFor) -> None:
    app = token_for(app=["Mail.Read", "Mail.Send"])
    await _grant(runtime, policies=(PolicySpec("full-app", "RestrictAccess", ("alice@fabrikam.test",)),))
    assert (await api.get(f"{ALICE}/messages", headers=app)).status_code == 200
    error = assert_graph_error(await api.get(f"{BOB}/messages", headers=app), 403, "ErrorAccessDenied")
    assert error["message"] == "Access to OData is disabled."
    r = await api.post(f"{BOB}/sendMail", json=_send_mail(), headers=app)
    assert_graph_error(r, 403, "ErrorAccessDenied")
    await _grant(runtime, policies=(PolicySpec("full-app", "DenyAccess", ("alice@fabrikam.test",)),))
    assert_graph_error(await api.get(f"{ALICE}/messages", headers=app), 403, "ErrorAccessDenied")
    assert (await api.get(f"{BOB}/messages", headers=app)).status_code == 200
    await _grant(runtime)  # declared without a policy: reaches every mailbox again
    assert (await api.get(f"{ALICE}/messages", headers=app)).status_code == 200


@pytest.mark.parametrize(
    ("perms", "policies", "needle"),
    [
        (
            [PermissionSpec("bob@fabrikam.test", "alice@fabrikam.test", ("Owner",))],
            [],
            "unknown mailbox right",
        ),
        ([PermissionSpec("nobody@fabrikam.test", "alice@fabrikam.test", ("SendAs",))], [], "no user"),
        ([], [PolicySpec("nope", "DenyAccess", ("alice@fabrikam.test",))], "unknown app"),
        ([], [PolicySpec("full-app", "Allow", ("alice@fabrikam.test",))], "unknown access right"),
    ],
)
async def test_bad_declarations(
    runtime: Runtime, perms: list[PermissionSpec], policies: list[PolicySpec], needle: str
) -> None:
    with pytest.raises(BadRequestError, match=needle):
        await runtime.engine.write(lambda tx: delegation.apply(tx, runtime.tenant.id, perms, policies, []))
    assert (
        await runtime.engine.read(lambda tx: tx.delegation.list_permissions()) == []
    )  # nothing half-written
