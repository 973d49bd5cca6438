"""Mailbox permissions, application access policies and app certificates (migration 0004)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mailgraph.domain.delegation import AccessPolicy, MailboxPermission, PolicyRight

if TYPE_CHECKING:
    from mailgraph.store.contract import Conn


class SqlDelegation:
    """`domain.ports.DelegationRepo` over one connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def rights(self, mailbox_id: str, delegate_id: str) -> frozenset[str]:
        """The rights `delegate_id` holds on `mailbox_id`."""
        rows = await self._conn.fetch_all(
            "SELECT access_right FROM mailbox_permissions WHERE mailbox_id = ? AND delegate_id = ?",
            (mailbox_id, delegate_id),
        )
        return frozenset(r[0] for r in rows)

    async def list_permissions(self) -> list[MailboxPermission]:
        """Every grant, ordered by mailbox, delegate and right."""
        rows = await self._conn.fetch_all(
            "SELECT mailbox_id, delegate_id, access_right FROM mailbox_permissions"
            " ORDER BY mailbox_id, delegate_id, access_right"
        )
        return [MailboxPermission(r[0], r[1], r[2]) for r in rows]

    async def replace_permissions(self, tenant_id: str, permissions: Sequence[MailboxPermission]) -> None:
        """Replace the grants on this tenant's mailboxes with `permissions` (duplicates collapse)."""
        await self._conn.execute(
            "DELETE FROM mailbox_permissions WHERE mailbox_id IN (SELECT id FROM users WHERE tenant_id = ?)",
            (tenant_id,),
        )
        for p in dict.fromkeys(permissions):
            await self._conn.execute(
                "INSERT INTO mailbox_permissions (mailbox_id, delegate_id, access_right) VALUES (?, ?, ?)",
                (p.mailbox_id, p.delegate_id, p.right),
            )

    async def access_policy(self, client_id: str) -> AccessPolicy | None:
        """The app's access policy, or None when it reaches every mailbox."""
        rows = await self._conn.fetch_all(
            "SELECT access_right, mailbox_id FROM app_access_policies WHERE client_id = ?", (client_id,)
        )
        if not rows:
            return None
        right: PolicyRight = "RestrictAccess" if any(r[0] == "RestrictAccess" for r in rows) else "DenyAccess"
        return AccessPolicy(client_id, right, frozenset(r[1] for r in rows))

    async def replace_access_policy(self, client_id: str, policy: AccessPolicy | None) -> None:
        """Set (or with None, remove) the app's access policy."""
        await self._conn.execute("DELETE FROM app_access_policies WHERE client_id = ?", (client_id,))
        if policy is None:
            return
        for mailbox_id in sorted(policy.mailbox_ids):
            await self._conn.execute(
                "INSERT INTO app_access_policies (client_id, access_right, mailbox_id) VALUES (?, ?, ?)",
                (client_id, policy.access_right, mailbox_id),
            )

    async def certificates(self, client_id: str) -> list[str]:
        """The PEM certificates registered on the app."""
        rows = await self._conn.fetch_all(
            "SELECT pem FROM app_certificates WHERE client_id = ? ORDER BY thumbprint", (client_id,)
        )
        return [r[0] for r in rows]

    async def replace_certificates(self, client_id: str, certificates: Sequence[tuple[str, str]]) -> None:
        """Replace the app's certificates with `(thumbprint, pem)` pairs."""
        await self._conn.execute("DELETE FROM app_certificates WHERE client_id = ?", (client_id,))
        for thumbprint, pem in dict(certificates).items():
            await self._conn.execute(
                "INSERT INTO app_certificates (client_id, thumbprint, pem) VALUES (?, ?, ?)",
                (client_id, thumbprint, pem),
            )
