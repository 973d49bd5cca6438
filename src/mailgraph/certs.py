"""TLS built in: a local certificate authority and a server certificate, kept in the data directory.

The identity libraries accept only https authorities (client-wire fact 8), so `mailgraph serve --tls`
must serve https without the user running openssl. On first use this module creates, under
`<data dir>/tls/`:

- `ca.crt.pem` / `ca.key.pem`: a local CA (EC P-256, 10 years); the file clients are told to trust;
- `server.crt.pem` / `server.key.pem`: a server certificate signed by that CA for `localhost`,
  `127.0.0.1`, `::1` and any extra names, reissued when a name it lacks is asked for.

The certificates carry what strict verifiers demand (RFC 5280 §4.2: basicConstraints critical on the
CA, key usages, subject/authority key identifiers, SANs and no reliance on the CN), so OpenSSL 3 with
`VERIFY_X509_STRICT`, requests/urllib3, httpx, aiohttp and Node all accept them. Key files are 0600.
The SMTP listener's STARTTLS uses `server_context` with the same files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailgraph.files import write_atomic

DEFAULT_NAMES: Final = ("localhost", "127.0.0.1", "::1")
_CA_DAYS: Final = 3650
# 397 days: the longest validity browsers and Apple's TLS stack accept for a server certificate.
_SERVER_DAYS: Final = 397
_RENEW_BEFORE: Final = dt.timedelta(days=30)

Name = x509.DNSName | x509.IPAddress


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where the CA certificate (for clients) and the server certificate and key (for the server) are."""

    ca_cert: Path
    cert: Path
    key: Path


def tls_dir(data_dir: Path) -> Path:
    """The directory holding the local CA and the server certificate."""
    return data_dir / "tls"


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _general_name(name: str) -> Name:
    try:
        return x509.IPAddress(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return x509.DNSName(name.lower())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = directory / "ca.crt.pem", directory / "ca.key.pem"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey) and cert.not_valid_after_utc > _now() + _RENEW_BEFORE:
            return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailgraph"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"mailgraph local CA ({os.uname().nodename})"),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(hours=1))
        .not_valid_after(_now() + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_atomic(key_path, _pem_key(key), 0o600)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o600)
    return cert, key


def _covers(cert_path: Path, ca: x509.Certificate, wanted: set[Name]) -> bool:
    """Whether the existing server certificate is ours, current and names every wanted host."""
    if not cert_path.exists():
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if cert.issuer != ca.subject or cert.not_valid_after_utc <= _now() + _RENEW_BEFORE:
        return False
    try:
        sans = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return False
    return wanted <= sans


def _issue_server(
    directory: Path, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, names: list[Name]
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    first = next((n.value for n in names if isinstance(n, x509.DNSName)), "localhost")
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(first))]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(hours=1))
        .not_valid_after(_now() + dt.timedelta(days=_SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    # Key first, then certificate: a reader that sees the new certificate also finds its key.
    write_atomic(directory / "server.key.pem", _pem_key(key), 0o600)
    write_atomic(directory / "server.crt.pem", cert.public_bytes(serialization.Encoding.PEM), 0o600)


def ensure_server_cert(data_dir: Path, names: Iterable[str] = ()) -> TlsFiles:
    """Create (or reuse) the local CA and a server certificate covering the default names and `names`.

    Args:
        data_dir: The data directory; files go to its `tls/` subdirectory (mode 0700).
        names: Extra host names or IP addresses (e.g. `--tls-name mail.example.test`).

    Returns:
        The paths of the CA certificate, the server certificate and its key.
    """
    directory = tls_dir(data_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca, ca_key = _load_ca(directory)
    ordered: list[Name] = []
    for name in (*DEFAULT_NAMES, *names):
        general = _general_name(name)
        if general not in ordered:
            ordered.append(general)
    cert_path = directory / "server.crt.pem"
    if not _covers(cert_path, ca, set(ordered)):
        _issue_server(directory, ca, ca_key, ordered)
    return TlsFiles(directory / "ca.crt.pem", cert_path, directory / "server.key.pem")


def server_context(
    data_dir: Path, names: Iterable[str] = (), *, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2+) with the data dir's certificate, or `cert`/`key` if given."""
    if cert is None or key is None:
        files = ensure_server_cert(data_dir, names)
        cert, key = files.cert, files.key
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def client_settings(ca_cert: Path) -> list[str]:
    """The lines telling a user how to make each client library trust `ca_cert`."""
    ca = str(ca_cert.resolve())
    return [
        f"  CA certificate: {ca}",
        "  Trust it in your client:",
        f"    curl --cacert {ca} …     export REQUESTS_CA_BUNDLE={ca}  SSL_CERT_FILE={ca}",
        f'    msal.ConfidentialClientApplication(…, verify="{ca}", instance_discovery=False)',
        f'    azure.identity.ClientSecretCredential(…, connection_verify="{ca}", disable_instance_discovery=True)',
        f"    node: export NODE_EXTRA_CA_CERTS={ca}",
    ]
