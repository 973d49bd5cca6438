"""Short-lived, single-use state of the interactive grants: authorization codes and device codes.

Authorization codes (RFC 6749 §4.1, PKCE RFC 7636) live 10 minutes, like Entra's, and are removed on
their first redemption whatever its outcome, so a replayed code always fails (RFC 6749 §4.1.2).
Device codes (RFC 8628) live 15 minutes; the user approves one on the verification page with its
`user_code`, then the polling client redeems it once.

The state is in the store (`ports.FlowRepo`, migration 0006), so a sign-in started at one server
process can finish at another on the same database; codes are kept as their sha256 only. Each call
is one small unit of work. Expired rows stay `_KEEP_EXPIRED_S` past their expiry, so a late poller is
still told `expired_token`, then the next issued code purges them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Final

from mailgraph.domain.grants import AuthCode, DeviceCode, Grant
from mailgraph.domain.ports import Tx, UnitOfWork

__all__ = ["AuthCode", "DeviceCode", "Grant", "PendingFlows", "pkce_matches", "user_code"]

CODE_TTL_S: Final = 600
DEVICE_TTL_S: Final = 900
DEVICE_INTERVAL_S: Final = 5
_KEEP_EXPIRED_S: Final = 3600
# RFC 8628 §6.1: user codes from a reduced alphabet (no vowels, no look-alikes) are easy to type.
_USER_CODE_ALPHABET: Final = "BCDFGHJKLMNPQRSTVWXZ23456789"


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    """RFC 7636 §4.6: S256 compares BASE64URL(SHA256(verifier)) with the challenge; plain compares as is."""
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    else:
        computed = verifier
    return hmac.compare_digest(computed.encode(), challenge.encode())


def user_code() -> str:
    """A new user code: 9 characters of the reduced alphabet (~43 bits)."""
    return "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(9))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


class PendingFlows:
    """Authorization codes and device codes waiting to be redeemed, kept in the store."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], float] = time.time) -> None:
        self._uow = uow
        self._clock = clock

    async def new_code(self, grant: Grant, redirect_uri: str, challenge: str | None, method: str) -> str:
        """Issue an authorization code (opaque, 256 bits of randomness)."""
        code = secrets.token_urlsafe(32)
        now = self._clock()
        record = AuthCode(grant, redirect_uri, challenge, method, now + CODE_TTL_S)

        async def unit(tx: Tx) -> None:
            await tx.flows.purge(now - _KEEP_EXPIRED_S)
            await tx.flows.put_code(_hash(code), record)

        await self._uow.write(unit)
        return code

    async def take_code(self, code: str) -> AuthCode | None:
        """Remove and return a code; None if unknown, already redeemed (here or elsewhere) or expired."""
        key = _hash(code)
        found = await self._uow.write(lambda tx: tx.flows.take_code(key))
        if found is None or found.expires_at <= self._clock():
            return None
        return found

    async def new_device(
        self, tenant_id: str, client_id: str, scope: str, base: str = ""
    ) -> tuple[str, DeviceCode]:
        """Start a device authorization; returns the device code and its record."""
        device_code = secrets.token_urlsafe(32)
        now = self._clock()

        async def unit(tx: Tx) -> DeviceCode:
            await tx.flows.purge(now - _KEEP_EXPIRED_S)
            while True:  # a user code already pending is drawn again (1 in 10^13 per pending code)
                record = DeviceCode(tenant_id, client_id, scope, user_code(), now + DEVICE_TTL_S, base)
                if await tx.flows.put_device(_hash(device_code), record):
                    return record

        return device_code, await self._uow.write(unit)

    async def device_by_user_code(self, code: str) -> DeviceCode | None:
        """The pending device request a user typed the code of (case and dashes ignored)."""
        key = code.replace("-", "").replace(" ", "").upper()
        device = await self._uow.read(lambda tx: tx.flows.device_by_user_code(key))
        if device is None or device.expires_at <= self._clock() or device.state != "pending":
            return None
        return device

    async def decide_device(self, code: str, grant: Grant | None) -> bool:
        """Approve (`grant`) or decline (None) a pending request; False if it was decided meanwhile."""
        return await self._uow.write(lambda tx: tx.flows.decide_device(code, grant))

    async def device(self, device_code: str) -> DeviceCode | None:
        """The device request (expired ones included, so the poller can be told so)."""
        key = _hash(device_code)
        return await self._uow.read(lambda tx: tx.flows.device(key))

    async def finish_device(self, device_code: str) -> bool:
        """Forget a redeemed or refused device request; False if another poller finished it first."""
        key = _hash(device_code)
        return await self._uow.write(lambda tx: tx.flows.take_device(key))

    async def use_jti(self, client_id: str, jti: str, expires_at: float) -> bool:
        """Record a client assertion's `jti`; False if it was used before (a replay, at any process)."""
        now = self._clock()
        return await self._uow.write(lambda tx: tx.flows.use_jti(client_id, jti, expires_at, now))

    def now(self) -> float:
        """The clock these flows run on."""
        return self._clock()
