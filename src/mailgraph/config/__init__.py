"""Settings, declared once with type, default and help; and the declarative tenant file (TOML).

Loading the tenant file reports every problem at once (docs/architecture.md), with its key path.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from mailgraph.config import identity as identity_config
from mailgraph.delivery.policy import DEFAULT_BACKOFF_S, DEFAULT_EXPIRY_S, DEFAULT_LEASE_S
from mailgraph.domain import spoofing
from mailgraph.domain.delegation import PolicySpec
from mailgraph.domain.directory import AppSpec, TenantSpec, UserSpec
from mailgraph.domain.model import UserProfile


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything `mailgraph serve` can be told (listed by `mailgraph serve --help`, docs/operations.md)."""

    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on"})
    port: int = field(default=5000, metadata={"help": "HTTP port"})
    data_dir: Path = field(default=Path("mailgraph-data"), metadata={"help": "database, keys and state"})
    database: str | None = field(
        default=None,
        metadata={
            "help": "database URL, sqlite:///abs/path.db (env MAILGRAPH_DATABASE); unset: in the data dir"
        },
    )
    blobs: Literal["auto", "db", "dir"] = field(
        default="auto",
        metadata={
            "help": "where attachment bytes live: db (PostgreSQL only), dir (the data dir), auto: db on"
            " PostgreSQL, dir on SQLite (env MAILGRAPH_BLOBS)"
        },
    )
    tenant_file: Path | None = field(
        default=None, metadata={"help": "declarative tenant (TOML) loaded at start"}
    )
    durability: Literal["full", "normal"] = field(
        default="full",
        metadata={"help": "full: fsync every commit (survives power loss); normal: survives a crash only"},
    )
    token_lifetime_s: int = field(default=3600, metadata={"help": "access token lifetime in seconds"})
    # TLS (issue 3): https beside or instead of http; certificates from the data dir's local CA.
    http: bool = field(default=True, metadata={"help": "serve plain http on --port"})
    tls: bool = field(default=False, metadata={"help": "serve https on --tls-port"})
    tls_port: int = field(default=5443, metadata={"help": "HTTPS port"})
    tls_names: tuple[str, ...] = field(
        default=(), metadata={"help": "extra host names/IPs for the generated server certificate"}
    )
    tls_cert: Path | None = field(default=None, metadata={"help": "your own server certificate (PEM)"})
    tls_key: Path | None = field(default=None, metadata={"help": "the private key of --tls-cert (PEM)"})
    # Outbound delivery (issue 5, docs/delivery.md).
    relay: str | None = field(
        default=None,
        metadata={"help": "smart host URL (smtp://, smtp+starttls://, smtps://); unset: capture mode"},
    )
    worker: bool = field(default=True, metadata={"help": "run the delivery worker inside serve"})
    worker_concurrency: int = field(default=8, metadata={"help": "SMTP transactions in flight"})
    queue_poll_s: float = field(default=1.0, metadata={"help": "seconds between looks for due retries"})
    queue_expiry_s: float = field(
        default=DEFAULT_EXPIRY_S, metadata={"help": "seconds an external recipient may stay undelivered"}
    )
    queue_lease_s: float = field(
        default=DEFAULT_LEASE_S, metadata={"help": "seconds a worker's claim on an entry holds"}
    )
    retry_schedule: tuple[float, ...] = field(
        default=DEFAULT_BACKOFF_S, metadata={"help": "seconds between retries, the last one repeating"}
    )
    admin_token: str | None = field(
        default=None, metadata={"help": "bearer secret of /admin (default: generated in the data dir)"}
    )
    # Inbound SMTP (issue 5, docs/smtp.md): off unless a port is given.
    smtp_port: int | None = field(
        default=None, metadata={"help": "SMTP port (STARTTLS, AUTH after TLS); unset: no SMTP listener"}
    )
    smtps_port: int | None = field(default=None, metadata={"help": "implicit-TLS SMTP submission port"})
    smtp_max_size: int = field(
        default=35 * 1024 * 1024, metadata={"help": "largest message accepted over SMTP, in bytes"}
    )
    # SMTP client submission (issue 16, docs/smtp-submission.md): off unless a port is given.
    submission_port: int | None = field(
        default=None,
        metadata={"help": "SMTP submission port (STARTTLS, AUTH XOAUTH2/LOGIN/PLAIN); unset: off"},
    )
    submission_tls_port: int | None = field(
        default=None, metadata={"help": "implicit-TLS SMTP submission port (465); unset: off"}
    )
    submission_allow_plaintext: bool = field(
        default=False,
        metadata={"help": "offer AUTH on the submission port before STARTTLS (local tests only)"},
    )
    # External identity provider (issue 3, docs/identity.md): its tokens accepted beside ours.
    idp_issuer: str | None = field(default=None, metadata={"help": "external token issuer (`iss`)"})
    idp_jwks_url: str | None = field(default=None, metadata={"help": "the external issuer's JWKS URL"})
    idp_audiences: tuple[str, ...] = field(
        default=("https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"),
        metadata={"help": "`aud` values accepted in external tokens"},
    )
    idp_user_claim: str = field(
        default="preferred_username", metadata={"help": "external claim naming the user (UPN or address)"}
    )
    log_level: str = field(default="info", metadata={"help": "debug, info, warning or error"})
    log_format: Literal["text", "json"] = field(
        default="text",
        metadata={"help": "text, or json: one JSON object per log line (env MAILGRAPH_LOG_FORMAT)"},
    )
    access_log: bool = field(
        default=False, metadata={"help": "log every HTTP request (env MAILGRAPH_ACCESS_LOG=1)"}
    )
    # Several server processes on one port and one database (issue 11, cli/processes.py).
    processes: int = field(
        default=1, metadata={"help": "server processes on the same port(s) and database (alias --workers)"}
    )
    # Change notifications (issue 12, docs/change-tracking.md).
    webhooks_https_only: bool = field(
        default=False, metadata={"help": "accept only https notification URLs (Graph's rule)"}
    )
    webhooks_allow_link_local: bool = field(
        default=False, metadata={"help": "allow notification URLs on link-local/metadata addresses"}
    )
    webhooks_verify: bool = field(default=True, metadata={"help": "verify https certificates of receivers"})
    webhooks_ca_file: Path | None = field(
        default=None, metadata={"help": "CA bundle (PEM) for receivers' https; unset: the system trust store"}
    )
    webhook_retry_schedule: tuple[float, ...] = field(
        default=(10.0, 60.0, 300.0, 600.0),
        metadata={"help": "seconds between notification retries, the last one repeating"},
    )
    webhook_max_age_s: float = field(
        default=4 * 3600.0, metadata={"help": "seconds a notification is retried before it is dropped"}
    )
    webhook_batch: int = field(
        default=1000,
        metadata={
            "help": "notifications per POST at most (one URL and tenant per POST; Graph sets no limit)"
        },
    )
    webhook_reauth_lead_s: float = field(
        default=600.0, metadata={"help": "seconds before token expiry that reauthorizationRequired is sent"}
    )
    # Per-connection limits (issue 17, docs/limits.md): slow, idle and oversized clients are cut off.
    http_head_timeout_s: float = field(
        default=10.0, metadata={"help": "seconds for a request line and headers to arrive (else 408, close)"}
    )
    http_body_timeout_s: float = field(
        default=60.0, metadata={"help": "seconds for a request body to arrive once its headers are in"}
    )
    http_max_head_bytes: int = field(
        default=64 * 1024, metadata={"help": "largest request line + headers, in bytes (else 431)"}
    )
    # Longer than the idle expiry of the pools Graph clients use (httpx 5 s — the Python SDK —, undici
    # 4 s, aiohttp 15 s), so the client, not the server, closes an idle connection: a server that
    # closes first races the client's reuse of it (docs/reliability.md, the soak's ReadErrors).
    http_keepalive_s: int = field(
        default=30, metadata={"help": "seconds an idle keep-alive connection stays open"}
    )
    http_max_connections: int = field(
        default=1000, metadata={"help": "concurrent HTTP connections and requests before 503"}
    )
    smtp_timeout_s: float = field(
        default=300.0,
        metadata={"help": "seconds an SMTP session may wait for a command line (RFC 5321: 5 min)"},
    )
    smtp_max_sessions: int = field(
        default=500, metadata={"help": "concurrent SMTP sessions per server before 421 4.3.2"}
    )
    # Throttling (issue 13, docs/throttling.md): the server's profile; tenants and mailboxes may differ.
    throttle: str = field(default="off", metadata={"help": "throttling profile: off or exchange-online"})

    @property
    def database_url(self) -> str:
        """`database`, or the SQLite file of the data directory (`sqlite:///<data_dir>/mailgraph.db`)."""
        if self.database:
            return self.database
        return "sqlite://" + str((self.data_dir / "mailgraph.db").resolve())


class TenantFileError(Exception):
    """The tenant file is not valid; `problems` lists every one found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.problems = problems


def _strings(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where} must be a list of strings")
        return ()
    return tuple(value)


def _text(table: dict[str, Any], key: str, where: str, problems: list[str], *, required: bool) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            problems.append(f"{where}.{key} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}.{key} must be a non-empty string")
        return None
    return value.strip()


def _positive(table: dict[str, Any], key: str, default: int, problems: list[str]) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 86_400:
        problems.append(f"tenant.{key} must be a whole number from 1 to 86400")
        return default
    return value


_PROFILE_TEXT = (
    ("givenName", "given_name"),
    ("surname", "surname"),
    ("jobTitle", "job_title"),
    ("mobilePhone", "mobile_phone"),
    ("officeLocation", "office_location"),
    ("preferredLanguage", "preferred_language"),
)


def _profile(raw: dict[str, Any], where: str, problems: list[str]) -> UserProfile:
    """A user's Graph profile fields (`givenName`, `jobTitle`, `businessPhones`, …; docs/identity.md)."""
    values = {attr: _text(raw, key, where, problems, required=False) for key, attr in _PROFILE_TEXT}
    phones = (
        _strings(raw["businessPhones"], f"{where}.businessPhones", problems)
        if "businessPhones" in raw
        else ()
    )
    return UserProfile(business_phones=phones, **values)


def parse_tenant(data: dict[str, Any], source: str) -> TenantSpec:
    """A parsed TOML document → TenantSpec. Raises TenantFileError listing every problem."""
    problems: list[str] = []
    tenant = data.get("tenant", {})
    if not isinstance(tenant, dict):
        raise TenantFileError(source, ["[tenant] must be a table"])
    domains = _strings(tenant.get("domains", []), "tenant.domains", problems)
    if not domains:
        problems.append("tenant.domains must name at least one domain")
    users: list[UserSpec] = []
    for i, raw in enumerate(data.get("users", [])):
        where = f"users[{i}]"
        if not isinstance(raw, dict):
            problems.append(f"{where} must be a table")
            continue
        upn = _text(raw, "userPrincipalName", where, problems, required=True)
        name = _text(raw, "displayName", where, problems, required=False)
        if upn:
            users.append(
                UserSpec(
                    upn,
                    name or upn.split("@")[0],
                    _text(raw, "password", where, problems, required=False),
                    _text(raw, "mail", where, problems, required=False),
                    _text(raw, "id", where, problems, required=False),
                    _profile(raw, where, problems),
                )
            )
    apps: list[AppSpec] = []
    policies: list[PolicySpec] = []
    for i, raw in enumerate(data.get("apps", [])):
        where = f"apps[{i}]"
        if not isinstance(raw, dict):
            problems.append(f"{where} must be a table")
            continue
        client_id = _text(raw, "clientId", where, problems, required=True)
        public = raw.get("allowPublicClientFlows", False)
        if not isinstance(public, bool):
            problems.append(f"{where}.allowPublicClientFlows must be true or false")
        secret = _text(raw, "clientSecret", where, problems, required=False)
        display = _text(raw, "displayName", where, problems, required=False)
        application = _strings(
            raw.get("applicationPermissions", []), f"{where}.applicationPermissions", problems
        )
        delegated = _strings(raw.get("delegatedPermissions", []), f"{where}.delegatedPermissions", problems)
        # Identity (issue 3): certificates for client assertions, application access policies.
        certs = identity_config.app_certificates(raw, where, Path(source).parent, problems)
        if policy := identity_config.access_policy(raw, client_id, where, problems):
            policies.append(policy)
        if client_id:
            apps.append(
                AppSpec(
                    client_id, display or client_id, secret, public is True, application, delegated, certs
                )
            )
    permissions = identity_config.mailbox_permissions(data, problems)
    threshold = _positive(tenant, "lockoutThreshold", 10, problems)
    duration = _positive(tenant, "lockoutDurationSeconds", 60, problems)
    # Exchange Online's `Set-TransportConfig -SmtpClientAuthenticationDisabled`: true (the default)
    # refuses AUTH LOGIN/PLAIN on the submission port; XOAUTH2 works either way (docs/smtp-submission.md).
    smtp_disabled = tenant.get("smtpClientAuthenticationDisabled", True)
    if not isinstance(smtp_disabled, bool):
        problems.append("tenant.smtpClientAuthenticationDisabled must be true or false")
    # Read before the check below, so that a bad id or displayName is reported, not silently dropped.
    tenant_id = _text(tenant, "id", "tenant", problems, required=False)
    tenant_name = _text(tenant, "displayName", "tenant", problems, required=False) or ""
    # Anonymous SMTP mail claiming one of this tenant's domains (issue 17, domain/spoofing.py):
    # "junk" (Exchange Online's spoof handling), "inbox" (rigs that inject mail as a user) or "reject".
    spoofed = tenant.get("spoofedInternalMail", spoofing.DEFAULT_POLICY)
    if spoofed not in spoofing.POLICIES:
        problems.append(f"tenant.spoofedInternalMail must be one of {', '.join(spoofing.POLICIES)}")
    if problems:
        raise TenantFileError(source, problems)
    return TenantSpec(
        lockout_threshold=threshold,
        lockout_duration_s=duration,
        domains=domains,
        id=tenant_id,
        display_name=tenant_name,
        users=tuple(users),
        apps=tuple(apps),
        permissions=permissions,
        policies=tuple(policies),
        smtp_password_auth=smtp_disabled is False,
        spoofed_mail=str(spoofed),
    )


def load_tenant_file(path: Path) -> TenantSpec:
    """Read and validate a tenant file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TenantFileError(str(path), [str(exc)]) from exc
    return parse_tenant(data, str(path))


def demo_tenant() -> TenantSpec:
    """The bundled demo tenant (contoso.com)."""
    text = resources.files("mailgraph").joinpath("demo_tenant.toml").read_text(encoding="utf-8")
    return parse_tenant(tomllib.loads(text), "demo_tenant.toml")
