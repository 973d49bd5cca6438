"""Mailbox delegation and application access policies: who may open, and send as, which mailbox.

- **Mailbox permissions** (Exchange's `Add-MailboxPermission` / `Add-RecipientPermission`, spec §4.4):
  `FullAccess` lets a delegate open another user's mailbox, `SendAs` lets them send with that
  mailbox as `from` and `sender`, `SendOnBehalf` with that mailbox as `from` and themselves as `sender`
  ("X on behalf of Y"). A delegated token reaches another mailbox only with FullAccess *and* a
  `.Shared` permission covering the operation (spec §4.3).
- **Application access policies** (`New-ApplicationAccessPolicy`, spec §4.5): per app, RestrictAccess
  (only the group's mailboxes) or DenyAccess (all but them); elsewhere 403 "Access to OData is disabled.".

All are declared in the tenant file and replaced as a whole on each load (`apply`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from mailgraph.domain.errors import AccessDeniedError, BadRequestError, SendAsDeniedError

if TYPE_CHECKING:
    from mailgraph.domain.model import Actor, EmailAddress, User
    from mailgraph.domain.ports import Tx

PolicyRight = Literal["RestrictAccess", "DenyAccess"]
FULL_ACCESS: Final = "FullAccess"
SEND_AS: Final = "SendAs"
SEND_ON_BEHALF: Final = "SendOnBehalf"
RIGHTS: Final = (FULL_ACCESS, SEND_AS, SEND_ON_BEHALF)
POLICY_RIGHTS: Final[tuple[PolicyRight, ...]] = ("RestrictAccess", "DenyAccess")
ODATA_DISABLED: Final = "Access to OData is disabled."


@dataclass(frozen=True, slots=True)
class MailboxPermission:
    """`delegate_id` holds `right` on the mailbox of `mailbox_id`."""

    mailbox_id: str
    delegate_id: str
    right: str


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """An app's application access policy over a group of mailboxes."""

    client_id: str
    access_right: PolicyRight
    mailbox_ids: frozenset[str]

    def allows(self, mailbox_id: str) -> bool:
        """Whether the app may reach this mailbox."""
        inside = mailbox_id in self.mailbox_ids
        return inside if self.access_right == "RestrictAccess" else not inside


@dataclass(frozen=True, slots=True)
class PermissionSpec:
    """A tenant file's grant: `delegate` may use `mailbox` with `rights` (addresses or UPNs)."""

    mailbox: str
    delegate: str
    rights: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A tenant file's application access policy."""

    client_id: str
    access_right: str
    mailboxes: tuple[str, ...]


async def check_mailbox_access(tx: Tx, actor: Actor, owner: User) -> None:
    """Whether `actor` may reach `owner`'s mailbox at all (resolve calls this for every request).

    Raises:
        AccessDeniedError: an app outside its access policy ("Access to OData is disabled."), or a
            delegated caller on another user's mailbox without FullAccess or a covering `.Shared` scope.
    """
    if actor.is_app:
        policy = await tx.delegation.access_policy(actor.app_id)
        if policy is not None and not policy.allows(owner.id):
            raise AccessDeniedError(ODATA_DISABLED)
        return
    if actor.user_id == owner.id:
        return
    if not actor.reach_shared or actor.user_id is None:
        raise AccessDeniedError()
    if FULL_ACCESS not in await tx.delegation.rights(owner.id, actor.user_id):
        raise AccessDeniedError()


async def sending_identity(
    tx: Tx, actor: Actor | None, owner: User, wanted_from: EmailAddress | None
) -> tuple[EmailAddress, EmailAddress]:
    """The `from` and `sender` of a message sent from `owner`'s mailbox (spec §4.4).

    Args:
        tx: The unit of work.
        actor: The caller; None (or an app) sends as anyone it addresses, the mailbox owner itself.
        owner: The mailbox the message is sent from (its Sent Items gets the copy).
        wanted_from: The message's `from`, if the client set one.

    Returns:
        (from, sender): the represented mailbox and the real sender ("on behalf of" when they differ).

    Raises:
        SendAsDeniedError: `from` names a mailbox the real sender has neither SendAs nor SendOnBehalf on.
    """
    real = owner
    if actor is not None and not actor.is_app and actor.user_id not in (None, owner.id):
        delegate = await tx.directory.get_user(actor.user_id)  # a delegate working in owner's mailbox
        if delegate is None:
            raise SendAsDeniedError()
        real = delegate
    represented = owner
    if wanted_from is not None and wanted_from.key not in _keys(owner):
        found = await tx.directory.find_user(owner.tenant_id, wanted_from.address)
        if found is None:
            raise SendAsDeniedError()
        represented = found
    if represented.id == real.id:
        return real.address, real.address
    if actor is not None and not actor.is_app and not actor.reach_shared:
        raise SendAsDeniedError()  # a delegated caller needs Mail.Send.Shared to represent another (§4.4)
    rights = await tx.delegation.rights(represented.id, real.id)
    if SEND_AS in rights:
        return represented.address, represented.address
    if SEND_ON_BEHALF in rights:
        return represented.address, real.address
    raise SendAsDeniedError()


def _keys(user: User) -> set[str]:
    return {user.mail.casefold(), user.user_principal_name.casefold()}


async def apply(
    tx: Tx,
    tenant_id: str,
    permissions: Sequence[PermissionSpec],
    policies: Sequence[PolicySpec],
    app_ids: Sequence[str],
) -> None:
    """Replace the tenant's mailbox permissions, and the access policies of the declared apps
    (`app_ids`; a declared app without a policy loses any it had). Other tenants are untouched.

    Raises:
        BadRequestError: an unknown user or app, a right that does not exist, or an empty policy group.
    """
    grants: list[MailboxPermission] = []
    for spec in permissions:
        mailbox, delegate = (
            await _user(tx, tenant_id, spec.mailbox),
            await _user(tx, tenant_id, spec.delegate),
        )
        for right in spec.rights:
            canonical = next((r for r in RIGHTS if r.casefold() == right.casefold()), None)
            if canonical is None:
                raise BadRequestError(f"unknown mailbox right {right!r}; use one of {', '.join(RIGHTS)}")
            grants.append(MailboxPermission(mailbox.id, delegate.id, canonical))
    await tx.delegation.replace_permissions(tenant_id, grants)
    for app_id in app_ids:
        if not any(p.client_id == app_id for p in policies):
            await tx.delegation.replace_access_policy(app_id, None)
    for policy in policies:
        mode = next((r for r in POLICY_RIGHTS if r.casefold() == policy.access_right.casefold()), None)
        if mode is None:
            raise BadRequestError(
                f"unknown access right {policy.access_right!r}; use RestrictAccess or DenyAccess"
            )
        app = await tx.directory.get_app(policy.client_id)
        if app is None or app.tenant_id != tenant_id:
            raise BadRequestError(f"access policy for unknown app {policy.client_id!r}")
        members = frozenset([(await _user(tx, tenant_id, m)).id for m in policy.mailboxes])
        if not members:
            raise BadRequestError(f"the access policy of {policy.client_id!r} names no mailbox")
        await tx.delegation.replace_access_policy(
            policy.client_id, AccessPolicy(policy.client_id, mode, members)
        )


async def _user(tx: Tx, tenant_id: str, key: str) -> User:
    found = await tx.directory.find_user(tenant_id, key)
    if found is None:
        raise BadRequestError(f"no user {key!r} in the tenant")
    return found
