"""Issue 17, defect 3: smart lockout on the token endpoint, per user (passwords) and per client (secrets).

The tenant's policy is set small (3 failures, 1 s) in the store, as the tenant file would set it.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from httpx import AsyncClient

from mailgraph.config import TenantFileError, parse_tenant
from mailgraph.domain.lockout import client_subject
from mailgraph.wiring import Runtime

TOKEN = "/fabrikam.test/oauth2/v2.0/token"
SCOPE = "https://graph.microsoft.com/.default"


async def _small_policy(runtime: Runtime, threshold: int = 3, duration_s: int = 1) -> None:
    tenant = replace(runtime.tenant, lockout_threshold=threshold, lockout_duration_s=duration_s)
    await runtime.engine.write(lambda tx: tx.directory.put_tenant(tenant))


async def _password(api: AsyncClient, password: str, user: str = "bob") -> Any:
    form = {
        "grant_type": "password",
        "client_id": "full-app",
        "client_secret": "full-secret",
        "username": f"{user}@fabrikam.test",
        "password": password,
        "scope": SCOPE,
    }
    return await api.post(TOKEN, data=form)


async def _secret(api: AsyncClient, secret: str) -> Any:
    form = {
        "grant_type": "client_credentials",
        "client_id": "full-app",
        "client_secret": secret,
        "scope": SCOPE,
    }
    return await api.post(TOKEN, data=form)


def _code(r: Any) -> tuple[int, str, int]:
    body = r.json()
    return r.status_code, body.get("error", ""), (body.get("error_codes") or [0])[0]


async def test_user_is_locked_after_the_threshold_and_unlocked_after_the_duration(
    api: AsyncClient, runtime: Runtime
) -> None:
    await _small_policy(runtime)
    for _ in range(3):
        assert _code(await _password(api, "wrong")) == (400, "invalid_grant", 50126)
    # Locked: even the right password is refused, with Entra's IdsLocked code and text.
    locked = await _password(api, "bob-Passw0rd")
    assert _code(locked) == (400, "invalid_grant", 50053)
    assert "account is locked" in locked.json()["error_description"]
    # Another user is not affected.
    assert (await _password(api, "alice-Passw0rd", user="alice")).status_code == 200
    await asyncio.sleep(1.1)
    assert (await _password(api, "bob-Passw0rd")).status_code == 200
    # The success cleared the count: the next wrong password is an ordinary failure.
    assert _code(await _password(api, "wrong")) == (400, "invalid_grant", 50126)


async def test_repeated_locks_last_longer(api: AsyncClient, runtime: Runtime) -> None:
    await _small_policy(runtime, threshold=2, duration_s=1)
    for _ in range(2):
        await _password(api, "wrong")
    assert _code(await _password(api, "bob-Passw0rd")) == (400, "invalid_grant", 50053)
    await asyncio.sleep(1.1)
    for _ in range(2):
        assert _code(await _password(api, "wrong")) == (400, "invalid_grant", 50126)
    # The second lock in a row lasts twice as long: still locked after 1.1 s.
    await asyncio.sleep(1.1)
    assert _code(await _password(api, "bob-Passw0rd")) == (400, "invalid_grant", 50053)
    await asyncio.sleep(1.0)
    assert (await _password(api, "bob-Passw0rd")).status_code == 200


async def test_client_secret_lockout(api: AsyncClient, runtime: Runtime) -> None:
    await _small_policy(runtime)
    for _ in range(3):
        assert _code(await _secret(api, "wrong")) == (401, "invalid_client", 7000215)
    assert _code(await _secret(api, "full-secret")) == (401, "invalid_client", 50053)
    state = await runtime.engine.read(lambda tx: tx.lockouts.get(client_subject("full-app")))
    assert state is not None and state.lockouts == 1
    await asyncio.sleep(1.1)
    assert (await _secret(api, "full-secret")).status_code == 200
    assert await runtime.engine.read(lambda tx: tx.lockouts.get(client_subject("full-app"))) is None


def test_policy_from_the_tenant_file() -> None:
    tenant = {"domains": ["x.test"], "lockoutThreshold": 5, "lockoutDurationSeconds": 30}
    spec = parse_tenant({"tenant": tenant}, "t.toml")
    assert (spec.lockout_threshold, spec.lockout_duration_s) == (5, 30)
    default = parse_tenant({"tenant": {"domains": ["x.test"]}}, "t.toml")
    assert (default.lockout_threshold, default.lockout_duration_s) == (10, 60)
    with pytest.raises(TenantFileError) as info:
        parse_tenant({"tenant": tenant | {"lockoutThreshold": 0, "lockoutDurationSeconds": "x"}}, "t.toml")
    assert len(info.value.problems) == 2


async def test_policy_is_stored_with_the_tenant(runtime: Runtime) -> None:
    await _small_policy(runtime, threshold=4, duration_s=7)
    stored = await runtime.engine.read(lambda tx: tx.directory.get_tenant(runtime.tenant.id))
    assert stored is not None and (stored.lockout_threshold, stored.lockout_duration_s) == (4, 7)
