"""The test workbench's tenant use cases: ephemeral tenants from a template, seed, reset, delete.

A test asks for a clean world per test: `create` makes a tenant (domain, users, an app) with fresh
random secrets in one unit of work; `delete` removes it with all its data in one unit and then the
attachment files nobody references any more; `reset` empties its mailboxes (and re-seeds them when
asked); `seed` writes messages straight into folders, with chosen dates and flags, without a send.

Generated secrets are 256-bit random strings, hashed at the cheap scrypt cost
(auth/passwords.py `hash_generated_secret` says why that is sound); a secret a caller chose gets the
interactive cost like every other. The token signing key is the API layer's (auth), made after.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from mailgraph.domain import attachments, drafts, ids
from mailgraph.domain.collector import BlobCollector
from mailgraph.domain.directory import AppSpec, DirectoryService, Secrets, TenantSpec, UserSpec
from mailgraph.domain.errors import BadRequestError, ItemNotFoundError
from mailgraph.domain.inspection import Removed, TenantInfo
from mailgraph.domain.mailboxes import folder as find_folder
from mailgraph.domain.model import UNSET, App, Message, MessageChanges, Tenant, Timestamp, User
from mailgraph.domain.ports import Tx, UnitOfWork

# What a test app usually needs; permissions are Graph's names (checked by the API layer).
_APP_ROLES = ("Mail.ReadWrite", "Mail.Send", "User.Read.All")
_DELEGATED = ("Mail.ReadWrite", "Mail.Send", "Mail.ReadWrite.Shared", "Mail.Send.Shared", "User.Read")
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
        self._chosen = DirectoryService(uow, secrets_)
        self._generated = DirectoryService(uow, generated)
        self._collector = collector
        self._clock = clock

    async def tenants(self) -> list[TenantInfo]:
        """Every hosted tenant (ephemeral or not)."""
        return await self.uow.read(lambda tx: tx.workbench.tenant_infos())

    async def create(self, spec: EphemeralSpec) -> Created:
        """Make an ephemeral tenant; seed messages go in its mailboxes in a second unit.

        Raises:
            BadRequestError: an unknown template, or a user/app the directory refuses.
        """
        users_, apps_, chosen = _specs(spec)
        name = spec.name or spec.template
        domains = spec.domains or (f"{_slug(name)}-{secrets.token_hex(4)}.test",)
        users = tuple(
            replace(u, user_principal_name=_qualify(u.user_principal_name, domains[0])) for u in users_
        )
        tenant_spec = TenantSpec(
            domains=domains, id=ids.guid().lower(), display_name=name, users=users, apps=apps_
        )
        directory = self._chosen if chosen else self._generated
        tenant = await directory.apply(tenant_spec)
        now = self._clock()
        await self.uow.write(lambda tx: tx.workbench.mark_ephemeral(tenant.id, now, spec.seed_text))
        stored = await self.uow.read(lambda tx: _directory_of(tx, tenant.id))
        by_upn = {u.user_principal_name.casefold(): u.password for u in users}
        by_client = {a.client_id: a.client_secret for a in apps_}
        created = Created(
            tenant,
            [(u, by_upn.get(u.user_principal_name.casefold())) for u in stored[0]],
            [(a, by_client.get(a.client_id)) for a in stored[1]],
        )
        if spec.seed:
            created.seeded.extend(await self.seed(tenant.id, spec.seed))
        return created

    async def set_spoofed_mail(self, tenant_id: str, rule: str) -> Tenant:
        """What anonymous mail claiming the tenant's domains does: junk, inbox or reject (any tenant)."""
        return await self._chosen.set_spoofed_mail(tenant_id, rule)

    async def delete(self, tenant_id: str) -> Removed | None:
        """Remove a tenant with all its data; then its unreferenced attachment files. None: unknown."""
        removed = await self.uow.write(lambda tx: tx.workbench.delete_tenant(tenant_id, self._clock()))
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


async def _directory_of(tx: Tx, tenant_id: str) -> tuple[list[User], list[App]]:
    return await tx.directory.list_users(tenant_id), await tx.directory.list_apps(tenant_id)


def _specs(spec: EphemeralSpec) -> tuple[tuple[UserSpec, ...], tuple[AppSpec, ...], bool]:
    """Users and apps with generated secrets where none was given; and whether any was chosen."""
    if spec.template not in TEMPLATES:
        raise BadRequestError(f"unknown template {spec.template!r}; known: {', '.join(sorted(TEMPLATES))}")
    users = spec.users
    if users is None:
        users = tuple(UserSpec(local, display) for local, display in TEMPLATES[spec.template])
    apps = spec.apps if spec.apps is not None else (AppSpec(ids.guid().lower(), "workbench app"),)
    chosen = any(u.password for u in users) or any(a.client_secret for a in apps)
    users = tuple(u if u.password else replace(u, password=_secret()) for u in users)
    apps = tuple(
        replace(
            a,
            client_secret=a.client_secret or _secret(),
            allow_public_client=True,
            application_permissions=a.application_permissions or _APP_ROLES,
            delegated_permissions=a.delegated_permissions or _DELEGATED,
        )
        for a in apps
    )
    return users, apps, chosen


def _secret() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits: see hash_generated_secret


def _qualify(upn: str, domain: str) -> str:
    """`alice` → `alice@<the tenant's domain>`; a full address stays."""
    return upn if "@" in upn else f"{upn}@{domain}"


def _slug(name: str) -> str:
    kept = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return (kept or "tenant")[:30]
