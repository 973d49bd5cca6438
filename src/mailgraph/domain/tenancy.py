"""The tenant context where no token names one: an address's domain picks its tenant.

Graph requests carry their tenant in the token (`Actor.tenant_id`, used by `mailboxes.resolve`).
Inbound SMTP, SMTP AUTH logins and the admin CLI only have an address: a verified domain belongs to
exactly one tenant (docs/identity.md), so the domain names the tenant and the user is then looked up
inside it. No lookup here spans tenants.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailgraph.domain.addresses import domain_of
from mailgraph.domain.model import Tenant, User
from mailgraph.domain.ports import Tx


async def tenant_of(tx: Tx, address: str) -> Tenant | None:
    """The hosted tenant of an address's domain, or None for a foreign (or no) domain."""
    if "@" not in address:
        return None
    return await tx.directory.tenant_for_domain(domain_of(address))


async def user_by_address(tx: Tx, address: str) -> User | None:
    """The user with this UPN or address, looked up in the tenant of its domain."""
    tenant = await tenant_of(tx, address)
    return None if tenant is None else await tx.directory.find_user(tenant.id, address)


async def users_by_address(tx: Tx, addresses: Sequence[str]) -> dict[str, User]:
    """Users by address (keys `casefold()`ed), each looked up in the tenant of its domain."""
    by_tenant: dict[str, list[str]] = {}
    tenants: dict[str, Tenant | None] = {}
    for address in addresses:
        domain = domain_of(address).casefold() if "@" in address else ""
        if domain not in tenants:
            tenants[domain] = await tenant_of(tx, address)
        if (tenant := tenants[domain]) is not None:
            by_tenant.setdefault(tenant.id, []).append(address)
    found: dict[str, User] = {}
    for tenant_id, wanted in by_tenant.items():
        found.update(await tx.directory.find_users_by_address(tenant_id, wanted))
    return found
