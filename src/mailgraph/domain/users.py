"""Directory reads: `GET /me`, `GET /users`, `GET /users/{id|userPrincipalName}` (issue 15).

Every lookup stays inside the caller's tenant (the token's `tid`): a user of another tenant answers
exactly as an unknown one. How far a token reaches is decided by the permissions (auth/permissions.py
`user_reach`) and handed in: "own" reads only the signed-in user, "basic" every user's basic
properties (the API layer trims the rest), "all" everything. Disabled accounts are directory objects
too: they are listed and readable (their mailboxes are not, domain/mailboxes.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from mailgraph.domain.errors import AccessDeniedError, BadRequestError, DomainError
from mailgraph.domain.mailboxes import ME_NEEDS_DELEGATED
from mailgraph.domain.model import Actor, User
from mailgraph.domain.ports import Tx, UnitOfWork
from mailgraph.odata.ast import Expr
from mailgraph.odata.evaluate import matches

Reach = Literal["own", "basic", "all"]
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class DirectoryObjectNotFoundError(DomainError):
    """No user by that id or userPrincipalName in the caller's tenant (Graph: Request_ResourceNotFound)."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Resource '{key}' does not exist or one of its queried reference-property objects are not present."
        )


class DirectoryAccessDeniedError(AccessDeniedError):
    """A token that may read only its own user asked for another (Graph: Authorization_RequestDenied)."""

    def __init__(self) -> None:
        super().__init__("Insufficient privileges to complete the operation.")


_VALUES: dict[str, Callable[[User], object]] = {
    "id": lambda u: u.id,
    "displayName": lambda u: u.display_name,
    "mail": lambda u: u.mail,
    "userPrincipalName": lambda u: u.user_principal_name,
    "givenName": lambda u: u.profile.given_name,
    "surname": lambda u: u.profile.surname,
    "jobTitle": lambda u: u.profile.job_title,
}


class UserService:
    """The directory read use cases."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def me(self, actor: Actor) -> User:
        """`GET /me`: the signed-in user.

        Raises:
            BadRequestError: an app-only token (no signed-in user).
        """
        if actor.user_id is None:
            raise BadRequestError(ME_NEEDS_DELEGATED)
        user_id = actor.user_id

        async def unit(tx: Tx) -> User:
            found = await tx.directory.get_user(user_id)
            if found is None or found.tenant_id != actor.tenant_id:
                raise DirectoryObjectNotFoundError(user_id)
            return found

        return await self._uow.read(unit)

    async def get(self, actor: Actor, key: str, reach: Reach) -> User:
        """`GET /users/{id | userPrincipalName}` (a GUID is an id; anything else a UPN or address).

        Raises:
            DirectoryObjectNotFoundError: no such user in the caller's tenant.
            DirectoryAccessDeniedError: reach "own" and another user.
        """

        async def unit(tx: Tx) -> User:
            found = await (
                tx.directory.get_user(key.lower())
                if _GUID.match(key)
                else tx.directory.find_user(actor.tenant_id, key)
            )
            if found is None or found.tenant_id != actor.tenant_id:
                if reach == "own":
                    raise DirectoryAccessDeniedError()
                raise DirectoryObjectNotFoundError(key)
            if reach == "own" and found.id != actor.user_id:
                raise DirectoryAccessDeniedError()
            return found

        return await self._uow.read(unit)

    async def list(self, actor: Actor, reach: Reach, where: Expr | None = None) -> list[User]:
        """`GET /users`: the tenant's users by userPrincipalName, optionally only those matching `$filter`.

        Raises:
            DirectoryAccessDeniedError: reach "own" (listing needs User.ReadBasic.All or User.Read.All).
        """
        if reach == "own":
            raise DirectoryAccessDeniedError()

        async def unit(tx: Tx) -> list[User]:
            return await tx.directory.list_users(actor.tenant_id)

        users = await self._uow.read(unit)
        if where is not None:
            users = [u for u in users if matches(where, _getter(u))]
        return users


def _getter(user: User) -> Callable[[tuple[str, ...]], object]:
    """The filterable Graph property values of a user (odata/resources.py USER)."""
    return lambda path: _VALUES[path[0]](user)
