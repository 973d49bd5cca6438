"""The token signing keys of every hosted tenant, kept in the store and mirrored in memory.

Each tenant has one current key (signs new tokens) and the keys rotated out less than
`DEFAULT_RETIRE_AFTER_S` ago (still verify the tokens they signed). The store is the truth, so
several processes on one database sign and verify alike: a process picks up a rotation made by
another one on its periodic refresh, and at once when a token names a kid it does not know
(`TokenService.authenticate`), rate-limited so unknown kids from attackers cost one read per second
at most. Verification looks a kid up in one dict (O(1)); the owner tenant of the key is returned with
it, so a token verifies only when its `tid` is the tenant whose key signed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Final

from joserfc.jwk import RSAKey

from mailgraph.auth.keys import (
    DEFAULT_RETIRE_AFTER_S,
    KeyRingError,
    SigningKey,
    derive_key,
    from_stored,
    new_key,
    private_pem,
    read_key_directory,
    to_stored,
)
from mailgraph.domain.model import StoredKey
from mailgraph.domain.ports import Tx, UnitOfWork

_log = logging.getLogger(__name__)
_US: Final = 1_000_000
REFRESH_S: Final = 60.0
_RELOAD_GAP_S: Final = 1.0

__all__ = ["DEFAULT_RETIRE_AFTER_S", "KeyRing", "KeyRingError", "SigningKey"]


class KeyRing:
    """Per-tenant signing keys; `uow` None keeps them in memory only (tests, one-off tools)."""

    def __init__(self, uow: UnitOfWork | None, *, clock: Callable[[], float] = time.time) -> None:
        self._uow = uow
        self._clock = clock
        self._current: dict[str, SigningKey] = {}
        self._keys: dict[str, list[SigningKey]] = {}  # tenant → live keys, current first
        self._by_kid: dict[str, tuple[str, SigningKey]] = {}
        self._miss_reload_at = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._donor: SigningKey | None = None  # the key pair ephemeral tenants share (`ensure(shared=True)`)
        self._donor_pem = ""  # its private key's PEM, serialised once for all their rows

    # -- reading -------------------------------------------------------------------------------------

    def current(self, tenant_id: str) -> SigningKey:
        """The key that signs the tenant's new tokens (KeyRingError if `ensure` never ran for it)."""
        key = self._current.get(tenant_id)
        if key is None:
            raise KeyRingError(f"tenant {tenant_id} has no signing key")
        return key

    def verifier(self, kid: str) -> tuple[str, RSAKey] | None:
        """The owner tenant and public key of `kid`, or None if unknown or retired."""
        hit = self._by_kid.get(kid)
        if hit is None:
            return None
        key = hit[1]
        if key.retire_at is not None and key.retire_at <= self._clock():
            return None
        return hit[0], key.verifier

    def jwks(self, tenant_id: str) -> dict[str, list[dict[str, object]]]:
        """The tenant's JWK Set (RFC 7517 §5): every key not retired, current key first."""
        now = self._clock()
        live = [k for k in self._keys.get(tenant_id, []) if k.retire_at is None or k.retire_at > now]
        return {"keys": [k.public_jwk() for k in live]}

    # -- loading -------------------------------------------------------------------------------------

    def _install(self, rows: list[StoredKey]) -> None:
        """Replace the in-memory view with `rows` in one assignment each (readers never see a mix)."""
        keys: dict[str, list[SigningKey]] = {}
        current: dict[str, SigningKey] = {}
        by_kid: dict[str, tuple[str, SigningKey]] = {}
        for row in rows:
            key = self._by_kid[row.kid][1] if row.kid in self._by_kid else from_stored(row)
            if key.retire_at != (None if row.retire_at is None else row.retire_at / _US):
                key = replace(key, retire_at=None if row.retire_at is None else row.retire_at / _US)
            by_kid[key.kid] = (row.tenant_id, key)
            keys.setdefault(row.tenant_id, []).append(key)
            if key.retire_at is None:
                current[row.tenant_id] = key
        for tenant_keys in keys.values():
            tenant_keys.sort(key=lambda k: (k.retire_at is not None, -(k.retire_at or 0.0)))
        self._keys, self._current, self._by_kid = keys, current, by_kid

    async def refresh(self, *, min_gap_s: float = 0.0) -> bool:
        """Reload from the store; with `min_gap_s`, at most once per that many seconds (for reloads
        an unknown kid asks for, which anyone can send). Whether it reloaded."""
        if self._uow is None:
            return False
        if min_gap_s > 0:
            if time.monotonic() - self._miss_reload_at < min_gap_s:
                return False
            self._miss_reload_at = time.monotonic()
        self._install(await self._uow.read(lambda tx: tx.keys.list_keys()))
        return True

    async def ensure(
        self, tenant_id: str, *, legacy_dir: Path | None = None, shared: bool = False
    ) -> SigningKey:
        """The tenant's current key, created (or imported from `legacy_dir`) when it has none.

        `legacy_dir` is the pre-store `keys/` directory of a data dir: its keys are imported once, so
        tokens issued before the upgrade stay valid; the files are no longer read afterwards.

        `shared`: the new key reuses this process's donor key pair under a kid (certificate) of its
        own (`derive_key`) — for the workbench's ephemeral tenants, made hundreds per second, where
        generating RSA (50-200 ms) would be the whole cost. Isolation does not rest on the key
        material: a kid belongs to one tenant and a token verifies only for its kid's tenant (`tid`);
        the private key never leaves the server, which signs every token itself.
        """
        if (key := self._current.get(tenant_id)) is not None:
            return key
        # Made by another process (an ephemeral tenant created there)? Load it rather than make one.
        if legacy_dir is None and await self.refresh() and (key := self._current.get(tenant_id)) is not None:
            return key
        now = self._clock()
        legacy = read_key_directory(legacy_dir) if legacy_dir is not None else None
        if legacy is not None:
            current_kid, old = legacy
            fresh = [replace(k, retire_at=None if k.kid == current_kid else k.retire_at) for k in old]
            fresh = [k for k in fresh if k.retire_at is None or k.retire_at > now]
        elif shared:
            if self._donor is None:
                self._donor = await asyncio.to_thread(new_key)
            fresh = [derive_key(self._donor)]
        else:
            fresh = [new_key()]
        rows = [to_stored(k, tenant_id, now) for k in fresh]
        if shared:  # installed as built: parsing the PEM back would cost more than deriving it
            self._by_kid.update({k.kid: (tenant_id, k) for k in fresh})

        async def unit(tx: Tx) -> list[StoredKey]:
            stored = await tx.keys.list_keys()
            # Another process may have created them meanwhile: the first writer wins.
            if not any(k.tenant_id == tenant_id and k.retire_at is None for k in stored):
                for row in rows:
                    await tx.keys.add_key(row)
                stored = [*stored, *rows]
            return stored

        if self._uow is None:
            self._install([*(to_stored(k, t, now) for t, k in self._all()), *rows])
        else:
            self._install(await self._uow.write(unit))
        if legacy is not None:
            _log.info("imported %d signing keys of tenant %s from %s", len(rows), tenant_id, legacy_dir)
        return self.current(tenant_id)

    async def shared(self, tenant_id: str) -> tuple[SigningKey, StoredKey]:
        """A new key for a new tenant on this process's donor key pair (see `ensure(shared=True)`),
        and its store row — for the caller to write in the unit that creates the tenant, then `adopt`.
        Nothing is stored or installed here."""
        if self._donor is None:
            self._donor = await asyncio.to_thread(new_key)
            self._donor_pem = private_pem(self._donor)
        key = derive_key(self._donor)
        return key, to_stored(key, tenant_id, self._clock(), self._donor_pem)

    def adopt(self, tenant_id: str, key: SigningKey) -> None:
        """Install the committed first key of a new tenant (O(1): the other tenants are untouched)."""
        self._current[tenant_id] = key
        self._keys[tenant_id] = [key]
        self._by_kid[key.kid] = (tenant_id, key)

    def forget(self, tenant_id: str) -> None:
        """Drop a deleted tenant's keys from memory (the store's rows went with the tenant)."""
        self._current.pop(tenant_id, None)
        for key in self._keys.pop(tenant_id, ()):  # O(the tenant's keys), not O(every tenant's)
            self._by_kid.pop(key.kid, None)

    def _all(self) -> list[tuple[str, SigningKey]]:
        return [(tenant, key) for tenant, key in self._by_kid.values()]

    async def rotate(self, tenant_id: str, *, retire_after_s: float = DEFAULT_RETIRE_AFTER_S) -> SigningKey:
        """Make a new current key for the tenant; the previous one verifies for `retire_after_s` more.

        `retire_after_s` must cover the longest token lifetime plus clock skew, so no token outlives its
        key. Retired keys are deleted in the same unit.
        """
        await self.ensure(tenant_id)
        now = self._clock()
        new = new_key()
        row = to_stored(new, tenant_id, now)
        retire_at = int((now + retire_after_s) * _US)

        async def unit(tx: Tx) -> list[StoredKey]:
            await tx.keys.retire_current(tenant_id, retire_at)
            await tx.keys.delete_retired(int(now * _US))
            await tx.keys.add_key(row)
            return await tx.keys.list_keys()

        if self._uow is None:
            rows = []
            for tenant, key in self._all():
                if key.retire_at is not None and key.retire_at <= now:
                    continue
                if tenant == tenant_id and key.retire_at is None:
                    key = replace(key, retire_at=retire_at / _US)
                rows.append(to_stored(key, tenant, now))
            self._install([*rows, row])
        else:
            self._install(await self._uow.write(unit))
        return new

    # -- background refresh --------------------------------------------------------------------------

    def start(self, every_s: float = REFRESH_S) -> None:
        """Reload every `every_s` seconds on the running loop (rotations by other processes)."""
        if self._task is None and self._uow is not None:
            self._task = asyncio.get_running_loop().create_task(self._refresher(every_s))

    async def stop(self) -> None:
        """Stop the periodic reload."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _refresher(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.refresh()
            except Exception:  # a failed reload keeps the keys we have; logged, retried next time
                _log.exception("reloading the signing keys failed")
