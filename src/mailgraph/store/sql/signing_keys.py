"""Token signing key rows per tenant (`domain.ports.KeyRepo`); their meaning lives in auth/keyring.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailgraph.domain.model import StoredKey, Timestamp

if TYPE_CHECKING:
    from mailgraph.store.contract import Conn

_COLUMNS = "kid, tenant_id, private_key_pem, certificate_pem, created_at, retire_at"


class SqlKeys:
    """`domain.ports.KeyRepo` over one connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def list_keys(self) -> list[StoredKey]:
        """Every key of every tenant, oldest first per tenant."""
        rows = await self._conn.fetch_all(
            f"SELECT {_COLUMNS} FROM signing_keys ORDER BY tenant_id, created_at"
        )
        return [
            StoredKey(r[0], r[1], r[2], r[3], int(r[4]), None if r[5] is None else int(r[5])) for r in rows
        ]

    async def add_key(self, key: StoredKey) -> None:
        """Store a new key (a duplicate kid is a ConflictError from the engine)."""
        await self._conn.execute(
            f"INSERT INTO signing_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (key.kid, key.tenant_id, key.private_key_pem, key.certificate_pem, key.created_at, key.retire_at),
        )

    async def retire_current(self, tenant_id: str, retire_at: Timestamp) -> None:
        """Give the tenant's current key a retire time (it keeps verifying until then)."""
        await self._conn.execute(
            "UPDATE signing_keys SET retire_at = ? WHERE tenant_id = ? AND retire_at IS NULL",
            (retire_at, tenant_id),
        )

    async def delete_retired(self, now: Timestamp) -> int:
        """Drop keys past their retire time."""
        return await self._conn.execute(
            "DELETE FROM signing_keys WHERE retire_at IS NOT NULL AND retire_at <= ?", (now,)
        )
