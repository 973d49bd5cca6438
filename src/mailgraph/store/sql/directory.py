"""Tenant, user and app registration rows; user lookups always filter by tenant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mailgraph.domain.errors import ConflictError
from mailgraph.domain.model import App, Tenant, User
from mailgraph.store.sql import codec
from mailgraph.store.sql.columns import Columns
from mailgraph.store.sql.dialect import in_list

if TYPE_CHECKING:
    from mailgraph.store.contract import Conn
    from mailgraph.store.sql.folder_ids import WellKnownIdCache

_UC = Columns("id, tenant_id, upn, mail, display_name, password_hash, account_enabled, profile_json")
_USER = f"SELECT {_UC.sql} FROM users"
_TC = Columns(
    "id, display_name, domains_json, lockout_threshold, lockout_duration_s, smtp_password_auth, spoofed_mail"
)
_TENANT = f"SELECT {_TC.sql} FROM tenants"
_AC = Columns(
    "client_id, tenant_id, object_id, display_name, secret_hash, allow_public_client,"
    " application_permissions_json, delegated_permissions_json"
)
_APP = f"SELECT {_AC.sql} FROM apps"


def _user(r: Sequence[Any]) -> User:
    return User(
        r[_UC["id"]],
        r[_UC["tenant_id"]],
        r[_UC["upn"]],
        r[_UC["mail"]],
        r[_UC["display_name"]],
        r[_UC["password_hash"]],
        bool(r[_UC["account_enabled"]]),
        codec.profile_from_json(r[_UC["profile_json"]]),
    )


def _tenant(r: Sequence[Any]) -> Tenant:
    return Tenant(
        r[_TC["id"]],
        r[_TC["display_name"]],
        tuple(codec.strings_from_json(r[_TC["domains_json"]])),
        int(r[_TC["lockout_threshold"]]),
        int(r[_TC["lockout_duration_s"]]),
        bool(r[_TC["smtp_password_auth"]]),
        str(r[_TC["spoofed_mail"]]),
    )


def _app(r: Sequence[Any]) -> App:
    return App(
        r[_AC["client_id"]],
        r[_AC["tenant_id"]],
        r[_AC["object_id"]],
        r[_AC["display_name"]],
        r[_AC["secret_hash"]],
        bool(r[_AC["allow_public_client"]]),
        tuple(codec.strings_from_json(r[_AC["application_permissions_json"]])),
        tuple(codec.strings_from_json(r[_AC["delegated_permissions_json"]])),
    )


class SqlDirectory:
    """`domain.ports.DirectoryRepo` over one connection."""

    __slots__ = ("_conn", "_folder_ids")

    def __init__(self, conn: Conn, folder_ids: WellKnownIdCache | None = None) -> None:
        self._conn = conn
        self._folder_ids = folder_ids

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        """A hosted tenant by id."""
        row = await self._conn.fetch_one(f"{_TENANT} WHERE id = ?", (tenant_id,))
        return None if row is None else _tenant(row)

    async def list_tenants(self) -> list[Tenant]:
        """All hosted tenants by id."""
        return [_tenant(r) for r in await self._conn.fetch_all(f"{_TENANT} ORDER BY id")]

    async def tenant_for_domain(self, domain: str) -> Tenant | None:
        """The tenant that verified `domain`.

        Why a scan: domains live in `domains_json` since 0001 and a portable migration cannot unpack
        JSON; a server hosts few tenants, so this is a few rows (a domain table is the next step).
        """
        key = domain.casefold()
        for tenant in await self.list_tenants():
            if key in (d.casefold() for d in tenant.domains):
                return tenant
        return None

    async def put_tenant(self, tenant: Tenant) -> None:
        """Insert or replace this tenant; a domain verified by another tenant is a conflict."""
        mine = {d.casefold() for d in tenant.domains}
        for other in await self.list_tenants():
            taken = mine & {d.casefold() for d in other.domains}
            if other.id != tenant.id and taken:
                raise ConflictError(f"domain {sorted(taken)[0]} belongs to tenant {other.id}")
        values = (
            tenant.display_name,
            codec.strings_to_json(tenant.domains),
            tenant.lockout_threshold,
            tenant.lockout_duration_s,
            int(tenant.smtp_password_auth),
            tenant.spoofed_mail,
            tenant.id,
        )
        changed = await self._conn.execute(
            "UPDATE tenants SET display_name = ?, domains_json = ?, lockout_threshold = ?,"
            " lockout_duration_s = ?, smtp_password_auth = ?, spoofed_mail = ? WHERE id = ?",
            values,
        )
        if not changed:
            await self._conn.execute(
                "INSERT INTO tenants"
                " (display_name, domains_json, lockout_threshold, lockout_duration_s, smtp_password_auth,"
                " spoofed_mail, id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )

    async def get_user(self, user_id: str) -> User | None:
        """A user by object id."""
        row = await self._conn.fetch_one(f"{_USER} WHERE id = ?", (user_id,))
        return None if row is None else _user(row)

    async def find_user(self, tenant_id: str, upn_or_mail: str) -> User | None:
        """A user of this tenant by UPN or primary address, case-insensitively."""
        key = upn_or_mail.casefold()
        row = await self._conn.fetch_one(
            f"{_USER} WHERE (upn_key = ? OR mail_key = ?) AND tenant_id = ?", (key, key, tenant_id)
        )
        return None if row is None else _user(row)

    async def find_users_by_address(self, tenant_id: str, addresses: Sequence[str]) -> dict[str, User]:
        """Users of this tenant by primary address or UPN; keys are casefolded addresses."""
        keys = sorted({a.casefold() for a in addresses})
        if not keys:
            return {}
        by_mail, args = in_list("mail_key", keys)
        by_upn, args2 = in_list("upn_key", keys)
        rows = await self._conn.fetch_all(
            f"{_USER} WHERE ({by_mail} OR {by_upn}) AND tenant_id = ?", [*args, *args2, tenant_id]
        )
        found: dict[str, User] = {}
        for row in rows:
            user = _user(row)
            for key in (user.mail.casefold(), user.user_principal_name.casefold()):
                if key in keys:
                    found[key] = user
        return found

    async def list_users(self, tenant_id: str | None = None) -> list[User]:
        """The users of one tenant (or all) by UPN."""
        if tenant_id is None:
            return [_user(r) for r in await self._conn.fetch_all(f"{_USER} ORDER BY upn_key")]
        rows = await self._conn.fetch_all(f"{_USER} WHERE tenant_id = ? ORDER BY upn_key", (tenant_id,))
        return [_user(r) for r in rows]

    async def put_user(self, user: User) -> None:
        """Insert or update a user by id."""
        values = (
            user.tenant_id,
            user.user_principal_name,
            user.user_principal_name.casefold(),
            user.mail,
            user.mail.casefold(),
            user.display_name,
            user.password_hash,
            int(user.account_enabled),
            codec.profile_to_json(user.profile),
        )
        changed = await self._conn.execute(
            "UPDATE users SET tenant_id = ?, upn = ?, upn_key = ?, mail = ?, mail_key = ?, display_name = ?,"
            " password_hash = ?, account_enabled = ?, profile_json = ? WHERE id = ?",
            (*values, user.id),
        )
        if not changed:
            await self._conn.execute(
                "INSERT INTO users (tenant_id, upn, upn_key, mail, mail_key, display_name, password_hash,"
                " account_enabled, profile_json, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*values, user.id),
            )

    async def delete_user(self, user_id: str) -> bool:
        """Remove a user with their mailbox (folders and messages cascade)."""
        if self._folder_ids is not None:
            self._folder_ids.forget(user_id)
        await self._conn.execute("DELETE FROM messages WHERE mailbox_id = ?", (user_id,))
        await self._conn.execute(  # the folders' counter deltas (migration 0029, no foreign key)
            "DELETE FROM folder_count_deltas WHERE folder_id IN (SELECT id FROM folders WHERE mailbox_id = ?)",
            (user_id,),
        )
        await self._conn.execute("UPDATE folders SET parent_id = NULL WHERE mailbox_id = ?", (user_id,))
        await self._conn.execute("DELETE FROM folders WHERE mailbox_id = ?", (user_id,))
        gone = await self._conn.execute("DELETE FROM users WHERE id = ?", (user_id,)) > 0
        # Changes not numbered yet (migration 0039, no foreign key; the log itself cascades).
        await self._conn.execute("DELETE FROM change_log_pending WHERE mailbox_id = ?", (user_id,))
        return gone

    async def get_app(self, client_id: str) -> App | None:
        """An app registration by client id."""
        row = await self._conn.fetch_one(f"{_APP} WHERE client_id = ?", (client_id,))
        return None if row is None else _app(row)

    async def list_apps(self, tenant_id: str | None = None) -> list[App]:
        """The app registrations of one tenant (or all)."""
        if tenant_id is None:
            return [_app(r) for r in await self._conn.fetch_all(f"{_APP} ORDER BY client_id")]
        rows = await self._conn.fetch_all(f"{_APP} WHERE tenant_id = ? ORDER BY client_id", (tenant_id,))
        return [_app(r) for r in rows]

    async def put_app(self, app: App) -> None:
        """Insert or update an app registration by client id."""
        values = (
            app.tenant_id,
            app.object_id,
            app.display_name,
            app.secret_hash,
            int(app.allow_public_client),
            codec.strings_to_json(app.application_permissions),
            codec.strings_to_json(app.delegated_permissions),
        )
        changed = await self._conn.execute(
            "UPDATE apps SET tenant_id = ?, object_id = ?, display_name = ?, secret_hash = ?,"
            " allow_public_client = ?, application_permissions_json = ?, delegated_permissions_json = ?"
            " WHERE client_id = ?",
            (*values, app.client_id),
        )
        if not changed:
            await self._conn.execute(
                "INSERT INTO apps (tenant_id, object_id, display_name, secret_hash, allow_public_client,"
                " application_permissions_json, delegated_permissions_json, client_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*values, app.client_id),
            )

    async def delete_app(self, client_id: str) -> bool:
        """Remove an app registration."""
        return await self._conn.execute("DELETE FROM apps WHERE client_id = ?", (client_id,)) > 0
