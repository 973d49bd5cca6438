"""Hashing of user passwords and app client secrets (scrypt, RFC 7914).

The stored form is self-describing, `scrypt$n$r$p$salt_b64$hash_b64`, so the cost can be raised later
without invalidating existing hashes: `verify_secret` reads the parameters from the stored string.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Final

_SCHEME: Final = "scrypt"
# RFC 7914 §2 / OWASP minimum for interactive logins: N=2^14 (16 MiB with r=8), r=8, p=1. ~50 ms.
_N: Final = 2**14
_R: Final = 8
_P: Final = 1
_SALT_BYTES: Final = 16
_HASH_BYTES: Final = 32
# Refuse stored parameters that would make a single verify cost unbounded memory or time (a tampered
# or corrupt hash must not become a denial of service): 128 * r * N bytes, capped at 256 MiB.
_MAX_MEM: Final = 256 * 1024 * 1024


def _b64e(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _scrypt(plain: str, salt: bytes, n: int, r: int, p: int, size: int) -> bytes:
    return hashlib.scrypt(
        plain.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEM + 1024 * 1024, dklen=size
    )


def hash_secret(plain: str) -> str:
    """Hash a password or client secret with a fresh random salt.

    Args:
        plain: The secret as the user or app presents it.

    Returns:
        The self-describing hash, `scrypt$16384$8$1$<salt b64>$<hash b64>`.
    """
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(plain, salt, _N, _R, _P, _HASH_BYTES)
    return f"{_SCHEME}${_N}${_R}${_P}${_b64e(salt)}${_b64e(digest)}"


def hash_generated_secret(plain: str) -> str:
    """Hash a secret the server generated itself (≥ 256 random bits), at the cheapest scrypt cost.

    Why cheap is safe here: key stretching protects guessable secrets from offline search; a uniformly
    random 256-bit secret cannot be searched whatever the hash cost. The workbench makes hundreds of
    ephemeral tenants per second, each with an app secret and user passwords; at the interactive cost
    (~50 ms) that would be their whole budget. The stored form stays self-describing, so
    `verify_secret` needs no change. Never use this for a secret a person chose.
    """
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(plain, salt, 2, 1, 1, _HASH_BYTES)
    return f"{_SCHEME}$2$1$1${_b64e(salt)}${_b64e(digest)}"


def verify_secret(plain: str, stored: str) -> bool:
    """Check a presented secret against a stored hash, in constant time.

    Args:
        plain: The presented secret.
        stored: A hash made by `hash_secret` (or with other scrypt parameters).

    Returns:
        True if they match; False on mismatch and on any malformed `stored` value (never raises).
    """
    try:
        scheme, n_s, r_s, p_s, salt_s, hash_s = stored.split("$")
        if scheme != _SCHEME:
            return False
        n, r, p = int(n_s), int(r_s), int(p_s)
        if n < 2 or n & (n - 1) or r < 1 or p < 1 or 128 * r * n > _MAX_MEM or p > 16:
            return False
        salt = base64.b64decode(salt_s, validate=True)
        expected = base64.b64decode(hash_s, validate=True)
        if not salt or not 16 <= len(expected) <= 64:
            return False
        actual = _scrypt(plain, salt, n, r, p, len(expected))
    except (ValueError, binascii.Error, MemoryError, UnicodeError):
        return False
    # compare_digest: the time taken does not reveal how many leading bytes matched.
    return hmac.compare_digest(actual, expected)
