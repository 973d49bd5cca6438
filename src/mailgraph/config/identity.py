"""The tenant file's identity sections: app certificates, application access policies, mailbox permissions.

```toml
[[apps]]
clientId = "daemon"
certificates = ["certs/daemon.crt.pem"]        # PEM text, or a path relative to the tenant file
accessPolicy = { accessRight = "RestrictAccess", mailboxes = ["alice@contoso.com"] }  # or DenyAccess

[[mailboxPermissions]]
mailbox = "shared@contoso.com"
delegate = "alice@contoso.com"
rights = ["FullAccess", "SendAs"]               # FullAccess, SendAs, SendOnBehalf
```

Problems are appended to the caller's list (the tenant file reports every problem at once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from mailgraph.domain.delegation import PermissionSpec, PolicySpec


def certificate(text: str) -> tuple[str, str]:
    """`(SHA-256 thumbprint hex, normalised PEM)` of a PEM certificate; ValueError if it is not one."""
    cert = x509.load_pem_x509_certificate(text.encode("ascii"))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return cert.fingerprint(hashes.SHA256()).hex(), pem


def app_certificates(
    raw: dict[str, Any], where: str, base: Path, problems: list[str]
) -> tuple[tuple[str, str], ...]:
    """An app table's `certificates`: each PEM text or file, parsed and named by thumbprint."""
    value = raw.get("certificates", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}.certificates must be a list of PEM texts or file paths")
        return ()
    out: list[tuple[str, str]] = []
    for i, item in enumerate(value):
        try:
            text = item if "-----BEGIN" in item else (base / item).read_text(encoding="ascii")
            out.append(certificate(text))
        except (OSError, ValueError) as exc:
            problems.append(f"{where}.certificates[{i}]: not a readable PEM certificate ({exc})")
    return tuple(out)


def access_policy(
    raw: dict[str, Any], client_id: str | None, where: str, problems: list[str]
) -> PolicySpec | None:
    """An app table's `accessPolicy` (spec §4.5)."""
    value = raw.get("accessPolicy")
    if value is None or client_id is None:
        return None
    right = value.get("accessRight") if isinstance(value, dict) else None
    mailboxes = value.get("mailboxes") if isinstance(value, dict) else None
    if right not in ("RestrictAccess", "DenyAccess"):
        problems.append(f"{where}.accessPolicy.accessRight must be RestrictAccess or DenyAccess")
        return None
    if not isinstance(mailboxes, list) or not mailboxes or not all(isinstance(m, str) for m in mailboxes):
        problems.append(f"{where}.accessPolicy.mailboxes must be a non-empty list of addresses")
        return None
    return PolicySpec(client_id, right, tuple(mailboxes))


def mailbox_permissions(data: dict[str, Any], problems: list[str]) -> tuple[PermissionSpec, ...]:
    """The `[[mailboxPermissions]]` tables."""
    out: list[PermissionSpec] = []
    value = data.get("mailboxPermissions", [])
    if not isinstance(value, list):
        problems.append("mailboxPermissions must be an array of tables")
        return ()
    for i, raw in enumerate(value):
        where = f"mailboxPermissions[{i}]"
        if not isinstance(raw, dict):
            problems.append(f"{where} must be a table")
            continue
        mailbox, delegate, rights = raw.get("mailbox"), raw.get("delegate"), raw.get("rights")
        if not isinstance(mailbox, str) or not isinstance(delegate, str):
            problems.append(f"{where} needs mailbox and delegate (addresses)")
            continue
        if not isinstance(rights, list) or not rights or not all(isinstance(r, str) for r in rights):
            problems.append(f"{where}.rights must list FullAccess, SendAs and/or SendOnBehalf")
            continue
        out.append(PermissionSpec(mailbox, delegate, tuple(rights)))
    return tuple(out)
