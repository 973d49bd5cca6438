"""Smart lockout of sign-ins, as Entra ID does it (issue 17, defect 3).

After `threshold` failed attempts in a row for one subject (a user's password, on the token endpoint,
the sign-in page or SMTP AUTH; or an app's client secret), the subject is locked for `duration_s`,
doubling with each lock in a row up to 64 times as long. While locked, every attempt is refused before
the secret is even checked (the right one too); once the lock expires the right secret works again,
and a success clears the count. So no lock-out is permanent. The state is in the store (one row per
subject), so several processes sharing one database count together; a failure is counted in one unit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from mailgraph.domain.model import Tenant, Timestamp

if TYPE_CHECKING:
    from mailgraph.domain.ports import Tx, UnitOfWork

SECOND: Final = 1_000_000  # Timestamp units
MAX_GROWTH: Final = 64  # the sixth lock in a row and later last 64 × duration (about an hour at 60 s)


@dataclass(frozen=True, slots=True)
class SignInFailures:
    """The failed attempts of one subject ("user:{id}" or "client:{client_id}")."""

    subject: str
    failures: int
    """Failed attempts since the last success or the last lock."""
    lockouts: int
    """Locks in a row (reset by a success): each lasts twice as long as the one before."""
    locked_until: Timestamp


def user_subject(user_id: str) -> str:
    return f"user:{user_id}"


def client_subject(client_id: str) -> str:
    return f"client:{client_id}"


def is_locked(state: SignInFailures | None, now: Timestamp) -> bool:
    return state is not None and now < state.locked_until


def after_failure(
    state: SignInFailures | None, tenant: Tenant, subject: str, now: Timestamp
) -> SignInFailures:
    """The state after one more failed attempt: locked when it reaches the tenant's threshold."""
    failures = (state.failures if state else 0) + 1
    lockouts = state.lockouts if state else 0
    if failures < tenant.lockout_threshold:
        return SignInFailures(subject, failures, lockouts, state.locked_until if state else 0)
    growth = min(2**lockouts, MAX_GROWTH)
    return SignInFailures(subject, 0, lockouts + 1, now + tenant.lockout_duration_s * SECOND * growth)


class Lockout:
    """The three steps around a secret check: is it locked; count a failure; clear on success.

    Callers read the subject's row (`tx.lockouts.get`) in the snapshot that loads the user or client.
    """

    def __init__(self, uow: UnitOfWork, clock: Callable[[], Timestamp]) -> None:
        self._uow = uow
        self._clock = clock

    def locked(self, state: SignInFailures | None) -> bool:
        """True while a lock holds: refuse without checking the secret."""
        return is_locked(state, self._clock())

    async def failed(self, tenant: Tenant, subject: str) -> bool:
        """Count a failed attempt (one unit of work); True if the subject is now locked."""

        async def count(tx: Tx) -> SignInFailures:
            now = self._clock()
            new = after_failure(await tx.lockouts.get(subject), tenant, subject, now)
            await tx.lockouts.put(new, now)
            return new

        return is_locked(await self._uow.write(count), self._clock())

    async def succeeded(self, state: SignInFailures | None) -> None:
        """Forget the failures after a success (no write when there were none)."""
        if state is not None:
            await self._uow.write(lambda tx: tx.lockouts.clear(state.subject))
