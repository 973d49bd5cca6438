"""One RSA signing key (kid, JWK forms, certificate), its PEM form in the store, and the old key files.

Keys live in the store per tenant (auth/keyring.py). Before that, one data directory had one key ring
in `keys/`, which `read_key_directory` still reads once, to import it (tokens issued before an upgrade
keep verifying). Layout of that directory (mode 0700):

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
import datetime as dt
import hashlib
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc.jwk import RSAKey

from mailgraph.domain.model import StoredKey

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


def new_key() -> SigningKey:
    """A fresh RSA key pair with its self-signed certificate."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)
    return SigningKey.build(private_key, _certificate(private_key))


def derive_key(base: SigningKey) -> SigningKey:
    """A key with `base`'s key pair under a certificate (so a kid) of its own, in ~1 ms instead of
    the ~50-200 ms of generating RSA: the test workbench's ephemeral tenants (auth/keyring.py).
    The joserfc forms of `base` are reused; the kid is what names a key's owner tenant."""
    der = _certificate(base.private_key)
    thumb = hashlib.sha1(der, usedforsecurity=False).digest()  # the x5t: a name (as `build`, unparsed)
    return replace(base, kid=_b64url(thumb), certificate_der=der, retire_at=None)


def _certificate(private_key: rsa.RSAPrivateKey) -> bytes:
    """A self-signed DER certificate for the key (its SHA-1 thumbprint is the kid)."""
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
    return cert.public_bytes(serialization.Encoding.DER)


_US = 1_000_000  # the store keeps microseconds; keys keep seconds (the clock tokens use)


def private_pem(key: SigningKey) -> str:
    """The key's PKCS#8 private key as PEM (the store's form)."""
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode("ascii")


def to_stored(key: SigningKey, tenant_id: str, created_at_s: float, pem: str | None = None) -> StoredKey:
    """The store's row for `key`: PKCS#8 private key and certificate as PEM (`pem`: the private key's,
    when the caller has it already — keys derived from one key pair share it)."""
    crt = ssl.DER_cert_to_PEM_cert(key.certificate_der)  # the same text as cryptography's, unparsed
    retire = None if key.retire_at is None else int(key.retire_at * _US)
    return StoredKey(key.kid, tenant_id, pem or private_pem(key), crt, int(created_at_s * _US), retire)


def from_stored(row: StoredKey) -> SigningKey:
    """The signing key of a stored row (raises KeyRingError when it does not parse or match its kid)."""
    retire = None if row.retire_at is None else row.retire_at / _US
    key = _from_pem(row.private_key_pem.encode("ascii"), row.certificate_pem.encode("ascii"), retire)
    if key.kid != row.kid:
        raise KeyRingError(f"stored key {row.kid} does not match its certificate")
    return key


def _from_pem(key_pem: bytes, cert_pem: bytes, retire_at: float | None) -> SigningKey:
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise KeyRingError(f"unreadable signing key: {exc}") from exc
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise KeyRingError("a signing key is not an RSA key")
    return SigningKey.build(private_key, cert.public_bytes(serialization.Encoding.DER), retire_at)


def read_key_directory(directory: Path) -> tuple[str, list[SigningKey]] | None:
    """The current kid and keys of a pre-store `keys/` directory, or None if there is none.

    Raises:
        KeyRingError: `keyring.json` exists but is corrupt or names a current key that is missing.
    """
    state_path = directory / _STATE
    if not state_path.exists():
        return None
    try:
        state = orjson.loads(state_path.read_bytes())
        current = state["current"]
        entries: dict[str, dict[str, float | None]] = state["keys"]
        keys: list[SigningKey] = []
        for kid, meta in entries.items():
            key_path, crt_path = directory / f"{kid}.key.pem", directory / f"{kid}.crt.pem"
            if key_path.exists() and crt_path.exists():
                key = _from_pem(key_path.read_bytes(), crt_path.read_bytes(), meta.get("retire_at"))
                if key.kid != kid:
                    raise ValueError(f"{crt_path} does not match kid {kid}")
                keys.append(key)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyRingError(f"unreadable key ring in {directory}: {exc}") from exc
    if current not in {k.kid for k in keys}:
        raise KeyRingError(f"current signing key {current!r} is missing from {directory}")
    return current, keys
