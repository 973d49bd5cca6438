"""The directory: load a declarative tenant (users, apps, domains) idempotently, and manage it.

Ids are stable across restarts: a user is matched by userPrincipalName and keeps its object id, an
app by client id. Secrets are stored only as hashes; a stored hash is kept when it still verifies the
configured secret, so reloading the same file changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mailgraph.domain import ids
from mailgraph.domain.addresses import is_mailbox
from mailgraph.domain.errors import BadRequestError
from mailgraph.domain.mailboxes import provision
from mailgraph.domain.model import App, Tenant, User
from mailgraph.domain.ports import Tx, UnitOfWork

Hasher = Callable[[str], str]
Verifier = Callable[[str, str], bool]


@dataclass(frozen=True, slots=True)
class UserSpec:
    """A user as the tenant file declares it."""

    user_principal_name: str
    display_name: str
    password: str | None = None
    mail: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class AppSpec:
    """An app registration as the tenant file declares it."""

    client_id: str
    display_name: str = ""
    client_secret: str | None = None
    allow_public_client: bool = False
    application_permissions: tuple[str, ...] = ()
    delegated_permissions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TenantSpec:
    """A whole tenant file."""

    domains: tuple[str, ...]
    id: str | None = None
    display_name: str = ""
    users: tuple[UserSpec, ...] = field(default_factory=tuple)
    apps: tuple[AppSpec, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Secrets:
    """The password hash function and its verifier (from the auth layer)."""

    hash: Hasher
    verify: Verifier


class DirectoryService:
    """Provisioning use cases (start-up and the admin command line)."""

    def __init__(self, uow: UnitOfWork, secrets: Secrets) -> None:
        self._uow = uow
        self._secrets = secrets

    async def tenant(self) -> Tenant | None:
        """The hosted tenant, if any."""
        return await self._uow.read(lambda tx: tx.directory.get_tenant())

    async def apply(self, spec: TenantSpec) -> Tenant:
        """Create or update the tenant, its users (with mailboxes) and apps from `spec`; idempotent.

        Raises:
            BadRequestError: an address outside the tenant's domains or not a mailbox; a tenant id
                that differs from the one already stored.
        """
        _check(spec)

        async def unit(tx: Tx) -> Tenant:
            current = await tx.directory.get_tenant()
            if current is not None and spec.id is not None and spec.id.lower() != current.id:
                raise BadRequestError(f"the data directory belongs to tenant {current.id}, not {spec.id}")
            tenant_id = current.id if current is not None else (spec.id or ids.guid()).lower()
            tenant = Tenant(tenant_id, spec.display_name or spec.domains[0], spec.domains)
            await tx.directory.put_tenant(tenant)
            for user_spec in spec.users:
                await self._put_user(tx, tenant, user_spec)
            for app_spec in spec.apps:
                await self._put_app(tx, tenant, app_spec)
            return tenant

        return await self._uow.write(unit)

    def _keep_or_hash(self, secret: str | None, stored: str | None) -> str | None:
        if secret is None:
            return None
        if stored is not None and self._secrets.verify(secret, stored):
            return stored
        return self._secrets.hash(secret)

    async def _put_user(self, tx: Tx, tenant: Tenant, spec: UserSpec) -> User:
        existing = await tx.directory.find_user(spec.user_principal_name)
        user = User(
            id=existing.id if existing else (spec.id or ids.guid()).lower(),
            tenant_id=tenant.id,
            user_principal_name=spec.user_principal_name,
            mail=spec.mail or spec.user_principal_name,
            display_name=spec.display_name,
            password_hash=self._keep_or_hash(spec.password, existing.password_hash if existing else None),
        )
        await tx.directory.put_user(user)
        await provision(tx, user)
        return user

    async def _put_app(self, tx: Tx, tenant: Tenant, spec: AppSpec) -> App:
        existing = await tx.directory.get_app(spec.client_id)
        app = App(
            client_id=spec.client_id,
            tenant_id=tenant.id,
            object_id=existing.object_id if existing else ids.guid(),
            display_name=spec.display_name or spec.client_id,
            secret_hash=self._keep_or_hash(spec.client_secret, existing.secret_hash if existing else None),
            allow_public_client=spec.allow_public_client,
            application_permissions=spec.application_permissions,
            delegated_permissions=spec.delegated_permissions,
        )
        await tx.directory.put_app(app)
        return app


def _check(spec: TenantSpec) -> None:
    if not spec.domains:
        raise BadRequestError("the tenant needs at least one verified domain")
    domains = {d.lower() for d in spec.domains}
    for user in spec.users:
        for address in {user.user_principal_name, user.mail or user.user_principal_name}:
            if not is_mailbox(address) or address.rsplit("@", 1)[1].lower() not in domains:
                raise BadRequestError(f"user address {address!r} is not a mailbox of the tenant's domains")
