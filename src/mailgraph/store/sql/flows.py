"""Authorization codes, device codes and used client-assertion ids (migration 0006).

Single use is decided by a DELETE's row count, not by the read before it: of two transactions taking
the same code, the second one's DELETE finds no row (SQLite serialises writers; on PostgreSQL it waits
for the first to commit, then deletes nothing). The `jti` cache relies on the primary key the same
way (`INSERT … ON CONFLICT DO NOTHING`, portable to PostgreSQL). Times in the rows are microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mailgraph.domain.grants import AuthCode, DeviceCode, Grant
from mailgraph.store.sql.columns import Columns

if TYPE_CHECKING:
    from mailgraph.store.contract import Conn

_CODE_COLUMNS = (
    "tenant_id, client_id, user_id, scopes, oidc, nonce, redirect_uri, challenge, method, expires_at"
)
_DEVICE_COLUMNS = "tenant_id, client_id, scope, base, expires_at, state, user_id, scopes, oidc, user_code"
_CC, _DC = Columns(_CODE_COLUMNS), Columns(_DEVICE_COLUMNS)
_US = 1_000_000


def _micro(seconds: float) -> int:
    return round(seconds * _US)


def _code(r: Sequence[Any]) -> AuthCode:
    grant = Grant(
        r[_CC["tenant_id"]],
        r[_CC["client_id"]],
        r[_CC["user_id"]],
        tuple(r[_CC["scopes"]].split()),
        tuple(r[_CC["oidc"]].split()),
        r[_CC["nonce"]],
    )
    return AuthCode(
        grant, r[_CC["redirect_uri"]], r[_CC["challenge"]], r[_CC["method"]], int(r[_CC["expires_at"]]) / _US
    )


def _device(r: Sequence[Any]) -> DeviceCode:
    state = r[_DC["state"]]
    grant = None
    if state == "approved":
        grant = Grant(
            r[_DC["tenant_id"]],
            r[_DC["client_id"]],
            r[_DC["user_id"]],
            tuple((r[_DC["scopes"]] or "").split()),
            tuple((r[_DC["oidc"]] or "").split()),
        )
    return DeviceCode(
        r[_DC["tenant_id"]],
        r[_DC["client_id"]],
        r[_DC["scope"]],
        r[_DC["user_code"]],
        int(r[_DC["expires_at"]]) / _US,
        r[_DC["base"]],
        grant,
        state == "declined",
    )


class SqlFlows:
    """`domain.ports.FlowRepo` in SQL."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def put_code(self, code_hash: str, code: AuthCode) -> None:
        """Record an issued authorization code."""
        g = code.grant
        await self._conn.execute(
            f"INSERT INTO auth_codes (code_hash, {_CODE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                code_hash,
                g.tenant_id,
                g.client_id,
                g.user_id,
                " ".join(g.scopes),
                " ".join(g.oidc),
                g.nonce,
                code.redirect_uri,
                code.challenge,
                code.method,
                _micro(code.expires_at),
            ),
        )

    async def take_code(self, code_hash: str) -> AuthCode | None:
        """Remove and return a code; None if unknown or taken by another transaction."""
        row = await self._conn.fetch_one(
            f"SELECT {_CODE_COLUMNS} FROM auth_codes WHERE code_hash = ?", (code_hash,)
        )
        if row is None:
            return None
        if await self._conn.execute("DELETE FROM auth_codes WHERE code_hash = ?", (code_hash,)) != 1:
            return None  # lost the race to a concurrent redemption
        return _code(row)

    async def put_device(self, device_hash: str, device: DeviceCode) -> bool:
        """Record a pending device request unless its user code is taken."""
        taken = await self._conn.fetch_one(
            "SELECT 1 FROM device_codes WHERE user_code = ?", (device.user_code,)
        )
        if taken is not None:
            return False
        await self._conn.execute(
            f"INSERT INTO device_codes (device_hash, {_DEVICE_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, 'pending', NULL, NULL, NULL, ?)",
            (
                device_hash,
                device.tenant_id,
                device.client_id,
                device.scope,
                device.base,
                _micro(device.expires_at),
                device.user_code,
            ),
        )
        return True

    async def device(self, device_hash: str) -> DeviceCode | None:
        """A device request by device-code hash."""
        row = await self._conn.fetch_one(
            f"SELECT {_DEVICE_COLUMNS} FROM device_codes WHERE device_hash = ?", (device_hash,)
        )
        return None if row is None else _device(row)

    async def device_by_user_code(self, user_code: str) -> DeviceCode | None:
        """A device request by user code."""
        row = await self._conn.fetch_one(
            f"SELECT {_DEVICE_COLUMNS} FROM device_codes WHERE user_code = ?", (user_code,)
        )
        return None if row is None else _device(row)

    async def decide_device(self, user_code: str, grant: Grant | None) -> bool:
        """Approve or decline a request that is still pending."""
        if grant is None:
            changed = await self._conn.execute(
                "UPDATE device_codes SET state = 'declined' WHERE user_code = ? AND state = 'pending'",
                (user_code,),
            )
        else:
            changed = await self._conn.execute(
                "UPDATE device_codes SET state = 'approved', user_id = ?, scopes = ?, oidc = ?"
                " WHERE user_code = ? AND state = 'pending'",
                (grant.user_id, " ".join(grant.scopes), " ".join(grant.oidc), user_code),
            )
        return changed == 1

    async def take_device(self, device_hash: str) -> bool:
        """Remove a device request; False if it was already gone."""
        return await self._conn.execute("DELETE FROM device_codes WHERE device_hash = ?", (device_hash,)) == 1

    async def use_jti(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        """Record a `jti`; False if it is already recorded (and not yet expired)."""
        await self._conn.execute("DELETE FROM assertion_jtis WHERE expires_at < ?", (_micro(now),))
        added = await self._conn.execute(
            "INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (client_id, jti) DO NOTHING",
            (client_id, jti, _micro(expires_at)),
        )
        return added == 1

    async def purge(self, before: float) -> int:
        """Forget codes and device requests expired before `before`."""
        cutoff = (_micro(before),)
        codes = await self._conn.execute("DELETE FROM auth_codes WHERE expires_at < ?", cutoff)
        return codes + await self._conn.execute("DELETE FROM device_codes WHERE expires_at < ?", cutoff)
