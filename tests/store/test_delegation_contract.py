"""Store contract for `DelegationRepo` (migration 0004): permissions, access policies, app certificates."""

from __future__ import annotations

from mailgraph.domain.delegation import AccessPolicy, MailboxPermission
from mailgraph.domain.model import App
from mailgraph.domain.ports import Tx
from mailgraph.store.contract import Engine
from tests.store.test_contract import TENANT, seed


async def test_permissions_replace_and_cascade(engine: Engine) -> None:
    a, b, c = await seed(engine, "a", "b", "c")
    grants = [
        MailboxPermission(b.id, a.id, "FullAccess"),
        MailboxPermission(b.id, a.id, "SendAs"),
        MailboxPermission(b.id, a.id, "SendAs"),  # duplicates collapse
        MailboxPermission(c.id, a.id, "SendOnBehalf"),
    ]
    await engine.write(lambda tx: tx.delegation.replace_permissions(TENANT.id, grants))
    assert await engine.read(lambda tx: tx.delegation.rights(b.id, a.id)) == {"FullAccess", "SendAs"}
    assert await engine.read(lambda tx: tx.delegation.rights(a.id, b.id)) == frozenset()
    assert len(await engine.read(lambda tx: tx.delegation.list_permissions())) == 3
    await engine.write(lambda tx: tx.directory.delete_user(c.id))  # grants go with the user
    assert len(await engine.read(lambda tx: tx.delegation.list_permissions())) == 2
    await engine.write(lambda tx: tx.delegation.replace_permissions(TENANT.id, []))
    assert await engine.read(lambda tx: tx.delegation.list_permissions()) == []


async def test_access_policy_and_certificates(engine: Engine) -> None:
    a, b = await seed(engine, "a", "b")
    app = App("app", TENANT.id, "oid", "App", None, False, ("Mail.Read",), ())

    async def unit(tx: Tx) -> None:
        await tx.directory.put_app(app)
        await tx.delegation.replace_access_policy(
            "app", AccessPolicy("app", "RestrictAccess", frozenset({a.id}))
        )
        await tx.delegation.replace_certificates("app", [("t2", "PEM2"), ("t1", "PEM1"), ("t1", "PEM1")])

    await engine.write(unit)
    policy = await engine.read(lambda tx: tx.delegation.access_policy("app"))
    assert policy == AccessPolicy("app", "RestrictAccess", frozenset({a.id}))
    assert policy.allows(a.id) and not policy.allows(b.id)
    assert await engine.read(lambda tx: tx.delegation.certificates("app")) == ["PEM1", "PEM2"]
    await engine.write(lambda tx: tx.delegation.replace_access_policy("app", None))
    assert await engine.read(lambda tx: tx.delegation.access_policy("app")) is None
    await engine.write(lambda tx: tx.directory.delete_app("app"))
    assert await engine.read(lambda tx: tx.delegation.certificates("app")) == []
