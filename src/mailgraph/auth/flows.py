"""Short-lived, single-use state of the interactive grants: authorization codes and device codes.

Authorization codes (RFC 6749 §4.1, PKCE RFC 7636) live 10 minutes, like Entra's, and are removed on
their first redemption whatever its outcome, so a replayed code always fails (RFC 6749 §4.1.2).
Device codes (RFC 8628) live 15 minutes; the user approves one on the verification page with its
`user_code`, then the polling client redeems it once.

The state is in memory, per process: a restart forgets pending sign-ins (the user signs in again),
which costs less than a table for data that must be gone within minutes anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

CODE_TTL_S: Final = 600
DEVICE_TTL_S: Final = 900
DEVICE_INTERVAL_S: Final = 5
_MAX_PENDING: Final = 10_000  # bounded memory: the oldest pending entries are dropped first
# RFC 8628 §6.1: user codes from a reduced alphabet (no vowels, no look-alikes) are easy to type.
_USER_CODE_ALPHABET: Final = "BCDFGHJKLMNPQRSTVWXZ23456789"


@dataclass(frozen=True, slots=True)
class Grant:
    """What a user consented to: who, through which client, which scopes (Graph and OpenID)."""

    tenant_id: str
    client_id: str
    user_id: str
    scopes: tuple[str, ...]
    oidc: tuple[str, ...]
    nonce: str | None = None


@dataclass(frozen=True, slots=True)
class AuthCode:
    """An issued authorization code and the request it answers."""

    grant: Grant
    redirect_uri: str
    challenge: str | None
    method: str
    expires_at: float


@dataclass(slots=True)
class DeviceCode:
    """A device authorization request; `grant` is set once the user approved it."""

    tenant_id: str
    client_id: str
    scope: str
    user_code: str
    expires_at: float
    base: str = ""  # the authority the device called, for scopes naming this server's own host
    grant: Grant | None = None
    denied: bool = False
    polled_at: float = field(default=0.0)


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    """RFC 7636 §4.6: S256 compares BASE64URL(SHA256(verifier)) with the challenge; plain compares as is."""
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    else:
        computed = verifier
    return hmac.compare_digest(computed.encode(), challenge.encode())


def _user_code() -> str:
    return "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(9))


class PendingFlows:
    """Authorization codes and device codes waiting to be redeemed."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._codes: dict[str, AuthCode] = {}
        self._devices: dict[str, DeviceCode] = {}
        self._by_user_code: dict[str, str] = {}

    def _trim(self) -> None:
        now = self._clock()
        for table in (self._codes, self._devices):
            for key in [k for k, v in table.items() if v.expires_at <= now]:
                table.pop(key, None)
            while len(table) > _MAX_PENDING:
                table.pop(next(iter(table)), None)
        self._by_user_code = {u: d for u, d in self._by_user_code.items() if d in self._devices}

    def new_code(self, grant: Grant, redirect_uri: str, challenge: str | None, method: str) -> str:
        """Issue an authorization code (opaque, 256 bits of randomness)."""
        self._trim()
        code = secrets.token_urlsafe(32)
        self._codes[code] = AuthCode(grant, redirect_uri, challenge, method, self._clock() + CODE_TTL_S)
        return code

    def take_code(self, code: str) -> AuthCode | None:
        """Remove and return a code; None if unknown, already redeemed or expired."""
        found = self._codes.pop(code, None)
        if found is None or found.expires_at <= self._clock():
            return None
        return found

    def new_device(
        self, tenant_id: str, client_id: str, scope: str, base: str = ""
    ) -> tuple[str, DeviceCode]:
        """Start a device authorization; returns the device code and its record."""
        self._trim()
        device_code = secrets.token_urlsafe(32)
        user_code = _user_code()
        while user_code in self._by_user_code:
            user_code = _user_code()
        record = DeviceCode(tenant_id, client_id, scope, user_code, self._clock() + DEVICE_TTL_S, base)
        self._devices[device_code] = record
        self._by_user_code[user_code] = device_code
        return device_code, record

    def device_by_user_code(self, user_code: str) -> DeviceCode | None:
        """The pending device request a user typed the code of (case and dashes ignored)."""
        key = user_code.replace("-", "").replace(" ", "").upper()
        device = self._devices.get(self._by_user_code.get(key, ""))
        if device is None or device.expires_at <= self._clock() or device.grant is not None:
            return None
        return device

    def device(self, device_code: str) -> DeviceCode | None:
        """The device request (expired ones included, so the poller can be told so)."""
        return self._devices.get(device_code)

    def finish_device(self, device_code: str) -> None:
        """Forget a redeemed or refused device request."""
        record = self._devices.pop(device_code, None)
        if record is not None:
            self._by_user_code.pop(record.user_code, None)

    def now(self) -> float:
        """The clock these flows run on."""
        return self._clock()
