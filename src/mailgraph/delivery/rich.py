"""Rich notifications: `encryptedContent` and `validationTokens` exactly as Microsoft's samples check them.

concepts/change-notifications-with-resource-data.md: per item a random 32-byte key, wrapped with the
subscriber's RSA public key using OAEP with SHA-1 (.NET `RSACryptoServiceProvider.Decrypt(fOAEP: true)`,
Java `RSA/ECB/OAEPWithSHA1AndMGF1Padding`); the resource JSON encrypted with AES-256-CBC, PKCS7 padding,
IV = the key's first 16 bytes; `dataSignature` = base64 HMAC-SHA256 over the ciphertext bytes keyed
with the same key. `encryptionCertificateThumbprint` is the certificate's SHA-1 thumbprint (hex, as
Windows shows it).

`validationTokens`: one JWT per app and tenant of a batch, signed with the tenant's current key
(auth/keyring.py, verifiable with our JWKS), `aud` = the app id, `iss` = https://sts.windows.net/{tid}/,
`appid` = Graph's change-notification publisher.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from typing import Final

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from joserfc import jws

from mailgraph.auth.claims import v1_issuer
from mailgraph.auth.keyring import KeyRing
from mailgraph.domain.subscriptions import SubscriptionError

PUBLISHER_APP_ID: Final = "0bf30f3b-4a52-48df-9a82-234910c4a086"
"""The `appid` of Microsoft Graph's change-notification publisher (receivers check it)."""
TOKEN_LIFETIME_S: Final = 3600
_REGISTRY: Final = jws.JWSRegistry(algorithms=["RS256"])


def load_certificate(text: str) -> x509.Certificate:
    """The subscriber's certificate: base64 DER (what Graph documents) or PEM; RSA 2048–4096 bits.

    Raises:
        SubscriptionError: not a certificate, not RSA, or a key size outside 2048–4096.
    """
    try:
        if "-----BEGIN" in text:
            cert = x509.load_pem_x509_certificate(text.encode("ascii"))
        else:
            cert = x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise SubscriptionError(
            "encryptionCertificate is not a valid base64-encoded X.509 certificate."
        ) from None
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or not 2048 <= key.key_size <= 4096:
        raise SubscriptionError("encryptionCertificate must hold an RSA public key of 2048 to 4096 bits.")
    return cert


def encrypt(cert: x509.Certificate, certificate_id: str, plaintext: bytes) -> dict[str, str]:
    """The `encryptedContent` of one item."""
    key = secrets.token_bytes(32)
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)  # load_certificate checked it
    sha1 = hashes.SHA1()  # noqa: S303 - Graph's scheme: the samples decrypt with OAEP SHA-1
    wrapped = public.encrypt(key, OAEP(mgf=MGF1(algorithm=sha1), algorithm=sha1, label=None))
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    data = encryptor.update(padded) + encryptor.finalize()
    signature = hmac.new(key, data, hashlib.sha256).digest()
    thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - a thumbprint, as Windows shows it
    return {
        "data": base64.b64encode(data).decode("ascii"),
        "dataSignature": base64.b64encode(signature).decode("ascii"),
        "dataKey": base64.b64encode(wrapped).decode("ascii"),
        "encryptionCertificateId": certificate_id,
        "encryptionCertificateThumbprint": thumbprint,
    }


def validation_token(keyring: KeyRing, tenant_id: str, app_id: str, now_s: int) -> str:
    """A validation token for one app of one tenant, signed with the tenant's current key."""
    key = keyring.current(tenant_id)
    iss = v1_issuer(tenant_id)
    claims = {
        "aud": app_id,
        "iss": iss,
        "iat": now_s,
        "nbf": now_s,
        "exp": now_s + TOKEN_LIFETIME_S,
        "aio": base64.b64encode(os.urandom(24)).decode("ascii"),
        "appid": PUBLISHER_APP_ID,
        "appidacr": "2",
        "idp": iss,
        "tid": tenant_id,
        "uti": secrets.token_urlsafe(16),
        "ver": "1.0",
    }
    header = {"typ": "JWT", "alg": "RS256", "x5t": key.x5t, "kid": key.kid}
    return jws.serialize_compact(header, orjson.dumps(claims), key.jwk, registry=_REGISTRY)
