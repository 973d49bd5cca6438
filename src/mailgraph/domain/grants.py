"""The records of the interactive grants that must outlive one request: authorization codes, device
codes and used client-assertion ids, as the store keeps them (`ports.FlowRepo`).

They are plain data: the rules (lifetimes, PKCE, single use, polling states) live in `auth/flows.py`.
They are in the store, not in process memory, so that a code issued by one server process can be
redeemed at another process on the same database, exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DeviceState = Literal["pending", "approved", "declined"]


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
    """An issued authorization code and the request it answers (`expires_at` in seconds)."""

    grant: Grant
    redirect_uri: str
    challenge: str | None
    method: str
    expires_at: float


@dataclass(frozen=True, slots=True)
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

    @property
    def state(self) -> DeviceState:
        """Where the user left the request."""
        return "declined" if self.denied else "pending" if self.grant is None else "approved"
