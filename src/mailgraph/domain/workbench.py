"""The test workbench's tenant use cases: ephemeral tenants from a template, seed, reset, delete.

A test asks for a clean world per test: `create` makes a tenant (domain, users with their
mailboxes, an app, its token signing key row, the ephemeral mark) with fresh random secrets in ONE
unit of work — one commit, one fsync: the workbench benchmark's create+delete rate is bounded by
commits, 4 per pair before (issue 14: 34.7/s → see docs/performance.md) — with secrets hashed before
the unit, off the store's writer; `delete` removes it with all its data in one unit and then the
attachment files nobody references any more; `reset` empties its mailboxes (and re-seeds them when
asked); `seed` writes messages straight into folders, with chosen dates and flags, without a send.

Generated secrets are 256-bit random strings, hashed at the cheap scrypt cost
(auth/passwords.py `hash_generated_secret` says why that is sound); a secret a caller chose gets the
interactive cost like every other. The token signing key is the API layer's (auth): it hands the
row to store in the same unit (`create(..., signing_key=row)`).

**Durability.** A create and a delete are written with `durable=False` (`UnitOfWork.write`): answered
once committed (a process crash loses nothing), synced by the next durable commit or by the store's
own sync well under a second later. Each waited for its own fsync before — under `durability="full"`
the two fsyncs were most of a create+delete pair's time (issue 14, docs/performance.md). What a power
cut can still cost: a create answered just before it is gone after the restart — so is the test run
that asked for it, and anything durable written into the tenant since (a send, a seed) synced the
create with it; a delete lost that way brings back a tenant with a random domain and credentials
only the dead test run knew: harmless, listed by `GET /_mailgraph/tenants?ephemeral=true` for whoever
wants it gone. Commits stay in order on both engines: nothing committed after a lost one survives.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from mailgraph.domain import attachments, drafts, ids
from mailgraph.domain.collector import BlobCollector
from mailgraph.domain.directory import AppSpec, DirectoryService, Secrets, TenantSpec, UserSpec, check
from mailgraph.domain.errors import BadRequestError, ConflictError, ItemNotFoundError
from mailgraph.domain.inspection import Removed, TenantInfo
from mailgraph.domain.mailboxes import folder as find_folder
from mailgraph.domain.mailboxes import provision
from mailgraph.domain.model import UNSET, App, Message, MessageChanges, StoredKey, Tenant, Timestamp, User
from mailgraph.domain.ports import Tx, UnitOfWork

# What a test app usually needs; permissions are Graph's names (checked by the API layer).
_APP_ROLES = ("Mail.ReadWrite", "Mail.Send", "User.Read.All", "MailboxSettings.ReadWrite")
_DELEGATED = (
    "Mail.ReadWrite", "Mail.Send", "Mail.ReadWrite.Shared", "Mail.Send.Shared", "User.Read", "MailboxSettings.ReadWrite",
)  # fmt: skip
TEMPLATES: dict[str, tuple[tuple[str, str], ...]] = {
    "default": (("alice", "Alice Example"), ("bob", "Bob Example")),
    "single": (("alice", "Alice Example"),),
    "team": (("alice", "Alice Example"), ("bob", "Bob Example"), ("carol", "Carol Example"), ("dave", "Dave Example")),
}  # fmt: skip
"""Named templates: the users of a tenant (local part, display name); each gets one app."""


@dataclass(frozen=True, slots=True)
class SeedMessage:
    """One message to write straight into a folder (`mailbox`: a UPN, mail address or user id)."""

    mailbox: str
    changes: MessageChanges
    folder: str = "inbox"
    received_at: Timestamp | None = None
    sent_at: Timestamp | None = None
    is_read: bool = False
    internet_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class EphemeralSpec:
    """What a caller asks for; everything left out comes from the template."""

    template: str = "default"
    name: str = ""
    domains: tuple[str, ...] = ()
    users: tuple[UserSpec, ...] | None = None
    apps: tuple[AppSpec, ...] | None = None
    seed: tuple[SeedMessage, ...] = ()
    seed_text: str | None = None
    """The seed as the caller wrote it (opaque here), stored for `reset(to_seed=True)`."""
    tenant_id: str | None = None
    """The new tenant's id (lower-case GUID), when the caller needs it before the unit (its key row)."""


@dataclass(frozen=True, slots=True)
class Created:
    """An ephemeral tenant and its credentials in clear (shown once, never stored)."""

    tenant: Tenant
    users: list[tuple[User, str | None]]
    apps: list[tuple[App, str | None]]
    seeded: list[Message] = field(default_factory=list)


class WorkbenchService:
    """Ephemeral tenants and their mailboxes, for tests."""

    def __init__(
        self,
        uow: UnitOfWork,
        secrets_: Secrets,
        generated: Secrets,
        collector: BlobCollector,
        clock: Callable[[], Timestamp],
    ) -> None:
        self.uow = uow
        self._chosen = secrets_
        self._generated = generated
        self._collector = collector
        self._clock = clock

    async def tenants(self) -> list[TenantInfo]:
        """Every hosted tenant (ephemeral or not)."""
        return await self.uow.read(lambda tx: tx.workbench.tenant_infos())

    async def create(self, spec: EphemeralSpec, signing_key: StoredKey | None = None) -> Created:
        """Make an ephemeral tenant in one unit of work (with `signing_key`, its key row, in it too);
        seed messages go in its mailboxes in a second unit.

        Raises:
            BadRequestError: an unknown template, an address outside the domains, a domain another
                tenant verified. ConflictError: a client id or user name already taken.
        """
        users_, apps_, generated = _specs(spec)
        name = spec.name or spec.template
        domains = spec.domains or (f"{_slug(name)}-{secrets.token_hex(4)}.test",)
        user_specs = tuple(
            replace(u, user_principal_name=_qualify(u.user_principal_name, domains[0])) for u in users_
        )
        tenant_id = (spec.tenant_id or ids.guid()).lower()
        check(TenantSpec(domains=domains, users=user_specs))
        tenant = Tenant(tenant_id, name, domains)
        # Hashed here, before the unit: the store's writer (one thread on SQLite) never waits on scrypt.
        users = [
            User(
                id=(u.id or ids.guid()).lower(),
                tenant_id=tenant_id,
                user_principal_name=u.user_principal_name,
                mail=u.mail or u.user_principal_name,
                display_name=u.display_name,
                password_hash=None if u.password is None else self._hash(u.password, generated),
            )
            for u in user_specs
        ]
        apps = [
            App(
                client_id=a.client_id,
                tenant_id=tenant_id,
                object_id=ids.guid(),
                display_name=a.display_name or a.client_id,
                secret_hash=None if a.client_secret is None else self._hash(a.client_secret, generated),
                allow_public_client=a.allow_public_client,
                application_permissions=a.application_permissions,
                delegated_permissions=a.delegated_permissions,
            )
            for a in apps_
        ]
        now = self._clock()

        async def unit(tx: Tx) -> None:
            for domain in domains:  # a verified domain belongs to one tenant (docs/identity.md)
                owner = await tx.directory.tenant_for_domain(domain)
                if owner is not None:
                    raise BadRequestError(f"domain {domain} belongs to tenant {owner.id}")
            await tx.directory.put_tenant(tenant)
            for user in users:
                if await tx.directory.find_user(tenant_id, user.user_principal_name) is not None:
                    raise ConflictError(f"user {user.user_principal_name} is listed twice")
                await tx.directory.put_user(user)
                await provision(tx, user)
            for app in apps:
                if await tx.directory.get_app(app.client_id) is not None:
                    raise ConflictError(f"app {app.client_id} is already registered")
                await tx.directory.put_app(app)
            await tx.workbench.mark_ephemeral(tenant_id, now, spec.seed_text)
            if signing_key is not None:
                await tx.keys.add_key(signing_key)

        await self.uow.write(unit, durable=False)  # not synced alone: module docstring
        by_upn = {u.user_principal_name.casefold(): u.password for u in user_specs}
        by_client = {a.client_id: a.client_secret for a in apps_}
        created = Created(
            tenant,
            [(u, by_upn.get(u.user_principal_name.casefold())) for u in users],
            [(a, by_client.get(a.client_id)) for a in apps],
        )
        if spec.seed:
            created.seeded.extend(await self.seed(tenant.id, spec.seed))
        return created

    async def set_spoofed_mail(self, tenant_id: str, rule: str) -> Tenant:
        """What anonymous mail claiming the tenant's domains does: junk, inbox or reject (any tenant)."""
        return await DirectoryService(self.uow, self._chosen).set_spoofed_mail(tenant_id, rule)

    def _hash(self, secret: str, generated: frozenset[str]) -> str:
        """The cheap hash for a secret the server generated, the interactive one for a chosen one."""
        return (self._generated if secret in generated else self._chosen).hash(secret)

    async def delete(self, tenant_id: str) -> Removed | None:
        """Remove a tenant with all its data; then its unreferenced attachment files. None: unknown."""
        removed = await self.uow.write(
            lambda tx: tx.workbench.delete_tenant(tenant_id, self._clock()), durable=False
        )  # not synced alone: module docstring
        if removed is not None:
            await self._reclaim(removed)
        return removed

    async def reset(self, tenant_id: str, mailboxes: Sequence[str] = ()) -> Removed:
        """Empty the tenant's mailboxes (or only `mailboxes`: UPNs, addresses or ids).

        Raises:
            ItemNotFoundError: no such tenant; UserNotFound-like BadRequestError for a mailbox outside it.
        """

        async def unit(tx: Tx) -> Removed:
            await _tenant(tx, tenant_id)
            ids_ = [(await _user(tx, tenant_id, key)).id for key in mailboxes] if mailboxes else None
            return await tx.workbench.clear_mailboxes(tenant_id, ids_, self._clock())

        removed = await self.uow.write(unit)
        await self._reclaim(removed)
        return removed

    async def stored_seed(self, tenant_id: str) -> str | None:
        """The seed text the tenant was created with."""
        return await self.uow.read(lambda tx: tx.workbench.seed(tenant_id))

    async def seed(self, tenant_id: str, items: Sequence[SeedMessage]) -> list[Message]:
        """Write messages into folders as received mail (not drafts), in one unit of work.

        Attachments must have been staged (`attachments.stage`) by the caller.

        Raises:
            ItemNotFoundError: no such tenant or folder; BadRequestError: a mailbox outside the tenant.
        """

        async def unit(tx: Tx) -> list[Message]:
            await _tenant(tx, tenant_id)
            now = self._clock()
            written: list[Message] = []
            for item in items:
                owner = await _user(tx, tenant_id, item.mailbox)
                target = await find_folder(tx, owner, item.folder)
                message = drafts.new_draft(owner, target.id, replace(item.changes, attachments=UNSET), now)
                message.is_draft = False
                message.is_read = item.is_read
                message.received_at = item.received_at if item.received_at is not None else now
                message.sent_at = item.sent_at if item.sent_at is not None else message.received_at
                if item.internet_message_id:
                    message.internet_message_id = item.internet_message_id
                await attachments.attach_new(tx, message, item.changes, now)
                await tx.messages.insert(message)
                tx.changes.message("created", message)
                written.append(message)
            return written

        return await self.uow.write(unit)

    async def _reclaim(self, removed: Removed) -> None:
        """After the commit: drop partial upload files; attachment files whose last reference went are
        the collector's, after its grace period (a concurrent unit may be about to reference the same
        content-addressed file again: domain/collector.py)."""
        for session in removed.upload_sessions:
            await self._collector.blobs.drop_parts(session)
        if removed.released_blobs:
            self._collector.schedule_collect()


async def _tenant(tx: Tx, tenant_id: str) -> Tenant:
    tenant = await tx.directory.get_tenant(tenant_id)
    if tenant is None:
        raise ItemNotFoundError()
    return tenant


async def _user(tx: Tx, tenant_id: str, key: str) -> User:
    """A user of this tenant by UPN, address or id; never one of another tenant."""
    user = await tx.directory.find_user(tenant_id, key)
    if user is None:
        user = await tx.directory.get_user(key.lower())
        if user is not None and user.tenant_id != tenant_id:
            user = None
    if user is None:
        raise BadRequestError(f"{key!r} is no mailbox of tenant {tenant_id}")
    return user


def _specs(spec: EphemeralSpec) -> tuple[tuple[UserSpec, ...], tuple[AppSpec, ...], frozenset[str]]:
    """Users and apps with generated secrets where none was given; and the generated secrets."""
    if spec.template not in TEMPLATES:
        raise BadRequestError(f"unknown template {spec.template!r}; known: {', '.join(sorted(TEMPLATES))}")
    users = spec.users
    if users is None:
        users = tuple(UserSpec(local, display) for local, display in TEMPLATES[spec.template])
    apps = spec.apps if spec.apps is not None else (AppSpec(ids.guid().lower(), "workbench app"),)
    generated: set[str] = set()

    def fresh() -> str:
        generated.add(value := _secret())
        return value

    users = tuple(u if u.password else replace(u, password=fresh()) for u in users)
    apps = tuple(
        replace(
            a,
            client_secret=a.client_secret or fresh(),
            allow_public_client=True,
            application_permissions=a.application_permissions or _APP_ROLES,
            delegated_permissions=a.delegated_permissions or _DELEGATED,
        )
        for a in apps
    )
    return users, apps, frozenset(generated)


def _secret() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits: see hash_generated_secret


def _qualify(upn: str, domain: str) -> str:
    """`alice` → `alice@<the tenant's domain>`; a full address stays."""
    return upn if "@" in upn else f"{upn}@{domain}"


def _slug(name: str) -> str:
    kept = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return (kept or "tenant")[:30]
