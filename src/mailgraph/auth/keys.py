"""The RSA keys that sign this server's tokens, kept in a directory and published as a JWKS.

Layout of the directory (the data dir's `keys/`, mode 0700):

- `<kid>.key.pem`: the PKCS#8 private key, mode 0600;
- `<kid>.crt.pem`: a self-signed certificate for it, so the JWKS can carry `x5c` and `x5t` the way
  Entra's `/discovery/v2.0/keys` does (spec §4.1);
- `keyring.json`: `{"current": kid, "keys": {kid: {"retire_at": epoch seconds | null}}}`, the commit
  point: key files are written first, then this file replaces the old one atomically.

`kid` is the certificate's `x5t` (base64url SHA-1 of the DER certificate, RFC 7517 §4.8), as Entra
does. Rotation makes a new current key and keeps the old public keys valid until their retire time,
so tokens signed just before a rotation still verify until they expire.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc.jwk import RSAKey

from mailgraph.files import write_atomic

# Longest token lifetime Entra uses (90 min, spec §4.2) plus the 5 min clock skew verifiers allow.
DEFAULT_RETIRE_AFTER_S: Final = 90 * 60 + 5 * 60
_STATE: Final = "keyring.json"
_KEY_BITS: Final = 2048
_CERT_YEARS: Final = 5


class KeyRingError(Exception):
    """The key directory exists but its contents are inconsistent or unreadable."""


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int) -> str:
    # RFC 7518 §6.3.1: n and e are Base64urlUInt, big-endian with no leading zero octets.
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One RSA key pair with its certificate; `retire_at` is None for keys not scheduled to retire.

    `jwk` (private, signs) and `verifier` (public) are the joserfc forms, imported once, not per token.
    """

    kid: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    certificate_der: bytes = field(repr=False)
    jwk: RSAKey = field(repr=False, compare=False)
    verifier: RSAKey = field(repr=False, compare=False)
    retire_at: float | None = None

    @classmethod
    def build(
        cls, private_key: rsa.RSAPrivateKey, certificate_der: bytes, retire_at: float | None = None
    ) -> SigningKey:
        """Wrap a key pair, deriving the kid from the certificate and the joserfc keys once."""
        # x5t is defined as a SHA-1 thumbprint (RFC 7515 §4.1.7); it names the key, it secures nothing.
        thumb = x509.load_der_x509_certificate(certificate_der).fingerprint(hashes.SHA1())  # noqa: S303
        return cls(
            kid=_b64url(thumb),
            private_key=private_key,
            certificate_der=certificate_der,
            jwk=RSAKey.import_key(private_key),
            verifier=RSAKey.import_key(private_key.public_key()),
            retire_at=retire_at,
        )

    @property
    def x5t(self) -> str:
        """The base64url SHA-1 thumbprint of the certificate (equal to `kid`)."""
        return self.kid

    def public_jwk(self) -> dict[str, object]:
        """The public key as a JWKS entry in Entra's shape (kty, use, kid, x5t, n, e, x5c)."""
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.x5t,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
            # RFC 7517 §4.7: x5c entries are standard base64 (not base64url) DER.
            "x5c": [base64.b64encode(self.certificate_der).decode("ascii")],
        }


def _new_key() -> SigningKey:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailgraph token signing")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * _CERT_YEARS))
        .sign(private_key, hashes.SHA256())
    )
    return SigningKey.build(private_key, cert.public_bytes(serialization.Encoding.DER))


class KeyRing:
    """The signing keys of one data directory: one current key plus retiring ones."""

    def __init__(
        self, directory: Path, keys: dict[str, SigningKey], current: str, clock: Callable[[], float]
    ) -> None:
        self._dir = directory
        self._keys = keys
        self._current = current
        self._clock = clock

    @classmethod
    def load_or_create(cls, directory: Path, *, clock: Callable[[], float] = time.time) -> KeyRing:
        """Load the keys in `directory`, creating the directory and a first key if there are none.

        Args:
            directory: Where the keys live (created with mode 0700 if missing).
            clock: Seconds since the epoch; decides which keys have retired.

        Returns:
            The key ring; keys whose retire time has passed are dropped (and their files removed).

        Raises:
            KeyRingError: `keyring.json` exists but is corrupt or names a current key that is missing.
        """
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        state_path = directory / _STATE
        if not state_path.exists():
            first = _new_key()
            ring = cls(directory, {first.kid: first}, first.kid, clock)
            ring._save()
            return ring
        try:
            state = orjson.loads(state_path.read_bytes())
            current = state["current"]
            entries: dict[str, dict[str, float | None]] = state["keys"]
            keys: dict[str, SigningKey] = {}
            for kid, meta in entries.items():
                if (key := cls._load_key(directory, kid, meta.get("retire_at"))) is not None:
                    keys[kid] = key
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyRingError(f"unreadable key ring in {directory}: {exc}") from exc
        if current not in keys:
            raise KeyRingError(f"current signing key {current!r} is missing from {directory}")
        ring = cls(directory, keys, current, clock)
        ring._prune()
        return ring

    @staticmethod
    def _load_key(directory: Path, kid: str, retire_at: float | None) -> SigningKey | None:
        key_path, crt_path = directory / f"{kid}.key.pem", directory / f"{kid}.crt.pem"
        if not key_path.exists() or not crt_path.exists():
            return None
        private_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} is not an RSA key")
        cert = x509.load_pem_x509_certificate(crt_path.read_bytes())
        key = SigningKey.build(private_key, cert.public_bytes(serialization.Encoding.DER), retire_at)
        if key.kid != kid:
            raise ValueError(f"{crt_path} does not match kid {kid}")
        return key

    @property
    def current(self) -> SigningKey:
        """The key that signs new tokens."""
        return self._keys[self._current]

    def _live(self) -> list[SigningKey]:
        now = self._clock()
        live = [k for k in self._keys.values() if k.retire_at is None or k.retire_at > now]
        live.sort(key=lambda k: k.kid != self._current)  # current first, like Entra's key order
        return live

    def jwks(self) -> dict[str, list[dict[str, object]]]:
        """The JWK Set (RFC 7517 §5) of every key that has not retired, current key first."""
        return {"keys": [k.public_jwk() for k in self._live()]}

    def public_key(self, kid: str) -> RSAKey | None:
        """The verification key with this kid, or None if unknown or retired."""
        key = self._keys.get(kid)
        if key is None or (key.retire_at is not None and key.retire_at <= self._clock()):
            return None
        return key.verifier

    def rotate(self, *, retire_after_s: float = DEFAULT_RETIRE_AFTER_S) -> SigningKey:
        """Make a new current key; the previous one keeps verifying for `retire_after_s` seconds.

        Args:
            retire_after_s: How long the old key stays valid; at least the longest token lifetime
                plus clock skew, so no token outlives its key.

        Returns:
            The new current key.
        """
        new = _new_key()
        old = self.current
        keys = dict(self._keys)
        keys[old.kid] = replace(old, retire_at=self._clock() + retire_after_s)
        keys[new.kid] = new
        self._keys, self._current = keys, new.kid
        self._save()
        self._prune()
        return new

    def _save(self) -> None:
        for key in self._keys.values():
            key_path = self._dir / f"{key.kid}.key.pem"
            if not key_path.exists():
                pem = key.private_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                write_atomic(key_path, pem, 0o600)
                crt = x509.load_der_x509_certificate(key.certificate_der)
                write_atomic(
                    self._dir / f"{key.kid}.crt.pem", crt.public_bytes(serialization.Encoding.PEM), 0o644
                )
        keys = {k.kid: {"retire_at": k.retire_at} for k in self._keys.values()}
        state = {"current": self._current, "keys": keys}
        write_atomic(self._dir / _STATE, orjson.dumps(state, option=orjson.OPT_INDENT_2), 0o600)

    def _prune(self) -> None:
        """Forget retired keys: first in keyring.json, then their files."""
        live = {k.kid for k in self._live()}
        gone = [kid for kid in self._keys if kid not in live]
        if not gone:
            return
        self._keys = {kid: k for kid, k in self._keys.items() if kid in live}
        self._save()
        for kid in gone:
            for suffix in (".key.pem", ".crt.pem"):
                with contextlib.suppress(FileNotFoundError):
                    (self._dir / f"{kid}{suffix}").unlink()
