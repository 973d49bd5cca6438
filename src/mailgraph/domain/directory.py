"""The directory: load a declarative tenant (users, apps, domains) idempotently, and manage it.

A server hosts one or more tenants; each tenant file names one, by `id` or by its domains, and
applying it never touches another tenant. Ids are stable across restarts: a user is matched by userPrincipalName and keeps its object id, an
app by client id. Secrets are stored only as hashes; a stored hash is kept when it still verifies the
configured secret, so reloading the same file changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from mailgraph.domain import delegation, ids, spoofing
from mailgraph.domain.addresses import is_mailbox
from mailgraph.domain.delegation import PermissionSpec, PolicySpec
from mailgraph.domain.errors import BadRequestError, ConflictError, ItemNotFoundError
from mailgraph.domain.mailboxes import provision
from mailgraph.domain.model import NO_PROFILE, App, Tenant, User, UserProfile
from mailgraph.domain.ports import Tx, UnitOfWork
from mailgraph.domain.tenancy import tenant_of, user_by_address

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
    profile: UserProfile = NO_PROFILE


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
    smtp_password_auth: bool = False  # AUTH LOGIN/PLAIN on the submission port (docs/smtp-submission.md)
    spoofed_mail: str = (
        "junk"  # anonymous mail as a hosted domain: junk, inbox or reject (domain/spoofing.py)
    )


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

    @property
    def uow(self) -> UnitOfWork:
        """The store these use cases run on."""
        return self._uow

    async def tenant(self) -> Tenant | None:
        """The home tenant (the one with the smallest id; the only one on most servers), if any."""
        tenants = await self.tenants()
        return tenants[0] if tenants else None

    async def tenants(self) -> list[Tenant]:
        """All hosted tenants, by id."""
        return await self._uow.read(lambda tx: tx.directory.list_tenants())

    async def apply(self, spec: TenantSpec) -> Tenant:
        """Create or update the tenant, its users (with mailboxes) and apps from `spec`; idempotent.

        Raises:
            BadRequestError: an address outside the tenant's domains or not a mailbox; a tenant id
                that differs from the one already stored.
        """
        check(spec)

        async def unit(tx: Tx) -> Tenant:
            current = await _current(tx, spec)
            tenant_id = current.id if current is not None else (spec.id or ids.guid()).lower()
            for domain in spec.domains:  # a verified domain belongs to one tenant (docs/identity.md)
                owner = await tx.directory.tenant_for_domain(domain)
                if owner is not None and owner.id != tenant_id:
                    raise BadRequestError(f"domain {domain} belongs to tenant {owner.id}, not {tenant_id}")
            tenant = Tenant(
                tenant_id,
                spec.display_name or spec.domains[0],
                spec.domains,
                spec.lockout_threshold,
                spec.lockout_duration_s,
                spec.smtp_password_auth,
                spec.spoofed_mail,
            )
            await tx.directory.put_tenant(tenant)
            for user_spec in spec.users:
                await self._put_user(tx, tenant, user_spec)
            for app_spec in spec.apps:
                await self._put_app(tx, tenant, app_spec)
            await delegation.apply(
                tx, tenant.id, spec.permissions, spec.policies, [a.client_id for a in spec.apps]
            )
            return tenant

        return await self._uow.write(unit)

    async def set_spoofed_mail(self, tenant_id: str, rule: str) -> Tenant:
        """Set what anonymous mail claiming the tenant's domains does (domain/spoofing.py).

        Raises:
            BadRequestError: not one of `spoofing.POLICIES`.
            ItemNotFoundError: no such tenant.
        """
        if rule not in spoofing.POLICIES:
            raise BadRequestError(f"spoofedInternalMail must be one of {', '.join(spoofing.POLICIES)}.")

        async def unit(tx: Tx) -> Tenant:
            tenant = await tx.directory.get_tenant(tenant_id)
            if tenant is None:
                raise ItemNotFoundError()
            changed = replace(tenant, spoofed_mail=rule)
            await tx.directory.put_tenant(changed)
            return changed

        return await self._uow.write(unit)

    async def add_user(self, spec: UserSpec) -> User:
        """Create or update one user (with a mailbox), as `mailgraph users add` does.

        Raises:
            BadRequestError: no tenant yet, or an address outside the tenant's domains.
            ConflictError: the UPN or mail belongs to another user.
        """

        async def unit(tx: Tx) -> User:
            # The UPN's domain picks the tenant; with a single tenant, a foreign domain is refused below.
            tenants = await tx.directory.list_tenants()
            tenant = await tenant_of(tx, spec.user_principal_name) or (
                tenants[0] if len(tenants) == 1 else None
            )
            if tenant is None:
                if not tenants:
                    raise BadRequestError("the data directory has no tenant yet; run `mailgraph serve` once")
                raise BadRequestError(f"{spec.user_principal_name!r} is in no hosted tenant's domains")
            check(TenantSpec(tenant.domains, users=(spec,)))
            return await self._put_user(tx, tenant, spec)

        return await self._uow.write(unit)

    async def add_app(self, spec: AppSpec, tenant_id: str | None = None) -> App:
        """Create or update one app registration (`mailgraph apps add`) in a tenant (default: home)."""

        async def unit(tx: Tx) -> App:
            tenants = await tx.directory.list_tenants()
            tenant = next((t for t in tenants if t.id == tenant_id or tenant_id is None), None)
            if tenant is None:
                raise BadRequestError("the data directory has no tenant yet; run `mailgraph serve` once")
            return await self._put_app(tx, tenant, spec)

        return await self._uow.write(unit)

    async def remove_user(self, upn_or_id: str) -> bool:
        """Delete a user and their mailbox; False if no such user."""

        async def unit(tx: Tx) -> bool:
            user = await user_by_address(tx, upn_or_id) or await tx.directory.get_user(upn_or_id)
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
        existing = await tx.directory.find_user(tenant.id, spec.user_principal_name)
        user = User(
            id=existing.id if existing else (spec.id or ids.guid()).lower(),
            tenant_id=tenant.id,
            user_principal_name=spec.user_principal_name,
            mail=spec.mail or spec.user_principal_name,
            display_name=spec.display_name,
            password_hash=self._keep_or_hash(spec.password, existing.password_hash if existing else None),
            # A spec without profile fields (`mailgraph users add`) keeps what the tenant file set.
            profile=spec.profile if spec.profile != NO_PROFILE or existing is None else existing.profile,
        )
        await tx.directory.put_user(user)
        await provision(tx, user)
        return user

    async def _put_app(self, tx: Tx, tenant: Tenant, spec: AppSpec) -> App:
        existing = await tx.directory.get_app(spec.client_id)
        if existing is not None and existing.tenant_id != tenant.id:
            raise ConflictError(f"app {spec.client_id} is registered in another tenant")
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


async def _current(tx: Tx, spec: TenantSpec) -> Tenant | None:
    """The stored tenant a tenant file describes: by its id, else by one of its domains, else the only
    tenant of a single-tenant server (a file without id has always updated the data dir's tenant)."""
    if spec.id is not None:
        return await tx.directory.get_tenant(spec.id.lower())
    for domain in spec.domains:
        if (owner := await tx.directory.tenant_for_domain(domain)) is not None:
            return owner
    tenants = await tx.directory.list_tenants()
    return tenants[0] if len(tenants) == 1 else None


def check(spec: TenantSpec) -> None:
    """Refuse a spec without a domain, or with a user address outside its domains (BadRequestError)."""
    if not spec.domains:
        raise BadRequestError("the tenant needs at least one verified domain")
    domains = {d.lower() for d in spec.domains}
    for user in spec.users:
        for address in {user.user_principal_name, user.mail or user.user_principal_name}:
            if not is_mailbox(address) or address.rsplit("@", 1)[1].lower() not in domains:
                raise BadRequestError(f"user address {address!r} is not a mailbox of the tenant's domains")
