"""The directory: load a declarative tenant (users, apps, domains) idempotently, and manage it.

Ids are stable across restarts: a user is matched by userPrincipalName and keeps its object id, an
app by client id. Secrets are stored only as hashes; a stored hash is kept when it still verifies the
configured secret, so reloading the same file changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mailgraph.domain import delegation, ids
from mailgraph.domain.addresses import is_mailbox
from mailgraph.domain.delegation import PermissionSpec, PolicySpec
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
    certificates: tuple[tuple[str, str], ...] = ()  # (thumbprint, PEM) for client assertions


@dataclass(frozen=True, slots=True)
class TenantSpec:
    """A whole tenant file."""

    domains: tuple[str, ...]
    id: str | None = None
    display_name: str = ""
    users: tuple[UserSpec, ...] = field(default_factory=tuple)
    apps: tuple[AppSpec, ...] = field(default_factory=tuple)
    permissions: tuple[PermissionSpec, ...] = ()  # mailbox delegation (domain/delegation.py)
    policies: tuple[PolicySpec, ...] = ()  # application access policies
    lockout_threshold: int = 10  # smart lockout (domain/lockout.py)
    lockout_duration_s: int = 60


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
            tenant = Tenant(
                tenant_id,
                spec.display_name or spec.domains[0],
                spec.domains,
                spec.lockout_threshold,
                spec.lockout_duration_s,
            )
            await tx.directory.put_tenant(tenant)
            for user_spec in spec.users:
                await self._put_user(tx, tenant, user_spec)
            for app_spec in spec.apps:
                await self._put_app(tx, tenant, app_spec)
            await delegation.apply(tx, spec.permissions, spec.policies, [a.client_id for a in spec.apps])
            return tenant

        return await self._uow.write(unit)

    async def add_user(self, spec: UserSpec) -> User:
        """Create or update one user (with a mailbox), as `mailgraph users add` does.

        Raises:
            BadRequestError: no tenant yet, or an address outside the tenant's domains.
            ConflictError: the UPN or mail belongs to another user.
        """

        async def unit(tx: Tx) -> User:
            tenant = await tx.directory.get_tenant()
            if tenant is None:
                raise BadRequestError("the data directory has no tenant yet; run `mailgraph serve` once")
            _check(TenantSpec(tenant.domains, users=(spec,)))
            return await self._put_user(tx, tenant, spec)

        return await self._uow.write(unit)

    async def add_app(self, spec: AppSpec) -> App:
        """Create or update one app registration (`mailgraph apps add`)."""

        async def unit(tx: Tx) -> App:
            tenant = await tx.directory.get_tenant()
            if tenant is None:
                raise BadRequestError("the data directory has no tenant yet; run `mailgraph serve` once")
            return await self._put_app(tx, tenant, spec)

        return await self._uow.write(unit)

    async def remove_user(self, upn_or_id: str) -> bool:
        """Delete a user and their mailbox; False if no such user."""

        async def unit(tx: Tx) -> bool:
            user = await tx.directory.find_user(upn_or_id) or await tx.directory.get_user(upn_or_id)
            return user is not None and await tx.directory.delete_user(user.id)

        return await self._uow.write(unit)

    async def remove_app(self, client_id: str) -> bool:
        """Delete an app registration; False if no such app."""
        return await self._uow.write(lambda tx: tx.directory.delete_app(client_id))

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
        await tx.delegation.replace_certificates(app.client_id, spec.certificates)
        return app


def _check(spec: TenantSpec) -> None:
    if not spec.domains:
        raise BadRequestError("the tenant needs at least one verified domain")
    domains = {d.lower() for d in spec.domains}
    for user in spec.users:
        for address in {user.user_principal_name, user.mail or user.user_principal_name}:
            if not is_mailbox(address) or address.rsplit("@", 1)[1].lower() not in domains:
                raise BadRequestError(f"user address {address!r} is not a mailbox of the tenant's domains")
