"""The token-forgery matrix × {a Graph route, the control API, SMTP XOAUTH2 on submission} (issue 17).

Every forgery of tests/attack/forgery.py (and the refresh and id tokens of a real sign-in, and tokens
for another resource) must answer 401 `InvalidAuthenticationToken` on Graph and on the control API,
and 535 after Exchange's XOAUTH2 error challenge on the submission listener — with nothing stored.
The controls (the unforged tokens) must pass, so the matrix proves the forgery, not a broken setup.
"""

from __future__ import annotations

import smtplib
from typing import Any

import httpx

from mailgraph.wiring import Runtime
from tests.attack.forgery import forgeries
from tests.smtp.conftest import in_thread
from tests.submission.conftest import (
    SMTP_SEND,
    Submission,
    app_token,
    runtime,
    submission,
    template_database,
    template_dir,
    token,
    user_token,
    xoauth2,
)

# The submission tenant's fixtures, used here; its template goes with its own database on PostgreSQL.
__all__ = ["runtime", "submission", "template_database", "template_dir"]

ALICE = "alice@fabrikam.test"
GRAPH_ROUTE = f"/v1.0/users/{ALICE}/messages"
CONTROL_ROUTE = "/_mailgraph/tenants"


async def _sign_in(api: httpx.AsyncClient, client: str, scope: str) -> dict[str, Any]:
    return await token(
        api,
        grant_type="password",
        client_id=client,
        username=ALICE,
        password="alice-Passw0rd",
        scope=f"{scope} openid offline_access",
    )


async def _graph_matrix(api: httpx.AsyncClient, runtime: Runtime) -> tuple[str, dict[str, str]]:
    good = await app_token(api, "https://graph.microsoft.com/.default", "graph-only")
    signed_in = await _sign_in(api, "graph-only", "https://graph.microsoft.com/Mail.Read")
    key = runtime.app.services.tokens.keyring.current(runtime.tenant.id)
    extra = {
        "refresh token as access token": signed_in["refresh_token"],
        "id token as access token": signed_in["id_token"],
        "Exchange Online token on Graph": await user_token(api, "alice"),
    }
    return good, forgeries(good, key, extra)


async def test_graph_refuses_every_forgery(api: httpx.AsyncClient, runtime: Runtime) -> None:
    good, bad = await _graph_matrix(api, runtime)
    control = await api.get(GRAPH_ROUTE, headers={"Authorization": f"Bearer {good}"})
    assert control.status_code == 200, control.text
    assert len(bad) >= 55
    for name, forged in bad.items():
        r = await api.get(GRAPH_ROUTE, headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401, (name, r.status_code, r.text[:300])
        assert r.json()["error"]["code"] == "InvalidAuthenticationToken", name
        assert "value" not in r.json(), name


async def test_control_api_refuses_every_forgery(api: httpx.AsyncClient, runtime: Runtime) -> None:
    good, bad = await _graph_matrix(api, runtime)
    admin = {"Authorization": f"Bearer {runtime.admin_token}"}
    assert (await api.get(CONTROL_ROUTE, headers=admin)).status_code == 200
    bad["a valid Graph token"] = good
    bad["the admin token with a suffix"] = runtime.admin_token + "x"
    bad["the admin token's prefix"] = runtime.admin_token[:-1]
    bad["the admin token as Basic"] = runtime.admin_token
    for name, forged in bad.items():
        scheme = "Basic" if name.endswith("as Basic") else "Bearer"
        r = await api.get(CONTROL_ROUTE, headers={"Authorization": f"{scheme} {forged}"})
        assert r.status_code == 401, (name, r.status_code)
        assert r.json()["error"]["code"] == "InvalidAuthenticationToken", name
        assert "value" not in r.json(), name


async def test_smtp_xoauth2_refuses_every_forgery(
    api: httpx.AsyncClient, runtime: Runtime, submission: Submission
) -> None:
    good = await user_token(api, "alice")  # SMTP.Send for https://outlook.office.com
    signed_in = await _sign_in(api, "smtp-client", SMTP_SEND)
    key = runtime.app.services.tokens.keyring.current(runtime.tenant.id)
    bad = forgeries(
        good,
        key,
        {
            "refresh token as access token": signed_in["refresh_token"],
            "id token as access token": signed_in["id_token"],
            "Graph token without SMTP.Send": await app_token(
                api, "https://graph.microsoft.com/.default", "graph-only"
            ),
        },
    )

    def attempt(access: str) -> tuple[int, bytes, int]:
        with submission.secure() as client:
            try:
                client.auth("XOAUTH2", lambda c=None: xoauth2(ALICE, access) if c is None else "")
            except smtplib.SMTPAuthenticationError as exc:
                return exc.smtp_code, exc.smtp_error, client.mail(ALICE)[0]
            return 235, b"", client.mail(ALICE)[0]

    assert (await in_thread(lambda: attempt(good)))[0] == 235  # the control
    for name, forged in bad.items():
        code, text, mail = await in_thread(lambda f=forged: attempt(f))  # type: ignore[misc]
        assert (code, text) == (535, b"5.7.3 Authentication unsuccessful"), name
        assert mail == 530, name  # still not authenticated: MAIL FROM refused
    assert await runtime.engine.read(lambda tx: tx.outbox.list_entries(None, 10)) == []
