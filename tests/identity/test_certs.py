"""The built-in local CA and server certificate: created once, reused, reissued for new names, strict-valid."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

from cryptography import x509

from mailgraph.certs import ensure_server_cert, server_context


def _sans(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in ext.get_values_for_type(x509.DNSName)} | {
        str(v) for v in ext.get_values_for_type(x509.IPAddress)
    }


def test_created_once_then_reused(tmp_path: Path) -> None:
    files = ensure_server_cert(tmp_path)
    assert _sans(files.cert) == {"localhost", "127.0.0.1", "::1"}
    assert files.key.stat().st_mode & 0o777 == 0o600
    assert (files.ca_cert.parent / "ca.key.pem").stat().st_mode & 0o777 == 0o600
    before = files.cert.read_bytes(), files.ca_cert.read_bytes()
    again = ensure_server_cert(tmp_path, ["localhost"])  # nothing new asked: same files
    assert (again.cert.read_bytes(), again.ca_cert.read_bytes()) == before


def test_new_name_reissues_under_the_same_ca(tmp_path: Path) -> None:
    first = ensure_server_cert(tmp_path)
    ca = first.ca_cert.read_bytes()
    cert = first.cert.read_bytes()
    files = ensure_server_cert(tmp_path, ["Mail.Example.Test", "10.1.2.3", "[fd00::1]"])
    assert files.ca_cert.read_bytes() == ca
    assert files.cert.read_bytes() != cert
    assert {"mail.example.test", "10.1.2.3", "fd00::1", "localhost"} <= _sans(files.cert)


def _handshake(context: ssl.SSLContext, client: ssl.SSLContext, server_name: str) -> str:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")
        except (OSError, ssl.SSLError) as exc:  # the client's refusal shows up here too
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
            client.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            return tls.recv(2).decode()
    finally:
        thread.join(30)
        listener.close()


def test_server_context_passes_strict_verification(tmp_path: Path) -> None:
    files = ensure_server_cert(tmp_path, ["mail.example.test"])
    client = ssl.create_default_context(cafile=files.ca_cert)
    client.verify_flags |= ssl.VERIFY_X509_STRICT  # what Python 3.13+ turns on by default
    context = server_context(tmp_path, ["mail.example.test"])
    for name in ("localhost", "127.0.0.1", "mail.example.test"):
        assert _handshake(context, client, name) == "ok"
    refused = ssl.create_default_context(cafile=files.ca_cert)
    try:
        _handshake(context, refused, "other.example.test")
    except ssl.SSLCertVerificationError:
        pass
    else:
        raise AssertionError("a name outside the certificate must be refused")


def test_own_certificate_is_used(tmp_path: Path) -> None:
    own = ensure_server_cert(tmp_path / "elsewhere")
    context = server_context(tmp_path, cert=own.cert, key=own.key)
    client = ssl.create_default_context(cafile=own.ca_cert)
    assert _handshake(context, client, "localhost") == "ok"
    assert not (tmp_path / "tls").exists()  # no local CA made when the user brings a certificate
