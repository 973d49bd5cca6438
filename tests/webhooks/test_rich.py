"""Rich notifications: encryptedContent decrypted the way Microsoft's samples do, and validationTokens."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.webhooks.conftest import ServeFn
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_notifications import expiry, send_to


def certificate(bits: int = 2048) -> tuple[rsa.RSAPrivateKey, str]:
    """A self-signed certificate, base64 DER as Graph's docs export it (public key only)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, base64.b64encode(cert.public_bytes(Encoding.DER)).decode()


def decrypt(private_key: rsa.RSAPrivateKey, content: dict[str, Any]) -> dict[str, Any]:
    """concepts/change-notifications-with-resource-data.md, step by step (as the C#/Java samples)."""
    # 3. the symmetric key: RSA with OAEP padding (RSA/ECB/OAEPWithSHA1AndMGF1Padding)
    key = private_key.decrypt(
        base64.b64decode(content["dataKey"]), OAEP(MGF1(hashes.SHA1()), hashes.SHA1(), None)
    )
    # 4. HMAC-SHA256 of the (still encrypted) data must equal dataSignature
    data = base64.b64decode(content["data"])
    expected = base64.b64decode(content["dataSignature"])
    assert hmac.compare_digest(hmac.new(key, data, hashlib.sha256).digest(), expected)
    # 5. AES, CBC, PKCS7, IV = the first 16 bytes of the key
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    result: dict[str, Any] = orjson.loads(unpadder.update(padded) + unpadder.finalize())
    return result


async def test_rich_notification_decrypts_like_the_samples(serve: ServeFn, receiver: Receiver) -> None:
    s = await serve()
    bob = s.token("bob", "Mail.Read")
    private_key, cert = certificate()
    body = {
        "changeType": "created",
        "notificationUrl": f"{receiver.url}/rich",
        "resource": "/me/mailFolders('inbox')/messages?$select=subject,from,isRead",
        "expirationDateTime": expiry(1400),
        "includeResourceData": True,
        "encryptionCertificate": cert,
        "encryptionCertificateId": "my-cert-1",
        "clientState": "rich-state",
    }
    r = await s.client.post("/v1.0/subscriptions", json=body, headers=bob)
    assert r.status_code == 201, r.text
    assert r.json()["includeResourceData"] is True
    await send_to(s, "alice", "bob@fabrikam.test", "secret subject")
    items = await receiver.wait_for(lambda i: len(i) >= 1)
    item = items[0]
    content = item["encryptedContent"]
    assert content["encryptionCertificateId"] == "my-cert-1"
    der = base64.b64decode(cert)
    assert content["encryptionCertificateThumbprint"] == hashlib.sha1(der).hexdigest().upper()
    resource = decrypt(private_key, content)
    assert resource["subject"] == "secret subject"
    assert resource["from"]["emailAddress"]["address"] == "alice@fabrikam.test"
    assert resource["isRead"] is False
    assert resource["id"] == item["resourceData"]["id"]
    assert "body" not in resource

    # validationTokens: verifiable with our JWKS; aud = the app, iss = sts.windows.net/{tid}/, appid = publisher
    tenant = s.runtime.tenant.id
    batch = receiver.posts[0].body
    assert len(batch["validationTokens"]) == 1
    r = await s.client.get(f"/{tenant}/discovery/v2.0/keys")
    assert r.status_code == 200, r.text
    token = jwt.decode(batch["validationTokens"][0], KeySet.import_key_set(r.json()))
    claims = token.claims
    assert claims["aud"] == "full-app"
    assert claims["iss"] == f"https://sts.windows.net/{tenant}/"
    assert claims["appid"] == "0bf30f3b-4a52-48df-9a82-234910c4a086"
    assert claims["tid"] == tenant
    jwt.JWTClaimsRegistry(exp={"essential": True}, nbf={"essential": True}).validate(claims)


async def test_rich_notification_rules(serve: ServeFn, receiver: Receiver) -> None:
    s = await serve()
    bob = s.token("bob", "Mail.Read")
    _, cert = certificate()
    _, small = certificate(1024)
    base = {
        "changeType": "created",
        "notificationUrl": f"{receiver.url}/rich",
        "resource": "/me/messages?$select=subject",
        "expirationDateTime": expiry(1400),
        "includeResourceData": True,
        "encryptionCertificate": cert,
        "encryptionCertificateId": "c",
    }
    cases: list[tuple[dict[str, Any], str]] = [
        ({"encryptionCertificate": None}, "encryptionCertificate"),
        ({"encryptionCertificateId": None}, "encryptionCertificateId"),
        ({"resource": "/me/messages"}, "$select"),
        ({"resource": "/me/messages?$select=subject,body"}, "Body"),
        ({"resource": "/me/messages?$select=subject&$top=5"}, "$top"),
        ({"expirationDateTime": expiry(1500)}, "1440 minutes"),
        ({"encryptionCertificate": small}, "2048"),
        ({"encryptionCertificate": "bm90IGEgY2VydA=="}, "certificate"),
    ]
    for change, words in cases:
        r = await s.client.post("/v1.0/subscriptions", json={**base, **change}, headers=bob)
        assert r.status_code == 400, (change, r.text)
        assert r.json()["error"]["code"] == "InvalidRequest"
        assert words in r.json()["error"]["message"], (change, r.text)
    assert receiver.validations == []  # refused before any handshake
